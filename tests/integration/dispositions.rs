//! Every write disposition and merge strategy, checked by the tables after a sequence of
//! loads — the same scenarios on DuckDB and on a real PostgreSQL server.

use serde_json::{Value, json};
use sluice_pipeline::RunSummary;

use crate::pg::PgServer;
use crate::support::Area;

enum Db {
    Duck,
    Pg(PgServer),
}

struct Bench {
    area: Area,
    db: Db,
}

impl Bench {
    fn destination(&self) -> String {
        match &self.db {
            Db::Duck => format!("duckdb:{}", self.area.db().display()),
            Db::Pg(pg) => pg.url(),
        }
    }

    /// Load `records` into `table` of pipeline `name` (dataset `ds`) with resource `hints`
    /// (pipeline-file TOML lines of `[resources.<table>]`).
    fn load(&self, name: &str, table: &str, records: Value, hints: &str) -> RunSummary {
        self.load_with(name, table, records, "", hints)
    }

    /// [`Bench::load`] with top-level pipeline-file lines `top`.
    fn load_with(
        &self,
        name: &str,
        table: &str,
        records: Value,
        top: &str,
        hints: &str,
    ) -> RunSummary {
        let n = std::fs::read_dir(self.area.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let file = self.area.path().join(format!("{name}_{n}.json"));
        std::fs::write(&file, records.to_string()).expect("write records");
        let toml = format!(
            "name = \"{name}\"\ndataset = \"ds\"\n{top}\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"{table}\"\n[grants]\nallow_read_files = [{p:?}]\n[resources.{table}]\n{hints}\n",
            p = file.display().to_string(),
        );
        self.area
            .run_to(
                &toml,
                ("files", sluice_bundled::FILES.bytes),
                &self.destination(),
            )
            .unwrap_or_else(|e| panic!("load into `{table}`: {e}"))
    }

    /// Rows of a one-column text query, sorted.
    fn rows(&self, sql: &str) -> Vec<String> {
        let mut out = match &self.db {
            Db::Duck => {
                let conn = self.area.conn();
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Db::Pg(pg) => pg.query(sql),
        };
        out.sort();
        out
    }

    fn count(&self, table: &str) -> usize {
        self.rows(&format!("select cast(count(*) as varchar) from ds.{table}"))[0]
            .parse()
            .expect("count")
    }
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn replace_empties_child_tables(b: &Bench) {
    for strategy in ["truncate-and-insert", "insert-from-staging"] {
        let name = format!("rp_{}", strategy.replace('-', "_"));
        let table = name.clone();
        let hints = "write_disposition = \"replace\"";
        let top = format!("replace_strategy = \"{strategy}\"");
        b.load_with(
            &name,
            &table,
            json!([{"id": 1, "l": [1, 2]}, {"id": 2, "l": [3]}]),
            &top,
            hints,
        );
        assert_eq!(b.count(&table), 2);
        assert_eq!(b.count(&format!("{table}__l")), 3);
        b.load_with(&name, &table, json!([{"id": 3}]), &top, hints);
        assert_eq!(
            b.rows(&format!("select cast(id as varchar) from ds.{table}")),
            v(&["3"])
        );
        assert_eq!(
            b.count(&format!("{table}__l")),
            0,
            "{strategy}: child rows replaced"
        );
    }
}

fn delete_insert_dedups_and_replaces_children(b: &Bench) {
    let h = "write_disposition = \"merge\"\nprimary_key = [\"id\"]";
    b.load(
        "di",
        "di",
        json!([{"id": 1, "v": "a", "l": [1, 2, 3]}, {"id": 2, "v": "b", "l": [9]}]),
        h,
    );
    b.load(
        "di",
        "di",
        json!([{"id": 1, "v": "a2", "l": [7]}, {"id": 1, "v": "a3", "l": [8]}, {"id": 3, "v": "c"}]),
        h,
    );
    // the last record of a key wins; nested rows follow their root through _dlt_root_id
    assert_eq!(
        b.rows("select concat_ws('|', id, v) from ds.di"),
        v(&["1|a3", "2|b", "3|c"])
    );
    assert_eq!(
        b.rows("select cast(value as varchar) from ds.di__l"),
        v(&["8", "9"])
    );
    assert_eq!(
        b.rows("select cast(count(*) as varchar) from ds.di__l c join ds.di r on c._dlt_root_id = r._dlt_id"),
        v(&["2"])
    );
}

fn dedup_sort_picks_the_survivor(b: &Bench) {
    for (dir, want) in [("desc", "1|3|c"), ("asc", "1|1|a")] {
        let name = format!("ds_{dir}");
        let h = format!(
            "write_disposition = \"merge\"\nprimary_key = [\"id\"]\n[resources.{name}.columns.seq]\ndedup_sort = \"{dir}\""
        );
        b.load(
            &name,
            &name,
            json!([{"id": 1, "seq": 1, "v": "a"}, {"id": 1, "seq": 3, "v": "c"}, {"id": 1, "seq": 2, "v": "b"}]),
            &h,
        );
        assert_eq!(
            b.rows(&format!("select concat_ws('|', id, seq, v) from ds.{name}")),
            v(&[want])
        );
    }
}

fn hard_delete_removes_rows(b: &Bench) {
    let h = "write_disposition = \"merge\"\nprimary_key = [\"id\"]\n[resources.hd.columns.deleted]\nhard_delete = true\ndata_type = \"bool\"";
    b.load(
        "hd",
        "hd",
        json!([{"id": 1, "v": "x", "l": [1]}, {"id": 2, "v": "y"}]),
        h,
    );
    b.load(
        "hd",
        "hd",
        json!([{"id": 1, "deleted": true}, {"id": 2, "v": "y2", "deleted": false}, {"id": 3, "v": "n", "deleted": true}]),
        h,
    );
    assert_eq!(
        b.rows("select concat_ws('|', id, v, case when deleted then 'T' else 'F' end) from ds.hd"),
        v(&["2|y2|F"])
    );
    assert_eq!(b.count("hd__l"), 0, "deletes cascade to nested rows");
}

fn merge_key_replaces_partitions(b: &Bench) {
    let h = "write_disposition = \"merge\"\nmerge_key = [\"day\"]";
    b.load(
        "mk",
        "mk",
        json!([{"day": 1, "v": "a"}, {"day": 1, "v": "b"}, {"day": 2, "v": "c"}]),
        h,
    );
    b.load("mk", "mk", json!([{"day": 1, "v": "z"}]), h);
    assert_eq!(
        b.rows("select concat_ws('|', day, v) from ds.mk"),
        v(&["1|z", "2|c"])
    );
}

fn upsert_keeps_key_hash_ids(b: &Bench) {
    let h = "write_disposition = \"merge\"\nmerge_strategy = \"upsert\"\nprimary_key = [\"id\"]";
    b.load(
        "up",
        "up",
        json!([{"id": 1, "v": "a", "l": [1, 2]}, {"id": 2, "v": "b"}]),
        h,
    );
    b.load("up", "up", json!([{"id": 1, "v": "a2", "l": [3]}]), h);
    assert_eq!(
        b.rows("select concat_ws('|', id, v) from ds.up"),
        v(&["1|a2", "2|b"])
    );
    assert_eq!(
        b.rows("select cast(value as varchar) from ds.up__l"),
        v(&["3"])
    );
    // dlt's key hash of {"id":1}, the same in every load
    assert_eq!(
        b.rows("select _dlt_id from ds.up where id = 1"),
        v(&["z5jIxXIbUnmbKw"])
    );
}

fn insert_only_never_updates(b: &Bench) {
    let h =
        "write_disposition = \"merge\"\nmerge_strategy = \"insert-only\"\nprimary_key = [\"id\"]";
    b.load("io", "io", json!([{"id": 1, "v": "a"}]), h);
    b.load(
        "io",
        "io",
        json!([{"id": 1, "v": "b"}, {"id": 2, "v": "c"}, {"id": 2, "v": "d"}]),
        h,
    );
    assert_eq!(
        b.rows("select concat_ws('|', id, v) from ds.io"),
        v(&["1|a", "2|c"])
    );
}

const SCD2: &str = "write_disposition = \"merge\"\nmerge_strategy = \"scd2\"";

fn state_of(b: &Bench, table: &str, cols: &str) -> Vec<String> {
    b.rows(&format!(
        "select concat_ws('|', {cols}, case when _dlt_valid_to is null then 'active' else 'retired' end) from ds.{table}"
    ))
}

fn scd2_retires_and_reinserts(b: &Bench) {
    b.load(
        "sc",
        "sc",
        json!([{"id": 1, "v": "a", "l": [1]}, {"id": 2, "v": "b"}]),
        SCD2,
    );
    b.load(
        "sc",
        "sc",
        json!([{"id": 1, "v": "a2", "l": [1]}, {"id": 3, "v": "c"}]),
        SCD2,
    );
    assert_eq!(
        state_of(b, "sc", "id, v"),
        v(&["1|a2|active", "1|a|retired", "2|b|retired", "3|c|active"])
    );
    // one nested row per root version
    assert_eq!(b.count("sc__l"), 2);
    // the retired version ends exactly when its successor begins
    assert_eq!(
        b.rows("select cast(count(*) as varchar) from ds.sc o join ds.sc n on o.id = n.id and o._dlt_valid_to = n._dlt_valid_from"),
        v(&["1"])
    );
    // id 2 reappears unchanged: a new active version, the retired one stays
    b.load(
        "sc",
        "sc",
        json!([{"id": 1, "v": "a2", "l": [1]}, {"id": 2, "v": "b"}]),
        SCD2,
    );
    assert_eq!(
        state_of(b, "sc", "id, v"),
        v(&[
            "1|a2|active",
            "1|a|retired",
            "2|b|active",
            "2|b|retired",
            "3|c|retired"
        ])
    );
    assert_eq!(b.count("sc__l"), 2);
}

fn scd2_merge_key_scopes_retirement(b: &Bench) {
    let h = format!("{SCD2}\nmerge_key = [\"id\"]");
    b.load(
        "sk",
        "sk",
        json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]),
        &h,
    );
    b.load("sk", "sk", json!([{"id": 1, "v": "a2"}]), &h);
    assert_eq!(
        state_of(b, "sk", "id, v"),
        v(&["1|a2|active", "1|a|retired", "2|b|active"])
    );
}

fn scd2_compound_keys_do_not_collide(b: &Bench) {
    let h = format!("{SCD2}\nmerge_key = [\"doc\", \"rev\"]");
    b.load(
        "cc",
        "cc",
        json!([{"doc": "doc-7", "rev": "12", "v": 1}, {"doc": "doc-71", "rev": "2", "v": 1}]),
        &h,
    );
    b.load(
        "cc",
        "cc",
        json!([{"doc": "doc-7", "rev": "12", "v": 2}]),
        &h,
    );
    assert_eq!(
        state_of(b, "cc", "doc, rev, v"),
        v(&[
            "doc-71|2|1|active",
            "doc-7|12|1|retired",
            "doc-7|12|2|active"
        ])
    );
}

fn scd2_custom_validity_columns(b: &Bench) {
    let h = format!(
        "{SCD2}\nvalidity_column_names = [\"valid_from\", \"valid_until\"]\nactive_record_timestamp = \"9999-12-31T00:00:00+00:00\""
    );
    b.load("cv", "cv", json!([{"id": 1, "v": "a"}]), &h);
    b.load("cv", "cv", json!([{"id": 1, "v": "b"}]), &h);
    // active rows carry the configured timestamp, not NULL
    assert_eq!(
        b.rows("select concat_ws('|', v, case when extract(year from valid_until) = 9999 then 'open' else 'closed' end) from ds.cv"),
        v(&["a|closed", "b|open"])
    );
    assert_eq!(
        b.rows("select cast(count(*) as varchar) from ds.cv o join ds.cv n on o.valid_until = n.valid_from"),
        v(&["1"])
    );
}

fn long_names_are_shortened_to_the_destination_limit(b: &Bench) {
    let long = "a_property_name_that_is_much_longer_than_what_postgres_keeps_in_an_identifier_xyz";
    b.load("ln", "ln", json!([{ long: 1 }]), "");
    let max = match b.db {
        Db::Duck => 65536,
        Db::Pg(_) => 63,
    };
    let want = sluice_schema::normalize_path(long, max);
    assert!(want.len() <= max);
    assert_eq!(
        b.rows(&format!(
            "select column_name from information_schema.columns where table_schema = 'ds' and table_name = 'ln' and column_name = '{want}'"
        )),
        vec![want.clone()]
    );
    if max == 63 {
        assert_ne!(want, long, "dlt's tag shortening applies");
    }
}

fn run_all(b: &Bench) {
    long_names_are_shortened_to_the_destination_limit(b);
    replace_empties_child_tables(b);
    delete_insert_dedups_and_replaces_children(b);
    dedup_sort_picks_the_survivor(b);
    hard_delete_removes_rows(b);
    merge_key_replaces_partitions(b);
    upsert_keeps_key_hash_ids(b);
    insert_only_never_updates(b);
    scd2_retires_and_reinserts(b);
    scd2_merge_key_scopes_retirement(b);
    scd2_compound_keys_do_not_collide(b);
    scd2_custom_validity_columns(b);
    drop_removes_tables_as_a_new_load(b);
}

fn drop_removes_tables_as_a_new_load(b: &Bench) {
    let pipelines = b.area.path().join("pipelines");
    let d = sluice_pipeline::drop_resources(&pipelines, "di", &[]).expect("drop");
    assert_eq!(d.tables, vec!["di".to_owned(), "di__l".to_owned()]);
    assert_eq!(
        b.rows("select cast(count(*) as varchar) from information_schema.tables where table_schema = 'ds' and table_name in ('di', 'di__l')"),
        v(&["0"])
    );
    // other pipelines' tables in the dataset are untouched
    assert_eq!(b.count("mk"), 2);
}

#[test]
fn dispositions_on_duckdb() {
    run_all(&Bench {
        area: Area::new(),
        db: Db::Duck,
    });
}

#[test]
fn dispositions_on_postgres() {
    run_all(&Bench {
        area: Area::new(),
        db: Db::Pg(PgServer::start()),
    });
}

#[test]
fn postgres_errors_never_show_the_password() {
    let area = Area::new();
    let file = area.path().join("t.json");
    std::fs::write(&file, "[{\"id\": 1}]").expect("write");
    let toml = crate::support::files_pipeline("pw", &file, "t");
    let err = area
        .run_to(
            &toml,
            ("files", sluice_bundled::FILES.bytes),
            "postgres://loader:hunter2@127.0.0.1:1/warehouse",
        )
        .expect_err("nothing listens on port 1");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        msg.contains("postgres://loader@127.0.0.1:1/warehouse"),
        "{msg}"
    );
}
