//! Arrow pages (contract 0.2.0): a connector's Arrow IPC stream lands as dlt lands the same
//! Arrow table (types, names, values against dlt's output checked in), under incremental
//! cursors, merge, scd2 and contracts.

use serde_json::Value;

use crate::support::{Area, Shown, manifest_dir, shown};

const PROBE: (&str, &[u8]) = ("arrow_probe", sluice_bundled::ARROW_PROBE);

fn pipeline(only: &str, extra: &str) -> String {
    let other = if only == "typed" { "events" } else { "typed" };
    format!(
        "name = \"ap\"\ndataset = \"ds\"\n{extra}\n[connector]\nname = \"arrow_probe\"\n[resources.{other}]\nselected = false\n"
    )
}

fn fixture() -> Value {
    let path = manifest_dir().join("conformance/arrow/typed.expected.json");
    let text = std::fs::read_to_string(&path).expect("the Arrow fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Column names and DuckDB types of `ds.typed`, and its rows as DuckDB's text (UTC).
fn table(area: &Area) -> Shown {
    shown(area, "typed")
}

fn expected(fixture: &Value, disposition: &str) -> Shown {
    let part = &fixture[disposition];
    let ddl = part["ddl"]
        .as_array()
        .expect("ddl")
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap_or_default().to_owned(),
                c[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let rows = part["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    (ddl, rows)
}

#[test]
fn an_arrow_page_loads_as_dlt_loads_the_same_arrow_table() {
    let fixture = fixture();
    for (disposition, extra) in [
        ("append", ""),
        (
            "merge",
            "[resources.typed]\nwrite_disposition = \"merge\"\nprimary_key = [\"Id\"]\n",
        ),
    ] {
        let area = Area::new();
        let toml = pipeline("typed", "")
            .replace("[resources.events]", &format!("{extra}[resources.events]"));
        let summary = area.run(&toml, PROBE).expect("run");
        assert_eq!(summary.tables.get("typed"), Some(&3), "{disposition}");
        let (ddl, rows) = table(&area);
        let (want_ddl, want_rows) = expected(&fixture, disposition);
        assert_eq!(
            ddl, want_ddl,
            "{disposition}: column names and types as dlt's"
        );
        assert_eq!(rows, want_rows, "{disposition}: values as dlt's");
        // no `_dlt_id` / `_dlt_load_id` unless asked, as dlt; the null-typed column never made
        assert!(!ddl.iter().any(|(c, _)| c.starts_with("_dlt") || c == "nul"));
        if disposition == "merge" {
            let nullable = area.count(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ds' \
                 AND table_name = 'typed' AND column_name = 'id' AND is_nullable = 'NO'",
            );
            assert_eq!(nullable, 1, "the primary key is NOT NULL, as dlt's");
            // merging the same page again replaces rows by key
            area.run(&toml, PROBE).expect("second merge");
            assert_eq!(area.count("SELECT count(*) FROM ds.typed"), 3);
        }
    }
}

fn events(from: i64, to: i64, version: i64, extra: &str) -> String {
    format!(
        "{}[config]\nfrom = {from}\nto = {to}\nversion = {version}\npage = 100\n",
        pipeline("events", extra)
    )
}

#[test]
fn incremental_cursors_and_merge_work_on_arrow_pages() {
    let area = Area::new();
    let merge = "[resources.events]\nwrite_disposition = \"merge\"\nprimary_key = [\"id\"]\n";
    let toml = |from, to, version| {
        events(from, to, version, "").replace("[connector]", &format!("{merge}[connector]"))
    };
    let first = area.run(&toml(0, 250, 1), PROBE).expect("first run");
    assert_eq!(first.tables.get("events"), Some(&250));
    // the second run re-reads 200..300: the cursor keeps only rows at or past the last value
    // (the boundary row, already loaded, deduplicated by key) and merge updates by id
    let second = area.run(&toml(200, 300, 2), PROBE).expect("second run");
    assert_eq!(
        second.tables.get("events"),
        Some(&50),
        "only rows past the cursor"
    );
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 300);
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE value LIKE 'v2-%'"),
        50
    );
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE id = 210 AND value = 'v1-210'"),
        1
    );
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE id = 7 AND tags::VARCHAR = '[\"tag1\"]'"),
        1,
        "a list column lands as json"
    );
    let ts = area.count(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ds' AND \
         table_name = 'events' AND column_name = 'updated_at' AND data_type = 'TIMESTAMP WITH TIME ZONE'",
    );
    assert_eq!(ts, 1);
    // the cursor state is committed with the data: a third run of the same range adds nothing
    let third = area.run(&toml(200, 300, 3), PROBE).expect("third run");
    assert_eq!(third.tables.get("events").copied().unwrap_or(0), 0);
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE value LIKE 'v3-%'"),
        0
    );
}

#[test]
fn dlt_columns_on_request_and_scd2_versions_rows_of_arrow_pages() {
    let area = Area::new();
    let ids = "[schema]\narrow_dlt_load_id = true\narrow_dlt_id = true\n";
    area.run(&events(0, 10, 1, ids), PROBE)
        .expect("run with ids");
    assert_eq!(
        area.count(
            "SELECT count(*) FROM ds.events e JOIN ds._dlt_loads l ON l.load_id = e._dlt_load_id"
        ),
        10
    );
    assert_eq!(
        area.count("SELECT count(DISTINCT _dlt_id) FROM ds.events"),
        10
    );

    // scd2 needs a row hash: dlt fails without `add_dlt_id`; Sluice adds it
    let area = Area::new();
    let scd2 = "[resources.events]\nwrite_disposition = \"merge\"\nmerge_strategy = \"scd2\"\n";
    let toml =
        |from, to, v| events(from, to, v, "").replace("[connector]", &format!("{scd2}[connector]"));
    area.run(&toml(0, 5, 1), PROBE).expect("scd2 first");
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE _dlt_valid_to IS NULL"),
        5
    );
    // a run without a cursor window would re-read; this one sends new ids only: the old rows
    // missing from the load are retired, the new ones active
    area.run(&toml(5, 8, 2), PROBE).expect("scd2 second");
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 8);
    assert_eq!(
        area.count("SELECT count(*) FROM ds.events WHERE _dlt_valid_to IS NULL"),
        3
    );
    assert_eq!(
        area.count("SELECT count(DISTINCT _dlt_id) FROM ds.events"),
        8
    );
}

#[test]
fn contracts_hold_for_arrow_pages() {
    let area = Area::new();
    let err = area
        .run(&pipeline("typed", "schema_contract = \"freeze\""), PROBE)
        .expect_err("a frozen contract refuses the new table");
    let msg = err.to_string();
    assert!(msg.contains("typed") && msg.contains("frozen"), "{msg}");
    assert!(
        !area.db().exists()
            || area
                .count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'typed'")
                == 0
    );

    let area = Area::new();
    let summary = area
        .run(
            &pipeline("typed", "schema_contract = \"discard_row\""),
            PROBE,
        )
        .expect("discard_row discards the rows of the new table");
    assert_eq!(summary.discarded.get("typed").map(|d| d.rows), Some(3));
    // a column the table lacks, under `columns = "freeze"`, once the table exists
    let area = Area::new();
    let hint = "[resources.events.columns.id]\ndata_type = \"bigint\"\n";
    area.run(&events(0, 3, 1, hint), PROBE).expect("first");
    let frozen = format!("{hint}[resources.events.schema_contract]\ncolumns = \"freeze\"\n");
    area.run(&events(3, 6, 1, &frozen), PROBE)
        .expect("known columns pass a frozen contract");
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 6);
}

#[test]
fn arrow_pages_load_into_postgres_with_dlt_types() {
    let pg = crate::pg::PgServer::start();
    let area = Area::new();
    let merge = "[resources.typed]\nwrite_disposition = \"merge\"\nprimary_key = [\"Id\"]\n";
    let toml =
        pipeline("typed", "").replace("[resources.events]", &format!("{merge}[resources.events]"));
    for _ in 0..2 {
        let s = area
            .run_to(&toml, PROBE, &pg.url())
            .expect("loads into PostgreSQL");
        assert_eq!(s.tables.get("typed"), Some(&3));
    }
    let types = pg.query(
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'ds' AND table_name = 'typed' ORDER BY ordinal_position",
    );
    for want in [
        "id bigint",
        "small smallint",
        "i32 integer",
        "amount_usd numeric",
        "ts_ns_tz timestamp with time zone",
        "fb bytea",
        "st jsonb",
        "lst jsonb",
    ] {
        assert!(types.iter().any(|t| t == want), "{want} in {types:?}");
    }
    let rows = pg.query(
        "SELECT id, small, amount_usd, ts_ns_tz AT TIME ZONE 'UTC', encode(fb, 'escape'), st::text, lst::text \
         FROM ds.typed ORDER BY id",
    );
    assert_eq!(rows.len(), 3, "merged twice, three rows: {rows:?}");
    assert_eq!(
        rows[0],
        "1|1|1.23|1970-01-01 00:00:00.000001|ab|{\"x\": 1, \"y\": \"a\"}|[1, 2]"
    );
    assert_eq!(
        rows[2],
        "3|3|-9.99|1970-01-01 00:00:00.003|ef|{\"x\": 3, \"y\": \"c\"}|"
    );
}

#[test]
fn arrow_pages_land_in_parquet_files() {
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}", out.display());
    area.run_to(&pipeline("typed", ""), PROBE, &dest)
        .expect("loads into files");
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    let files = format!("read_parquet('{}/ds/typed/*.parquet')", out.display());
    let sql = format!("SELECT count(*), sum(id), max(amount_usd)::VARCHAR, max(st) FROM {files}");
    let (n, sum, max, st): (i64, i64, String, String) = conn
        .query_row(&sql, [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!((n, sum, max.as_str()), (3, 6, "1.23"));
    assert_eq!(st, "{\"x\":3,\"y\":\"c\"}");
}
