//! `p.dataset()`: the loaded dataset, read through `sluice-dataset` (read-only, never making
//! a run wait). Results cross into Python as one Arrow IPC stream, which pyarrow opens
//! without a per-row step.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{SluiceError, read_error};

/// A pipeline's dataset.
#[pyclass(name = "_Dataset", module = "sluice._sluice", frozen)]
pub struct PyDataset {
    inner: sluice_dataset::Dataset,
}

#[pymethods]
impl PyDataset {
    #[new]
    fn new(pipelines_dir: PathBuf, name: &str) -> PyResult<Self> {
        sluice_dataset::Dataset::open(&pipelines_dir, name)
            .map(|inner| PyDataset { inner })
            .map_err(|e| read_error(&e))
    }

    /// The data tables with dlt types, hints and row counts, as JSON.
    fn tables_json(&self, py: Python<'_>) -> PyResult<String> {
        let tables = py
            .detach(|| self.inner.tables())
            .map_err(|e| read_error(&e))?;
        to_json(&tables)
    }

    /// The loads (`_dlt_loads`), newest last, as JSON.
    fn loads_json(&self, py: Python<'_>) -> PyResult<String> {
        let loads = py
            .detach(|| self.inner.loads())
            .map_err(|e| read_error(&e))?;
        to_json(&loads)
    }

    /// The newest committed pipeline state, as JSON (`null` before the first load).
    fn state_json(&self, py: Python<'_>) -> PyResult<String> {
        let state = py
            .detach(|| self.inner.state())
            .map_err(|e| read_error(&e))?;
        to_json(&state)
    }

    /// A read-only SQL query's result as an Arrow IPC stream.
    fn query_ipc<'py>(&self, py: Python<'py>, sql: &str) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| {
            let batches = self.inner.query(sql).map_err(|e| read_error(&e))?;
            ipc(batches.schema(), batches)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A whole table as an Arrow IPC stream.
    fn table_ipc<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| {
            let batches = self
                .inner
                .read_table(table, 0, None)
                .map_err(|e| read_error(&e))?;
            ipc(batches.schema(), batches)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The dataset's name.
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Where the dataset is (no credential).
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Batches as one Arrow IPC stream.
fn ipc(
    schema: arrow_schema::SchemaRef,
    batches: impl Iterator<Item = sluice_dataset::Result<RecordBatch>>,
) -> PyResult<Vec<u8>> {
    let failed = |e: arrow_schema::ArrowError| SluiceError::new_err(format!("the result: {e}"));
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).map_err(failed)?;
    for batch in batches {
        w.write(&batch.map_err(|e| read_error(&e))?)
            .map_err(failed)?;
    }
    w.finish().map_err(failed)?;
    drop(w);
    Ok(out)
}

fn to_json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| SluiceError::new_err(format!("the answer: {e}")))
}
