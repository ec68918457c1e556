//! Writing a read's batches: a table on the terminal, or CSV, JSON lines or Parquet into a
//! file or standard output (`sluice query`, `sluice export`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use sluice_dataset::Batches;

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Jsonl,
    Parquet,
}

/// Rows a terminal table shows at most.
const TABLE_ROWS: usize = 1_000;

/// Write every batch of `batches` as `format` to `output` (standard output when `None`);
/// returns the rows written.
pub fn write(batches: Batches, format: Format, output: Option<&Path>) -> Result<u64> {
    if format == Format::Table {
        if output.is_some() {
            bail!("--format table prints to the terminal; use csv, jsonl or parquet with --output");
        }
        return table(batches);
    }
    let sink: Box<dyn Write + Send> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating `{}`", p.display()))?,
        )),
        None => {
            if format == Format::Parquet {
                bail!("Parquet is binary: name a file with --output");
            }
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        }
    };
    let schema = batches.schema();
    let mut writer = Writer::new(format, sink, &schema)?;
    let mut rows = 0u64;
    for b in batches {
        let b = b?;
        rows += b.num_rows() as u64;
        writer.write(&b)?;
    }
    writer.finish()?;
    Ok(rows)
}

/// One of the file writers.
enum Writer {
    Csv(arrow_csv::Writer<Box<dyn Write + Send>>),
    Jsonl(arrow_json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Parquet(parquet::arrow::ArrowWriter<Box<dyn Write + Send>>),
}

impl Writer {
    fn new(
        format: Format,
        sink: Box<dyn Write + Send>,
        schema: &arrow_schema::SchemaRef,
    ) -> Result<Writer> {
        Ok(match format {
            Format::Csv => Writer::Csv(
                arrow_csv::WriterBuilder::new()
                    .with_header(true)
                    .build(sink),
            ),
            Format::Jsonl => Writer::Jsonl(arrow_json::LineDelimitedWriter::new(sink)),
            Format::Parquet => Writer::Parquet(
                parquet::arrow::ArrowWriter::try_new(sink, schema.clone(), None)
                    .context("starting the Parquet file")?,
            ),
            Format::Table => bail!("a table is not a file format"),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Writer::Csv(w) => w.write(batch).context("writing CSV"),
            Writer::Jsonl(w) => w.write(batch).context("writing JSON lines"),
            Writer::Parquet(w) => w.write(batch).context("writing Parquet"),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Writer::Csv(w) => w.into_inner().flush().context("writing CSV"),
            Writer::Jsonl(mut w) => {
                w.finish().context("writing JSON lines")?;
                w.into_inner().flush().context("writing JSON lines")
            }
            Writer::Parquet(w) => w.close().map(drop).context("finishing the Parquet file"),
        }
    }
}

/// Print the first [`TABLE_ROWS`] rows as a table, and say when there were more.
fn table(batches: Batches) -> Result<u64> {
    let (_, shown, more) = batches.collect_rows(TABLE_ROWS)?;
    let rows: usize = shown.iter().map(RecordBatch::num_rows).sum();
    let text = arrow_cast::pretty::pretty_format_batches(&shown).context("formatting rows")?;
    println!("{text}");
    if more {
        println!(
            "(the first {TABLE_ROWS} rows; --format csv|jsonl|parquet --output FILE writes all)"
        );
    } else {
        println!("({rows} row{})", if rows == 1 { "" } else { "s" });
    }
    Ok(rows as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DuckDB file holding dataset `ds` with table `t` of three rows.
    fn dataset(dir: &Path) -> sluice_dataset::Dataset {
        let db = dir.join("x.duckdb");
        let conn = duckdb::Connection::open(&db).expect("open");
        conn.execute_batch(
            "create schema ds; create table ds.t as select * from (values (1, 'a,b'), (2, 'c\"d'), (3, null)) v(id, s)",
        )
        .expect("create");
        drop(conn);
        sluice_dataset::Dataset::at("p", &format!("duckdb:{}", db.display()), "ds")
            .expect("dataset")
    }

    #[test]
    fn rows_are_written_as_csv_jsonl_and_parquet() {
        let tmp = tempfile::tempdir().expect("tmp");
        let ds = dataset(tmp.path());
        let q = || ds.query("select * from t order by id").expect("query");
        let csv = tmp.path().join("t.csv");
        assert_eq!(write(q(), Format::Csv, Some(&csv)).expect("csv"), 3);
        assert_eq!(
            std::fs::read_to_string(&csv).expect("read"),
            "id,s\n1,\"a,b\"\n2,\"c\"\"d\"\n3,\n"
        );
        let jsonl = tmp.path().join("t.jsonl");
        assert_eq!(write(q(), Format::Jsonl, Some(&jsonl)).expect("jsonl"), 3);
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[1], serde_json::json!({"id": 2, "s": "c\"d"}));
        let pq = tmp.path().join("t.parquet");
        assert_eq!(write(q(), Format::Parquet, Some(&pq)).expect("parquet"), 3);
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&pq).expect("open"),
        )
        .expect("parquet reader");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        assert!(
            write(q(), Format::Parquet, None).is_err(),
            "Parquet needs a file"
        );
        assert!(write(q(), Format::Table, Some(&csv)).is_err());
    }
}
