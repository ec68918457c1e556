//! SQL databases as sources: the bundled `sql_database` connector reads tables of a granted
//! PostgreSQL database or SQLite file through the host's `sql` interface. Types and values
//! are compared with dlt's `sql_database` output for the same table (checked in), and the
//! grant holds: only granted tables, the password from a host-held secret, errors that name
//! the grant and never the password.

use serde_json::Value;

use crate::pg::PgServer;
use crate::support::{Area, manifest_dir, shown};

pub(crate) const SQL: (&str, &[u8]) = ("sql_database", sluice_bundled::SQL_DATABASE.bytes);

fn types_sql() -> String {
    std::fs::read_to_string(manifest_dir().join("conformance/sql/postgres_types.sql"))
        .expect("the type table's SQL")
}

fn fixture() -> Value {
    let path = manifest_dir().join("conformance/sql/postgres_types.expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the SQL fixture"))
        .expect("fixture JSON")
}

/// A pipeline reading grant `src` at `url` with connector config `config` (TOML lines).
pub(crate) fn pipeline(url: &str, grant_extra: &str, config: &str) -> String {
    format!(
        "name = \"sq\"\ndataset = \"ds\"\n[connector]\nname = \"sql_database\"\n\
         [config]\ndatabase = \"src\"\n{config}\n\
         [grants.databases.src]\nurl = \"{url}\"\n{grant_extra}\n"
    )
}

pub(crate) fn strings(v: &Value) -> Vec<Vec<Option<String>>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn a_postgres_table_of_every_type_loads_as_dlt_loads_it() {
    let pg = PgServer::start();
    pg.query(&types_sql());
    let area = Area::new();
    let toml = pipeline(&pg.url(), "", "tables = [\"every_type\", \"intervals\"]");
    let summary = area.run(&toml, SQL).expect("run");
    assert_eq!(summary.tables.get("every_type"), Some(&3));
    let fixture = fixture();
    let want = &fixture["every_type"];
    let (ddl, rows) = shown(&area, "every_type");
    let want_ddl: Vec<(String, String)> = want["ddl"]
        .as_array()
        .expect("ddl")
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap_or_default().into(),
                c[1].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(ddl, want_ddl, "column names and types as dlt's");
    assert_eq!(rows, strings(&want["rows"]), "values as dlt's");
    // dlt fails on intervals; Sluice loads them as ISO 8601 durations
    assert!(
        fixture["intervals"]["error"].is_string(),
        "dlt's failure is recorded"
    );
    let (ddl, rows) = shown(&area, "intervals");
    assert_eq!(ddl[1], ("iv".to_owned(), "VARCHAR".to_owned()));
    let iv: Vec<Option<String>> = rows.into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        iv,
        vec![Some("P1Y2M3DT4H5M6.5S".into()), Some("P-1D".into()), None]
    );
    // the primary key came from the database: NOT NULL, as dlt makes it
    let not_null = area.count(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ds' \
         AND table_name = 'every_type' AND column_name = 'id' AND is_nullable = 'NO'",
    );
    assert_eq!(not_null, 1);
}

#[test]
fn a_postgres_table_loads_into_postgres_with_its_types() {
    let pg = PgServer::start();
    pg.query(&types_sql());
    let area = Area::new();
    let types = merge_every_type_into(&area, &pg.url(), &pg);
    let dlt_failed = postgres_types_as_dlts(&pg.url(), &pg, &fixture(), &[]);
    assert!(dlt_failed.contains("invalid UTF-8"), "{dlt_failed}");
    for want in [
        "i16 smallint",
        "i32 integer",
        "i64 bigint",
        "num numeric",
        "big numeric",
        "tstz timestamp with time zone",
        "ts timestamp without time zone",
        "bin bytea",
        "jb jsonb",
        "arr jsonb",
    ] {
        assert!(types.iter().any(|t| t == want), "{want} in {types:?}");
    }
    let rows = pg.query(
        "SELECT d.id, d.big = s.big, d.num = s.num, d.frac = s.frac, d.tstz = s.tstz, \
         d.bin = s.bin, d.u = s.u::text, d.jb = s.jb, d.arr = to_jsonb(s.arr) \
         FROM ds.every_type d JOIN public.every_type s USING (id) ORDER BY id",
    );
    assert_eq!(
        rows,
        vec!["1|t|t|t|t|t|t|t|t", "2|t|t|t|t|t|t|t|t", "3||||||||"],
        "merged twice, each value equal to the source's"
    );
}

/// Load table `every_type` of grant URL `src` into `pg` twice (merged, integer widths kept
/// by `full_with_precision`); its columns there as `name type`.
pub(crate) fn merge_every_type_into(area: &Area, src: &str, pg: &PgServer) -> Vec<String> {
    let toml = pipeline(
        src,
        "",
        "tables = [\"every_type\"]\nreflection_level = \"full_with_precision\"\nwrite_disposition = \"merge\"",
    );
    for _ in 0..2 {
        let s = area
            .run_to(&toml, SQL, &pg.url())
            .expect("loads into PostgreSQL");
        assert_eq!(s.tables.get("every_type"), Some(&3));
    }
    pg.query(
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'ds' AND table_name = 'every_type' ORDER BY ordinal_position",
    )
}

/// Load table `every_type` of grant URL `src` into database `dl` of `pg` at dlt's default
/// reflection level, and compare its column types there with dlt's (`fixture`), except the
/// columns `different`. Returns dlt's failure with its default loader format (CSV for Arrow).
pub(crate) fn postgres_types_as_dlts(
    src: &str,
    pg: &PgServer,
    fixture: &Value,
    different: &[&str],
) -> String {
    pg.query("CREATE DATABASE dl");
    let area = Area::new();
    let toml = pipeline(src, "", "tables = [\"every_type\"]");
    area.run_to(&toml, SQL, &pg.url_db("dl"))
        .expect("loads into PostgreSQL");
    let types = pg.query_db(
        "dl",
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'ds' AND table_name = 'every_type' ORDER BY ordinal_position",
    );
    let want = &fixture["every_type_into_postgres"];
    let want_types: Vec<String> = want["ddl"]
        .as_array()
        .expect("ddl")
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c[0].as_str().unwrap_or_default(),
                c[1].as_str().unwrap_or_default()
            )
        })
        .collect();
    let keep = |t: &Vec<String>| -> Vec<String> {
        t.iter()
            .filter(|c| !different.iter().any(|d| c.split(' ').next() == Some(*d)))
            .cloned()
            .collect()
    };
    assert_eq!(
        keep(&types),
        keep(&want_types),
        "column types in PostgreSQL as dlt's"
    );
    want["error"].as_str().unwrap_or_default().to_owned()
}

/// An `events` table with an `updated_at` cursor, and `n` rows.
fn events(pg: &PgServer, n: i64) {
    pg.query(&format!(
        "CREATE TABLE events (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL); \
         INSERT INTO events SELECT g, 'v' || g, timestamptz '2024-01-01' + g * interval '1 minute' \
         FROM generate_series(1, {n}) g"
    ));
}

#[test]
fn incremental_reads_ask_only_for_rows_past_the_cursor() {
    let pg = PgServer::start();
    events(&pg, 10);
    let area = Area::new();
    let config = "chunk_size = 3\n[config.table_config.events]\nwrite_disposition = \"merge\"\n\
                  incremental = { cursor = \"updated_at\" }";
    let toml = pipeline(&pg.url(), "", config);
    let s = area.run(&toml, SQL).expect("first run");
    assert_eq!(
        s.tables.get("events"),
        Some(&10),
        "four chunks of three rows"
    );
    // a row changed without moving its cursor is not read again; a newer one is, once
    pg.query(
        "UPDATE events SET v = 'quiet' WHERE id = 1; \
         UPDATE events SET v = 'moved', updated_at = now() WHERE id = 2; \
         INSERT INTO events VALUES (11, 'new', now())",
    );
    let s = area.run(&toml, SQL).expect("second run");
    assert_eq!(
        s.tables.get("events"),
        Some(&2),
        "the two rows past the cursor; the boundary row, read again, is dropped by the host"
    );
    let conn = area.conn();
    let v = |id: i64| -> String {
        conn.query_row("SELECT v FROM ds.events WHERE id = ?", [id], |r| r.get(0))
            .expect("row")
    };
    assert_eq!(v(1), "v1", "not re-read: its cursor did not move");
    assert_eq!(v(2), "moved");
    assert_eq!(v(11), "new");
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 11);
}

/// A run killed mid-table, right after its first package (200 rows, with the cursor of its
/// last row) committed, resumes from that cursor: the next run reads only the rows after it
/// (and the boundary row, dropped by the host), and every row lands once.
#[test]
fn a_run_killed_mid_table_resumes_from_its_last_committed_package() {
    let pg = PgServer::start();
    events(&pg, 1000);
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    let config = "chunk_size = 100\n[config.table_config.events]\n\
                  incremental = { cursor = \"updated_at\" }";
    let toml = pipeline(&pg.url(), "", config) + "[limits]\npackage_rows = 200\n";
    crate::crash::run_toml_killed(&area, &dest, &toml, "extract.after_checkpoint_package");
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 200);
    let s = area.run_to(&toml, SQL, &dest).expect("resume");
    assert_eq!(
        s.tables.get("events"),
        Some(&800),
        "only the rows past the cursor"
    );
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 1000);
    assert_eq!(area.count("SELECT count(DISTINCT id) FROM ds.events"), 1000);
}

#[test]
fn the_grant_names_what_may_be_read() {
    let pg = PgServer::start();
    pg.query(&types_sql());
    events(&pg, 3);
    let area = Area::new();
    // only `events` is granted: the connector sees nothing else, even asking for everything
    let toml = pipeline(&pg.url(), "tables = [\"even*\"]", "tables = [\"*\"]");
    let s = area.run(&toml, SQL).expect("run");
    assert_eq!(s.tables.keys().collect::<Vec<_>>(), vec!["events"]);
    let toml = pipeline(
        &pg.url(),
        "tables = [\"events\"]",
        "tables = [\"every_type\"]",
    );
    let err = area.run(&toml, SQL).expect_err("not granted").to_string();
    assert!(err.contains("no granted table matches"), "{err}");
    // the pipeline author's own query is read as a table of schema `query`
    let toml = pipeline(
        &pg.url(),
        "tables = [\"events\"]\n[grants.databases.src.queries]\nrecent = \"SELECT id, v FROM events WHERE id > 1\"",
        "tables = [\"recent\"]",
    );
    let s = area.run(&toml, SQL).expect("a query of the pipeline");
    assert_eq!(s.tables.get("recent"), Some(&2));
    // a real schema named `query` would pass for the queries: it cannot be granted
    let toml = pipeline(&pg.url(), "schemas = [\"public\", \"query\"]", "");
    let err = area.run(&toml, SQL).expect_err("schema query").to_string();
    assert!(
        err.contains("schema `query` is where the grant's queries are listed"),
        "{err}"
    );
}

#[test]
fn the_password_comes_from_a_secret_and_never_shows() {
    let pg = PgServer::start();
    events(&pg, 2);
    pg.require_password("reader", "Tr0ub4dor-3");
    let area = Area::new();
    let url = format!("postgres://reader@127.0.0.1:{}/postgres", pg.port);
    let toml = |value: &str| {
        pipeline(&url, "password = \"pw\"", "tables = [\"events\"]")
            + &format!("[secrets.pw]\nvalue = \"{value}\"\n")
    };
    let s = area
        .run(&toml("Tr0ub4dor-3"), SQL)
        .expect("the right password");
    assert_eq!(s.tables.get("events"), Some(&2));
    let err = area
        .run(&toml("wrong-horse"), SQL)
        .expect_err("a wrong password")
        .to_string();
    assert!(err.contains("database `src`"), "{err}");
    assert!(
        !err.contains("wrong-horse") && !err.contains("127.0.0.1"),
        "{err}"
    );
    // a password in the URL, or a secret that could go out over HTTP, is refused
    let inline = pipeline(
        &format!(
            "postgres://reader:Tr0ub4dor-3@127.0.0.1:{}/postgres",
            pg.port
        ),
        "",
        "",
    );
    let err = area
        .run(&inline, SQL)
        .expect_err("password in URL")
        .to_string();
    assert!(
        err.contains("carries a password") && !err.contains("Tr0ub4dor"),
        "{err}"
    );
    let http = toml("Tr0ub4dor-3").replace(
        "[secrets.pw]\n",
        "[secrets.pw]\nhost = \"https://x.example\"\nheader = \"X\"\n",
    );
    let err = area.run(&http, SQL).expect_err("http secret").to_string();
    assert!(err.contains("must not be sendable over HTTP"), "{err}");
}

#[test]
fn a_read_over_the_statement_timeout_fails_naming_the_grant() {
    let pg = PgServer::start();
    let area = Area::new();
    let toml = pipeline(
        &pg.url(),
        "statement_timeout_secs = 1\n[grants.databases.src.queries]\nslow = \"SELECT 1 AS id, pg_sleep(5) AS z\"",
        "tables = [\"slow\"]",
    );
    let err = area.run(&toml, SQL).expect_err("timeout").to_string();
    assert!(
        err.contains("database `src`") && err.contains("statement timeout"),
        "{err}"
    );
}

#[test]
fn a_sqlite_file_loads_read_only() {
    let area = Area::new();
    let file = area.path().join("shop.db");
    {
        let c = rusqlite::Connection::open(&file).expect("sqlite");
        c.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, total DECIMAL(10,2), placed DATETIME, \
             day DATE, note TEXT, paid BOOLEAN, blob BLOB, score REAL, meta JSON); \
             INSERT INTO orders VALUES (1, '12.50', '2024-05-01 10:00:00', '2024-05-01', 'a', 1, x'01ff', 1.5, '{\"k\": [1, 2]}'); \
             INSERT INTO orders VALUES (2, 3, '2024-05-02T11:30:00.25', '2024-05-02', NULL, 0, NULL, NULL, NULL); \
             CREATE TABLE secret_stuff (id INTEGER);",
        )
        .expect("sqlite rows");
    }
    let toml = pipeline("sqlite://shop.db", "tables = [\"orders\"]", "");
    let s = area.run(&toml, SQL).expect("run");
    assert_eq!(s.tables.keys().collect::<Vec<_>>(), vec!["orders"]);
    let (ddl, rows) = shown(&area, "orders");
    let types: Vec<&str> = ddl.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "BIGINT",
            "DECIMAL(10,2)",
            "TIMESTAMP",
            "DATE",
            "VARCHAR",
            "BOOLEAN",
            "BLOB",
            "DOUBLE",
            "JSON"
        ]
    );
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        rows[0],
        vec![
            s("1"),
            s("12.50"),
            s("2024-05-01 10:00:00"),
            s("2024-05-01"),
            s("a"),
            s("true"),
            s("\\x01\\xFF"),
            s("1.5"),
            s("{\"k\":[1,2]}")
        ]
    );
    assert_eq!(rows[1][1], s("3.00"));
    assert_eq!(rows[1][2], s("2024-05-02 11:30:00.25"));
}

const PROBE: (&str, &[u8]) = ("sql_probe", sluice_bundled::SQL_PROBE);

/// A run of the probe's `read` resource with `config` (TOML lines) against grant `src`.
fn probe_read(area: &Area, url: &str, grant_extra: &str, config: &str) -> Result<(), String> {
    let toml = format!(
        "name = \"probe\"\ndataset = \"ds\"\n[connector]\nname = \"sql_probe\"\n[config]\n{config}\n\
         [resources.seen]\nselected = false\n[grants.databases.src]\nurl = \"{url}\"\n{grant_extra}\n"
    );
    area.run(&toml, PROBE)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn a_hostile_connector_reads_nothing_it_was_not_granted() {
    let pg = PgServer::start();
    pg.query(&types_sql());
    events(&pg, 3);
    let area = Area::new();
    let seen = probe_the_grant(
        &area,
        &pg.url(),
        &[
            (
                "schema = \"pg_catalog\"\ntable = \"pg_authid\"",
                "table `pg_catalog.pg_authid` is not granted",
            ),
            (
                "table = \"every_type\"",
                "table `public.every_type` is not granted",
            ),
            (
                "table = \"events\"\ncolumns = [\"id\\\" FROM pg_authid --\"]",
                "no column `id\" FROM pg_authid --`",
            ),
            (
                "table = \"events\"\norder_by = [\"pg_read_file('/etc/passwd')\"]",
                "no column `pg_read_file",
            ),
        ],
    );
    assert_eq!(pg.query("SELECT count(*) FROM events"), vec!["3"]);
    assert_eq!(seen, "public.events");
}

/// Run the hostile probe against grant `src` at `url`, which grants only `events` (rows v1,
/// v2, v3): each of `refused` (probe config after `database = "src"`) fails saying its text,
/// as does a grant the probe was not given; a filter value with quotes is bound as data.
/// Returns what reflection shows (`schema.table`, comma-separated).
pub(crate) fn probe_the_grant(area: &Area, url: &str, refused: &[(&str, &str)]) -> String {
    let only_events = "tables = [\"events\"]";
    let elsewhere = (
        "database = \"elsewhere\"\ntable = \"events\"".to_owned(),
        "no database grant `elsewhere` (granted: src)",
    );
    let cases = refused
        .iter()
        .map(|(c, says)| (format!("database = \"src\"\n{c}"), *says))
        .chain([elsewhere]);
    for (config, says) in cases {
        let err = probe_read(area, url, only_events, &config).expect_err(&config);
        assert!(err.contains(says), "{config}: {err}");
    }
    // a value is bound, never spliced: the table is still there and the filter just compares
    let injection = "database = \"src\"\ntable = \"events\"\n\
                     filter = [{ column = \"v\", op = \"ge\", value = \"v2'; DROP TABLE events; -- \" }]";
    probe_read(area, url, only_events, injection).expect("a filter with quotes in its value");
    assert_eq!(
        area.count("SELECT count(*) FROM ds.read"),
        1,
        "only v3 sorts after it"
    );
    // reflection shows only what the grant names
    let toml = format!(
        "name = \"probe\"\ndataset = \"ds\"\n[connector]\nname = \"sql_probe\"\n\
         [resources.read]\nselected = false\n[grants.databases.src]\nurl = \"{url}\"\n{only_events}\n"
    );
    area.run(&toml, PROBE).expect("reflection");
    area.conn()
        .query_row(
            "SELECT string_agg(schema || '.' || name, ',' ORDER BY 1) FROM ds.seen",
            [],
            |r| r.get(0),
        )
        .expect("seen")
}

#[test]
fn a_source_over_tls_follows_sslmode() {
    let ca = crate::certs::TestCa::new();
    let pg = PgServer::start_tls(&ca);
    events(&pg, 4);
    let area = Area::new();
    let root = ca.ca.display().to_string();
    let other = ca.other_ca.display().to_string();
    let url = |host: &str, query: &str| {
        format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port)
    };
    let toml = |u: String| {
        pipeline(
            &u,
            "",
            "tables = [\"events\"]\nwrite_disposition = \"replace\"",
        )
    };
    let s = area
        .run(
            &toml(url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={root}"),
            )),
            SQL,
        )
        .expect("verify-full against the server's own CA and name");
    assert_eq!(s.tables.get("events"), Some(&4));
    for (u, says) in [
        (url("127.0.0.1", "sslmode=disable"), "no encryption"),
        (
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={other}"),
            ),
            "unknownissuer",
        ),
        (
            url(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={root}"),
            ),
            "not valid for name",
        ),
    ] {
        let err = area.run(&toml(u.clone()), SQL).expect_err(&u).to_string();
        assert!(err.to_lowercase().contains(says), "{u}: {err}");
        assert!(err.contains("database `src`"), "{err}");
    }
}

#[test]
fn init_pipeline_writes_a_file_that_runs() {
    let pg = PgServer::start();
    pg.query(&types_sql());
    events(&pg, 5);
    pg.query("CREATE TABLE \"odd name\" (x int)");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let made = rt
        .block_on(sluice_pipeline::sql_pipeline("shop", &pg.url(), None))
        .expect("reflects");
    let toml = made.toml;
    for want in [
        "tables = [\"events\", \"every_type\", \"intervals\", \"odd name\"]",
        "[config.table_config.events]\nwrite_disposition = \"merge\"",
        "# incremental = { cursor = \"updated_at\" }",
        "[config.table_config.\"odd name\"]\n# no primary key in the database",
        "[secrets.shop_password]",
        "env = \"PGPASSWORD\"",
        "password = \"shop_password\"",
    ] {
        assert!(toml.contains(want), "`{want}` in:\n{toml}");
    }
    assert!(
        !toml.contains("PGPASSWORD\"\nhost"),
        "the secret has no host"
    );
    // the file runs as written (the password as a value here: this server trusts loopback)
    let area = Area::new();
    let mut spec = sluice_pipeline::PipelineSpec::from_toml(&toml, &[], area.path())
        .expect("the written file parses");
    if let Some(s) = spec.secrets.get_mut("shop_password") {
        s.env = None;
        s.value = Some("unused".into());
    }
    spec.destination = format!("duckdb:{}", area.db().display());
    let summary = area.run_parsed(spec, SQL).expect("runs");
    assert_eq!(summary.tables.get("events"), Some(&5));
    assert_eq!(summary.tables.get("every_type"), Some(&3));
}
