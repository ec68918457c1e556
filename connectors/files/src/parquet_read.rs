//! Parquet files read as Arrow pages, a batch of `page_size` rows at a time, as dlt's
//! `read_parquet(use_pyarrow=True)` yields them: the file's own Arrow types, no JSON in
//! between. Decoded in the guest by the `parquet` crate with pure-Rust codecs (snappy, gzip,
//! brotli, lz4, and zstd through `ruzstd`, patched in for the C-bound `zstd` crate). A file is
//! read by ranges; one inside gzip or zstd is decoded whole into memory first.

use std::io::{BufReader, Read};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{ChunkReader, Length};
use sluice_sdk::{Error, ErrorKind, Page, error};

use crate::store::{Stat, Store};

/// A Parquet file's first bytes.
pub const MAGIC: &[u8] = b"PAR1";

/// An open Parquet file and the file columns to add to each batch.
pub struct ParquetFile {
    path: String,
    batches: ParquetRecordBatchReader,
    /// `file_name` and `modification_date` (µs), when asked
    columns: Option<(String, i64)>,
}

fn parquet_err(path: &str, e: impl std::fmt::Display) -> Error {
    error(ErrorKind::Data, format!("file `{path}`: Parquet: {e}"))
}

impl ParquetFile {
    pub fn open(
        store: &Store,
        path: &str,
        stat: &Stat,
        rows: usize,
        columns: Option<(String, i64)>,
    ) -> Result<Self, Error> {
        let file = PathChunks {
            store: store.clone(),
            path: path.to_owned(),
            stat: stat.clone(),
        };
        ParquetFile::read(file, path, rows, columns)
    }

    /// A Parquet file already in memory (decoded from gzip or zstd).
    pub fn from_bytes(
        path: &str,
        bytes: bytes::Bytes,
        rows: usize,
        columns: Option<(String, i64)>,
    ) -> Result<Self, Error> {
        ParquetFile::read(bytes, path, rows, columns)
    }

    fn read<R: ChunkReader + 'static>(
        file: R,
        path: &str,
        rows: usize,
        columns: Option<(String, i64)>,
    ) -> Result<Self, Error> {
        let batches = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(rows).build())
            .map_err(|e| parquet_err(path, e))?;
        Ok(ParquetFile {
            path: path.to_owned(),
            batches,
            columns,
        })
    }

    /// The next batch as an Arrow page, `None` at the end.
    pub fn next_page(&mut self) -> Result<Option<Page>, Error> {
        let Some(batch) = self.batches.next() else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| parquet_err(&self.path, e))?;
        let batch = match &self.columns {
            Some((name, modified)) => {
                with_file_columns(batch, name, *modified).map_err(|e| parquet_err(&self.path, e))?
            }
            None => batch,
        };
        Page::arrow(&[batch]).map(Some)
    }
}

/// `batch` with `file_name` and `modification_date` (UTC) columns after its own.
fn with_file_columns(
    batch: RecordBatch,
    name: &str,
    modified_us: i64,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n = batch.num_rows();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    fields.push(Field::new("file_name", DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from(vec![name; n])));
    fields.push(Field::new(
        "modification_date",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from(vec![modified_us; n]).with_timezone("UTC"),
    ));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A Parquet file read in ranges, each through a reader of its own: WASI has no
/// `File::try_clone`, which the `parquet` crate's reader of a `File` needs, and a bucket's
/// object is read by ranged gets.
struct PathChunks {
    store: Store,
    path: String,
    stat: Stat,
}

fn io(e: Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(e.message.into())
}

impl Length for PathChunks {
    fn len(&self) -> u64 {
        self.stat.size
    }
}

impl ChunkReader for PathChunks {
    type T = BufReader<Box<dyn Read>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let r = self
            .store
            .reader_at(&self.path, &self.stat, start)
            .map_err(io)?;
        Ok(BufReader::with_capacity(crate::compressed::READ_BUFFER, r))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let mut buf = Vec::with_capacity(length);
        let end = start.saturating_add(length as u64);
        let read = self
            .store
            .range(&self.path, &self.stat, start, end)
            .map_err(io)?
            .read_to_end(&mut buf)?;
        if read != length {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "expected {length} bytes at {start}, read {read}"
            )));
        }
        Ok(buf.into())
    }
}
