//! The table files of one package on the filesystem destination, gathered for readers: each
//! table's batches go into one open file until it holds [`FileRotation`]'s rows or bytes (or
//! a batch arrives with another schema, which one Parquet file cannot hold), then the file is
//! finished and synced and the next one begins — as dlt's file rotation (`file_max_items`,
//! `file_max_bytes`) does. A 20,000-record load is one file per table, not one per page.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::filesystem::{FileFormat, batch_to_json};
use crate::{LoadError, Result};

/// When a table's file is finished and the next begun: at `max_rows` rows or once it holds
/// `max_bytes` (Parquet: bytes written plus the row group being built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRotation {
    pub max_rows: u64,
    pub max_bytes: u64,
}

impl Default for FileRotation {
    fn default() -> Self {
        FileRotation {
            max_rows: 1_000_000,
            max_bytes: 128 << 20,
        }
    }
}

/// Rows per Parquet row group: a bound on what a writer holds in memory per table.
const ROW_GROUP_ROWS: usize = 128 * 1024;

enum Writer {
    Parquet(Box<ArrowWriter<fs::File>>),
    Jsonl(std::io::BufWriter<fs::File>, u64),
}

/// A table's file being written.
struct OpenFile {
    table: String,
    file: String,
    path: PathBuf,
    schema: SchemaRef,
    writer: Writer,
    rows: usize,
}

/// The files of one package: the open ones, and the finished ones as (table, file, rows).
#[derive(Default)]
pub struct TableFiles {
    open: Vec<OpenFile>,
    pub finished: Vec<(String, String, usize)>,
}

fn err(ctx: &str) -> impl Fn(parquet::errors::ParquetError) -> LoadError + '_ {
    move |e| LoadError::sql(ctx, e)
}

fn io_err(ctx: &str) -> impl Fn(std::io::Error) -> LoadError + '_ {
    move |e| LoadError::sql(ctx, e)
}

impl TableFiles {
    /// Append `batch` to table `table`'s open file under `dir/<table>/`, named
    /// `<load_id>.<n>.<ext>`, beginning one when needed.
    pub fn write(
        &mut self,
        dir: &Path,
        load_id: &str,
        format: FileFormat,
        rotation: FileRotation,
        table: &str,
        batch: &RecordBatch,
    ) -> Result<()> {
        let ctx = format!("writing table `{table}`");
        if let Some(i) = self.open.iter().position(|f| f.table == table)
            && self.open[i].schema != batch.schema()
        {
            self.finish(i)?;
        }
        let i = match self.open.iter().position(|f| f.table == table) {
            Some(i) => i,
            None => self.begin(dir, load_id, format, table, batch.schema(), &ctx)?,
        };
        let f = &mut self.open[i];
        let bytes = match &mut f.writer {
            Writer::Parquet(w) => {
                w.write(batch).map_err(err(&ctx))?;
                (w.bytes_written() + w.in_progress_size()) as u64
            }
            Writer::Jsonl(w, written) => {
                let rows = batch_to_json(batch).map_err(LoadError::Plan)?;
                for r in rows {
                    let line = format!("{r}\n");
                    w.write_all(line.as_bytes()).map_err(io_err(&ctx))?;
                    *written += line.len() as u64;
                }
                *written
            }
        };
        f.rows += batch.num_rows();
        if f.rows as u64 >= rotation.max_rows || bytes >= rotation.max_bytes {
            self.finish(i)?;
        }
        Ok(())
    }

    fn begin(
        &mut self,
        dir: &Path,
        load_id: &str,
        format: FileFormat,
        table: &str,
        schema: SchemaRef,
        ctx: &str,
    ) -> Result<usize> {
        let n = self.finished.iter().filter(|(t, _, _)| t == table).count();
        let file = format!("{load_id}.{n}.{}", format.ext());
        let path = dir.join(table).join(&file);
        fs::create_dir_all(dir.join(table)).map_err(io_err(ctx))?;
        let handle = fs::File::create(&path).map_err(io_err(ctx))?;
        let writer = match format {
            FileFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                Writer::Parquet(Box::new(
                    ArrowWriter::try_new(handle, schema.clone(), Some(props)).map_err(err(ctx))?,
                ))
            }
            FileFormat::Jsonl => Writer::Jsonl(std::io::BufWriter::new(handle), 0),
        };
        self.open.push(OpenFile {
            table: table.to_owned(),
            file,
            path,
            schema,
            writer,
            rows: 0,
        });
        Ok(self.open.len() - 1)
    }

    /// Finish open file `i`: written out whole and synced.
    fn finish(&mut self, i: usize) -> Result<()> {
        let f = self.open.remove(i);
        let ctx = format!("writing `{}`", f.path.display());
        let handle = match f.writer {
            Writer::Parquet(w) => w.into_inner().map_err(err(&ctx))?,
            Writer::Jsonl(w, _) => w
                .into_inner()
                .map_err(|e| LoadError::sql(&ctx, e.into_error()))?,
        };
        handle.sync_all().map_err(io_err(&ctx))?;
        self.finished.push((f.table, f.file, f.rows));
        Ok(())
    }

    /// Finish every open file (before the package's files move into place).
    pub fn finish_all(&mut self) -> Result<()> {
        while !self.open.is_empty() {
            self.finish(0)?;
        }
        Ok(())
    }

    /// Forget the package's files (its staging folder goes with them).
    pub fn clear(&mut self) {
        self.open.clear();
        self.finished.clear();
    }
}
