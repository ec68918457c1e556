//! File formats through the `files` connector, against dlt's output checked in by
//! `scripts/differential/file_fixtures.py`: CSV and TSV land as dlt's `filesystem` +
//! `read_csv` lands them (the tables of `conformance/csv/`: quoted separators, embedded
//! newlines, empty fields, mixed numbers, dates, a BOM, a semicolon file, Latin-1), Parquet as
//! its `read_parquet(use_pyarrow=True)` does (`conformance/parquet/`, every codec, and inside
//! gzip or zstd), and gzip / zstd files are read by content.

use serde_json::Value;

use crate::support::{Area, Shown, manifest_dir, shown_by};

const FILES: (&str, &[u8]) = ("files", sluice_bundled::FILES.bytes);

/// What Sluice's config says for a file that dlt needed `read_csv` arguments for: the
/// separator is sniffed, the encoding is named.
fn config_for(name: &str) -> &'static str {
    match name {
        "cities_latin1.csv" => "encoding = \"latin1\"\n",
        _ => "",
    }
}

fn pipeline(file: &std::path::Path, table: &str, config: &str) -> String {
    format!(
        "name = \"csv\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"{table}\"\n{config}[grants]\nallow_read_files = [{p:?}]\n",
        p = file.display().to_string(),
    )
}

/// Column names and DuckDB types of `ds.<table>`, and its data columns' rows (ordered by
/// `first`) as DuckDB's text, time zone UTC — what the fixture script records.
fn table(area: &Area, table: &str, first: &str) -> Shown {
    shown_by(area, table, |c| !c.starts_with("_dlt_"), first)
}

fn expected(fixture: &Value) -> Shown {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let ddl = fixture["ddl"]
        .as_array()
        .expect("ddl")
        .iter()
        .map(|c| {
            (
                text(&c[0]).unwrap_or_default(),
                text(&c[1]).unwrap_or_default(),
            )
        })
        .collect();
    let rows = fixture["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(text).collect())
        .collect();
    (ddl, rows)
}

#[test]
fn csv_files_land_as_dlts_read_csv_lands_them() {
    let dir = manifest_dir().join("conformance/csv");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the CSV fixtures") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !(name.ends_with(".csv") || name.ends_with(".tsv")) {
            continue;
        }
        seen += 1;
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.expected.json")))
                .expect("the file's fixture"),
        )
        .expect("fixture JSON");
        let stem = name.split('.').next().unwrap_or_default();
        let area = Area::new();
        area.run(&pipeline(&path, stem, config_for(&name)), FILES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let first = fixture["ddl"][0][0].as_str().unwrap_or("id");
        let (ddl, rows) = table(&area, stem, first);
        let (want_ddl, want_rows) = expected(&fixture);
        assert_eq!(ddl, want_ddl, "{name}: column names and types as dlt's");
        assert_eq!(rows, want_rows, "{name}: values as dlt's");
    }
    assert!(seen >= 4, "the CSV fixtures went missing: {seen}");
}

/// pandas types each chunk of 10,000 rows on its own, and so does Sluice: an integer column
/// with one empty field in its second chunk holds floats there, which dlt loads into the
/// bigint column it made from the first chunk (dlt 1.31 on this file, by hand: `n` BIGINT,
/// one NULL, the same sums).
#[test]
fn each_chunk_of_ten_thousand_rows_is_typed_on_its_own() {
    let area = Area::new();
    let file = area.path().join("long.csv");
    let mut text = String::from("id,n,flag\n");
    for i in 0..25_000 {
        let n = if i == 15_000 {
            String::new()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{i},{n},{}\n", i % 2 == 0));
    }
    std::fs::write(&file, text).expect("write");
    let s = area.run(&pipeline(&file, "long", ""), FILES).expect("run");
    assert_eq!(s.tables["long"], 25_000);
    let (ddl, _) = table(&area, "long", "id");
    assert_eq!(
        ddl[..3],
        [
            ("id".to_owned(), "BIGINT".to_owned()),
            ("n".to_owned(), "BIGINT".to_owned()),
            ("flag".to_owned(), "BOOLEAN".to_owned()),
        ]
    );
    assert_eq!(
        area.count("SELECT count(*) FROM ds.long WHERE n IS NULL"),
        1
    );
    assert_eq!(
        area.count("SELECT sum(n) FROM ds.long WHERE id BETWEEN 10000 AND 19999"),
        (10_000..20_000).sum::<i64>() - 15_000
    );
}

#[test]
fn a_bad_csv_file_fails_naming_file_and_line_and_the_next_run_loads() {
    let area = Area::new();
    let file = area.path().join("bad.csv");
    std::fs::write(&file, "a,b\n1,2\n3,4,5\n").expect("write");
    let toml = pipeline(&file, "t", "");
    let err = area
        .run(&toml, FILES)
        .expect_err("too many fields")
        .to_string();
    assert!(
        err.contains("bad.csv")
            && err.contains("line 3")
            && err.contains("3 fields where the header has 2"),
        "{err}"
    );
    // Latin-1 bytes read as UTF-8: the error says to name the encoding
    std::fs::write(&file, b"a,b\n1,Jos\xe9\n").expect("write");
    let err = area.run(&toml, FILES).expect_err("not UTF-8").to_string();
    assert!(err.contains("line 2") && err.contains("encoding"), "{err}");
    // nothing is left pending: the fixed file loads
    std::fs::write(&file, "a,b\n1,2\n3,4\n").expect("write");
    let s = area.run(&toml, FILES).expect("fixed");
    assert_eq!(s.tables["t"], 2);
}

/// gzip and zstd files are read by their content, whatever their name says: a `.csv.gz`, a
/// `.csv.zst`, gzip bytes under a plain `.csv` name and a gzipped NDJSON file all load the
/// rows of the plain file.
#[test]
fn compressed_files_are_told_by_content_and_read_whole() {
    use std::io::Write;

    let area = Area::new();
    let plain = manifest_dir().join("conformance/csv/people.csv");
    let bytes = std::fs::read(&plain).expect("people.csv");
    let gzip = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    };
    let ndjson = b"{\"id\": 1, \"a\": \"x\"}\n{\"id\": 2, \"a\": \"y\"}\n".to_vec();
    // two gzip members, and two zstd frames, one after the other, as `cat a.gz b.gz` makes
    let two_members = [gzip(&ndjson[..20]), gzip(&ndjson[20..])].concat();
    let zstd = |data: &[u8]| zstd::encode_all(data, 3).expect("zstd");
    let two_frames = [zstd(&ndjson[..20]), zstd(&ndjson[20..])].concat();
    let cases: [(&str, Vec<u8>, u64); 7] = [
        ("people.csv.gz", gzip(&bytes), 4),
        (
            "people.csv.zst",
            zstd::encode_all(&bytes[..], 3).expect("zstd"),
            4,
        ),
        ("plain/people.csv", gzip(&bytes), 4),
        ("events.ndjson.gz", gzip(&ndjson), 2),
        ("members.ndjson.gz", two_members, 2),
        ("frames.ndjson.zst", two_frames, 2),
        (
            "array.json.gz",
            gzip(br#"[{"id": 1}, {"id": 2}, {"id": 3}]"#),
            3,
        ),
    ];
    for (name, data, rows) in cases {
        let file = area.path().join(name);
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&file, data).expect("write");
        let table = name
            .rsplit('/')
            .next()
            .and_then(|n| n.split('.').next())
            .unwrap_or_default();
        let s = area
            .run(&pipeline(&file, table, ""), FILES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.tables[table], rows, "{name}");
    }
    let (ddl, rows) = table(&area, "people", "id");
    let (_, plain_rows) = {
        let other = Area::new();
        other
            .run(&pipeline(&plain, "people", ""), FILES)
            .expect("plain");
        table(&other, "people", "id")
    };
    assert_eq!(ddl.len(), 9);
    // the three compressed copies of people.csv, each row three times
    assert_eq!(rows.len(), 3 * plain_rows.len());
    for row in &plain_rows {
        assert_eq!(rows.iter().filter(|r| *r == row).count(), 3, "{row:?}");
    }
}

/// A decompression bomb (256 MiB of one NDJSON line, 256 KiB gzipped) is held inside the
/// sandbox by the connector's memory limit: the run fails naming the connector, and nothing
/// is loaded or left behind.
#[test]
fn a_decompression_bomb_is_held_by_the_sandbox() {
    use std::io::Write;

    let area = Area::new();
    let file = area.path().join("bomb.ndjson.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![b'a'; 1 << 20];
    e.write_all(b"{\"a\": \"").expect("gzip");
    for _ in 0..256 {
        e.write_all(&block).expect("gzip");
    }
    let gz = e.finish().expect("gzip");
    assert!(gz.len() < 2 << 20, "{} bytes", gz.len());
    std::fs::write(&file, gz).expect("write");
    let toml = format!("{}[limits]\nmemory_mb = 64\n", pipeline(&file, "bomb", ""));
    let err = area
        .run(&toml, FILES)
        .expect_err("the bomb is refused")
        .to_string();
    assert!(err.contains("`files`") && err.contains("memory"), "{err}");
    let packages = area.path().join("pipelines/csv/packages");
    let left = std::fs::read_dir(&packages).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "nothing left behind");
}

/// A Parquet file of every Arrow type dlt maps, in each codec (zstd through the guest's
/// ruzstd), and a whole file inside gzip or zstd, lands as dlt's
/// `read_parquet(use_pyarrow=True)` lands it.
#[test]
fn parquet_files_land_as_dlts_read_parquet_lands_them() {
    use std::io::Write;

    let dir = manifest_dir().join("conformance/parquet");
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("typed.expected.json")).expect("the Parquet fixture"),
    )
    .expect("fixture JSON");
    let (want_ddl, want_rows) = expected(&fixture);
    let wrapped = Area::new();
    let snappy = std::fs::read(dir.join("typed_snappy.parquet")).expect("fixture");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&snappy).expect("gzip");
    let in_gzip = wrapped.path().join("typed.parquet.gz");
    std::fs::write(&in_gzip, gz.finish().expect("gzip")).expect("write");
    // zstd under a plain name: told by content, Parquet by its decoded magic bytes
    let in_zstd = wrapped.path().join("typed_wrapped");
    std::fs::write(&in_zstd, zstd::encode_all(&snappy[..], 3).expect("zstd")).expect("write");
    let files = ["snappy", "gzip", "brotli", "lz4", "zstd"]
        .map(|codec| (codec, dir.join(format!("typed_{codec}.parquet"))));
    let wrapped_files = [("in gzip", in_gzip), ("in zstd", in_zstd)];
    for (codec, file) in files.into_iter().chain(wrapped_files) {
        let area = Area::new();
        let s = area
            .run(&pipeline(&file, "typed", ""), FILES)
            .unwrap_or_else(|e| panic!("{codec}: {e}"));
        assert_eq!(s.tables["typed"], 3, "{codec}");
        let (ddl, rows) = crate::support::shown(&area, "typed");
        assert_eq!(ddl, want_ddl, "{codec}: column names and types as dlt's");
        assert_eq!(rows, want_rows, "{codec}: values as dlt's");
    }
    // the file columns come as Arrow columns after the file's own
    let area = Area::new();
    let file = dir.join("typed_snappy.parquet");
    area.run(&pipeline(&file, "typed", "file_columns = true\n"), FILES)
        .expect("with file columns");
    let (ddl, _) = crate::support::shown(&area, "typed");
    assert_eq!(
        ddl[ddl.len() - 2..],
        [
            ("file_name".to_owned(), "VARCHAR".to_owned()),
            (
                "modification_date".to_owned(),
                "TIMESTAMP WITH TIME ZONE".to_owned()
            ),
        ]
    );
    assert_eq!(
        area.count("SELECT count(*) FROM ds.typed WHERE file_name = 'typed_snappy.parquet'"),
        3
    );
}

/// `[[resources.R.nested]]` (dlt's `nested_hints`) types a nested table's columns from a
/// pipeline file: dates and decimals that NDJSON carries as text land typed two levels down.
#[test]
fn nested_hints_in_a_pipeline_file_type_nested_tables() {
    let area = Area::new();
    let file = area.path().join("orders.ndjson");
    std::fs::write(
        &file,
        "{\"id\": 1, \"items\": [{\"on\": \"2024-05-01\", \"price\": \"2.50\", \
         \"parts\": [{\"fitted\": \"10:30:00\"}]}]}\n",
    )
    .expect("write");
    let hints = "[[resources.orders.nested]]\npath = [\"items\"]\n\
                 columns = [{ name = \"on\", data_type = \"date\" }, \
                 { name = \"price\", data_type = \"decimal\", precision = 10, scale = 2 }]\n\
                 [[resources.orders.nested]]\npath = [\"items\", \"parts\"]\n\
                 columns = [{ name = \"fitted\", data_type = \"time\" }]\n";
    let toml = format!("{}{hints}", pipeline(&file, "orders", ""));
    area.run(&toml, FILES).expect("loads");
    let items = shown_by(&area, "orders__items", |c| !c.starts_with("_dlt_"), "on");
    assert_eq!(
        items.0[..2],
        [
            ("on".to_owned(), "DATE".to_owned()),
            ("price".to_owned(), "DECIMAL(10,2)".to_owned()),
        ]
    );
    assert_eq!(
        items.1,
        [vec![Some("2024-05-01".to_owned()), Some("2.50".to_owned())]]
    );
    let parts = shown_by(&area, "orders__items__parts", |c| c == "fitted", "fitted");
    assert_eq!(parts.0[0], ("fitted".to_owned(), "TIME".to_owned()));
    assert_eq!(parts.1, [vec![Some("10:30:00".to_owned())]]);
}
