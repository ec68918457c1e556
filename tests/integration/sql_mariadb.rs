//! MariaDB as a source: the bundled `sql_database` connector reads a real MariaDB server
//! (started by the test) through the host's `sql` interface. Types and values are compared
//! with dlt's `sql_database` output (pymysql, pyarrow backend) for the same table, checked in;
//! incremental cursors, the password secret, pipeline queries, the statement timeout and a
//! hostile connector are checked against the server as for PostgreSQL.

use serde_json::Value;

use crate::mariadb::MariaDb;
use crate::sql_sources::{
    SQL, merge_every_type_into, pipeline, postgres_types_as_dlts, probe_the_grant, strings,
};
use crate::support::{Area, manifest_dir, shown};

fn types_sql() -> String {
    std::fs::read_to_string(manifest_dir().join("conformance/sql/mariadb_types.sql"))
        .expect("the type table's SQL")
}

fn fixture() -> Value {
    let path = manifest_dir().join("conformance/sql/mariadb_types.expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the SQL fixture"))
        .expect("fixture JSON")
}

/// Columns where Sluice deliberately differs from dlt (README, "Differences from dlt").
const DIFFERENT: [&str; 2] = ["f64", "s"];

#[test]
fn a_mariadb_table_of_every_type_loads_as_dlt_loads_it() {
    let db = MariaDb::start();
    db.query(&types_sql());
    let area = Area::new();
    let toml = pipeline(
        &db.url(),
        "",
        "tables = [\"every_type\", \"unsigned_ints\"]",
    );
    let summary = area.run(&toml, SQL).expect("run");
    assert_eq!(summary.tables.get("every_type"), Some(&3));
    let fixture = fixture();
    let want = &fixture["every_type"];
    let (ddl, rows) = shown(&area, "every_type");
    let names: Vec<&str> = ddl.iter().map(|(n, _)| n.as_str()).collect();
    let want_ddl = want["ddl"].as_array().expect("ddl");
    assert_eq!(ddl.len(), want_ddl.len(), "{names:?}");
    for ((name, ty), w) in ddl.iter().zip(want_ddl) {
        assert_eq!(Some(name.as_str()), w[0].as_str(), "column order as dlt's");
        if !DIFFERENT.contains(&name.as_str()) {
            assert_eq!(
                Some(ty.as_str()),
                w[1].as_str(),
                "type of `{name}` as dlt's"
            );
        }
    }
    let keep = |rows: Vec<Vec<Option<String>>>| -> Vec<Vec<Option<String>>> {
        rows.into_iter()
            .map(|r| {
                r.into_iter()
                    .zip(&names)
                    .filter(|(_, n)| !DIFFERENT.contains(n))
                    .map(|(v, _)| v)
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        keep(rows.clone()),
        keep(strings(&want["rows"])),
        "values as dlt's"
    );
    // the differences: a DOUBLE stays a double (dlt loads the text of a Python Decimal); a
    // SET keeps MySQL's text (dlt writes the JSON list of a Python set, in hash order)
    let col = |name: &str| names.iter().position(|n| *n == name).expect("column");
    assert_eq!(ddl[col("f64")].1, "DOUBLE");
    let f64s: Vec<Option<String>> = rows.iter().map(|r| r[col("f64")].clone()).collect();
    assert_eq!(f64s, vec![Some("2.25".into()), Some("1e+300".into()), None]);
    let sets: Vec<Option<String>> = rows.iter().map(|r| r[col("s")].clone()).collect();
    assert_eq!(sets, vec![Some("a,c".into()), Some(String::new()), None]);
    // dlt fails on an unsigned bigint above 2^63 - 1; Sluice loads it as decimal(20,0)
    assert!(
        fixture["unsigned_ints"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("OverflowError"))
    );
    let (ddl, rows) = shown(&area, "unsigned_ints");
    assert_eq!(ddl[1], ("u64".to_owned(), "DECIMAL(20,0)".to_owned()));
    let u: Vec<Option<String>> = rows.into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        u,
        vec![Some("18446744073709551615".into()), Some("0".into()), None]
    );
}

#[test]
fn a_mariadb_table_loads_into_postgres_with_its_types() {
    let db = MariaDb::start();
    db.query(&types_sql());
    let pg = crate::pg::PgServer::start();
    let area = Area::new();
    let types = merge_every_type_into(&area, &db.url(), &pg);
    let dlt_failed = postgres_types_as_dlts(&db.url(), &pg, &fixture(), &DIFFERENT);
    assert!(dlt_failed.contains("invalid UTF-8"), "{dlt_failed}");
    for want in [
        "i8 smallint",
        "i16 smallint",
        "i32 integer",
        "i64 bigint",
        "num numeric",
        "f64 double precision",
        "dt timestamp without time zone",
        "t time without time zone",
        "bin bytea",
        "vc character varying",
    ] {
        assert!(types.iter().any(|t| t == want), "{want} in {types:?}");
    }
    let rows = pg.query(
        "SELECT id, big::text, frac::text, encode(bin, 'hex'), dt::text, t::text \
         FROM ds.every_type ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            "1|12345678901234567890123456789012345678|0.0000000001|00ff10|2024-02-29 13:45:59.123456|13:45:59.123456",
            "2|-99999999999999999999999999999999999999|1234567890.0123456789||1970-01-01 00:00:00|00:00:00",
            "3|||||",
        ],
        "merged twice, each value as the source holds it"
    );
}

/// An `events` table with a `DATETIME(6)` cursor, and `n` rows a minute apart.
fn events(db: &MariaDb, n: i64) {
    db.query(&format!(
        "CREATE TABLE events (id bigint PRIMARY KEY, v text, updated_at datetime(6) NOT NULL); \
         INSERT INTO events SELECT seq, concat('v', seq), '2024-01-01' + INTERVAL seq MINUTE \
         FROM seq_1_to_{n}"
    ));
}

#[test]
fn incremental_reads_of_mariadb_ask_only_for_rows_past_the_cursor() {
    let db = MariaDb::start();
    events(&db, 10);
    let area = Area::new();
    let config = "chunk_size = 3\n[config.table_config.events]\nwrite_disposition = \"merge\"\n\
                  incremental = { cursor = \"updated_at\" }";
    let toml = pipeline(&db.url(), "", config);
    let s = area.run(&toml, SQL).expect("first run");
    assert_eq!(s.tables.get("events"), Some(&10));
    db.query(
        "UPDATE events SET v = 'quiet' WHERE id = 1; \
         UPDATE events SET v = 'moved', updated_at = '2025-01-01 00:00:00.5' WHERE id = 2; \
         INSERT INTO events VALUES (11, 'new', '2025-01-02')",
    );
    let s = area.run(&toml, SQL).expect("second run");
    assert_eq!(
        s.tables.get("events"),
        Some(&2),
        "the two rows past the cursor (the boundary row read again is dropped by the host)"
    );
    let conn = area.conn();
    let v = |id: i64| -> String {
        conn.query_row("SELECT v FROM ds.events WHERE id = ?", [id], |r| r.get(0))
            .expect("row")
    };
    assert_eq!(
        (v(1), v(2), v(11)),
        ("v1".into(), "moved".into(), "new".into())
    );
    assert_eq!(area.count("SELECT count(*) FROM ds.events"), 11);
}

#[test]
fn a_mariadb_grant_holds_the_password_queries_and_timeout() {
    let db = MariaDb::start();
    events(&db, 3);
    db.query(&types_sql());
    db.query(
        "CREATE USER reader@'127.0.0.1' IDENTIFIED BY 'Tr0ub4dor-3'; \
         GRANT SELECT ON src.* TO reader@'127.0.0.1'",
    );
    let area = Area::new();
    let url = format!("mysql://reader@127.0.0.1:{}/src", db.port);
    let toml = |value: &str, grant: &str, config: &str| {
        pipeline(&url, &format!("password = \"pw\"\n{grant}"), config)
            + &format!("[secrets.pw]\nvalue = \"{value}\"\n")
    };
    // only `events` granted: asking for everything reads it alone
    let s = area
        .run(
            &toml("Tr0ub4dor-3", "tables = [\"even*\"]", "tables = [\"*\"]"),
            SQL,
        )
        .expect("the right password");
    assert_eq!(s.tables.keys().collect::<Vec<_>>(), vec!["events"]);
    let err = area
        .run(&toml("wrong-horse", "", "tables = [\"events\"]"), SQL)
        .expect_err("a wrong password")
        .to_string();
    assert!(
        err.contains("database `src`") && err.contains("Access denied"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-horse") && !err.contains("Tr0ub4dor"),
        "{err}"
    );
    let inline = pipeline(
        &format!("mysql://reader:Tr0ub4dor-3@127.0.0.1:{}/src", db.port),
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
    // the pipeline author's query, read as a table of schema `query`
    let s = area
        .run(
            &toml(
                "Tr0ub4dor-3",
                "tables = [\"events\"]\n[grants.databases.src.queries]\nrecent = \"SELECT id, v FROM events WHERE id > 1\"",
                "tables = [\"recent\"]",
            ),
            SQL,
        )
        .expect("a query of the pipeline");
    assert_eq!(s.tables.get("recent"), Some(&2));
    let err = area
        .run(
            &toml(
                "Tr0ub4dor-3",
                "statement_timeout_secs = 1\n[grants.databases.src.queries]\nslow = \"SELECT 1 AS id, SLEEP(5) AS z\"",
                "tables = [\"slow\"]",
            ),
            SQL,
        )
        .expect_err("timeout")
        .to_string();
    assert!(
        err.contains("database `src`") && err.contains("statement timeout"),
        "{err}"
    );
}

#[test]
fn a_hostile_connector_reads_nothing_of_mariadb_it_was_not_granted() {
    let db = MariaDb::start();
    events(&db, 3);
    db.query(&types_sql());
    let area = Area::new();
    let seen = probe_the_grant(
        &area,
        &db.url(),
        &[
            (
                "schema = \"mysql\"\ntable = \"user\"",
                "table `mysql.user` is not granted",
            ),
            (
                "table = \"every_type\"",
                "table `src.every_type` is not granted",
            ),
            (
                "table = \"events\"\ncolumns = [\"id` FROM mysql.user -- \"]",
                "no column `id` FROM mysql.user -- `",
            ),
            (
                "table = \"events\"\norder_by = [\"LOAD_FILE('/etc/passwd')\"]",
                "no column `LOAD_FILE",
            ),
        ],
    );
    assert_eq!(db.query("SELECT count(*) FROM events"), vec!["3"]);
    assert_eq!(seen, "src.events");
}

#[test]
fn init_pipeline_reflects_a_mariadb_database() {
    let db = MariaDb::start();
    events(&db, 5);
    db.query(&types_sql());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let made = rt
        .block_on(sluice_pipeline::sql_pipeline("shop", &db.url(), None))
        .expect("reflects");
    let toml = made.toml;
    for want in [
        "tables = [\"events\", \"every_type\", \"unsigned_ints\"]",
        "[config.table_config.events]\nwrite_disposition = \"merge\"",
        "env = \"MYSQL_PWD\"",
        "password = \"shop_password\"",
    ] {
        assert!(toml.contains(want), "`{want}` in:\n{toml}");
    }
    let err = rt
        .block_on(sluice_pipeline::sql_pipeline(
            "shop",
            &format!("mysql://root@127.0.0.1:{}", db.port),
            None,
        ))
        .expect_err("no database");
    assert!(err.to_string().contains("name the database"), "{err}");
    let area = Area::new();
    let mut spec = sluice_pipeline::PipelineSpec::from_toml(&toml, &[], area.path())
        .expect("the written file parses");
    if let Some(s) = spec.secrets.get_mut("shop_password") {
        s.env = None;
        s.value = Some(String::new());
    }
    spec.destination = format!("duckdb:{}", area.db().display());
    let summary = area.run_parsed(spec, SQL).expect("runs");
    assert_eq!(summary.tables.get("events"), Some(&5));
    assert_eq!(summary.tables.get("every_type"), Some(&3));
}
