//! Arrow data in through the Arrow PyCapsule interface: any object with
//! `__arrow_c_stream__` (a pyarrow Table or RecordBatchReader, a polars DataFrame, a pandas
//! DataFrame converted by pyarrow) hands over its C stream; the batches are read with the GIL
//! released and written as Arrow IPC pages, with no per-row Python work.
//!
//! The one `unsafe` of the crate is here: taking the C stream out of its capsule.

#![allow(unsafe_code)]

use arrow_array::RecordBatch;
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_schema::ArrowError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use sluice_host::{Page, RecordsFormat};

/// Rows per page: a larger batch is cut into pages of at most this many rows.
const PAGE_ROWS: usize = 128 * 1024;

/// An Arrow C stream, as pages.
pub struct ArrowFeed {
    reader: ArrowArrayStreamReader,
    /// the batch being cut into pages, and the next row of it
    current: Option<(RecordBatch, usize)>,
    /// the exception a signal handler raised between pages (Ctrl-C), re-raised once the run
    /// has cleaned up
    pub error: Option<PyErr>,
}

impl ArrowFeed {
    /// Take the C stream of `data` (which has `__arrow_c_stream__`).
    pub fn new(data: &Bound<'_, PyAny>) -> PyResult<ArrowFeed> {
        let capsule = data.call_method0("__arrow_c_stream__")?;
        let capsule = capsule
            .cast::<PyCapsule>()
            .map_err(|_| PyTypeError::new_err("__arrow_c_stream__ did not return a PyCapsule"))?;
        let name = c"arrow_array_stream";
        let ptr = capsule.pointer_checked(Some(name))?;
        // SAFETY: the capsule is named `arrow_array_stream`, so by the Arrow PyCapsule
        // interface it holds an `ArrowArrayStream`; `from_raw` moves the stream out and
        // marks the capsule's struct released, so the capsule's destructor does not release
        // it a second time.
        let reader = unsafe {
            ArrowArrayStreamReader::from_raw(ptr.as_ptr().cast::<FFI_ArrowArrayStream>())
        }
        .map_err(|e| PyTypeError::new_err(format!("reading the Arrow stream: {e}")))?;
        Ok(ArrowFeed {
            reader,
            current: None,
            error: None,
        })
    }

    /// The next page: up to [`PAGE_ROWS`] rows of the stream as one Arrow IPC stream. Before
    /// each page Python's signal handlers run (the GIL is taken for that only), so Ctrl-C
    /// stops the run at the next page, as it stops a records feed.
    pub fn next(&mut self) -> Result<Option<Page>, String> {
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            let text = Python::attach(|py| format!("interrupted: {}", e.value(py)));
            self.error = Some(e);
            return Err(text);
        }
        loop {
            if let Some((batch, at)) = self.current.take()
                && at < batch.num_rows()
            {
                let n = PAGE_ROWS.min(batch.num_rows() - at);
                let slice = batch.slice(at, n);
                self.current = Some((batch, at + n));
                return ipc_page(&slice).map(Some).map_err(failed);
            }
            match self.reader.next() {
                Some(Ok(batch)) => self.current = Some((batch, 0)),
                Some(Err(e)) => return Err(failed(e)),
                None => return Ok(None),
            }
        }
    }
}

fn failed(e: ArrowError) -> String {
    format!("reading the Arrow stream: {e}")
}

/// One batch as an Arrow IPC stream page.
fn ipc_page(batch: &RecordBatch) -> Result<Page, ArrowError> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    drop(w);
    Ok(Page {
        records: out,
        format: RecordsFormat::ArrowIpc,
        checkpoint: None,
    })
}
