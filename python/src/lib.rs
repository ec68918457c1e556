//! Sluice as a Python extension module (`sluice._sluice`, wrapped by the `sluice` package):
//! in-process runs of records and Arrow data, runs of pipeline files, dataset reads, and the
//! exceptions they raise. The Python side (`python/sluice/__init__.py`) gives them dlt's
//! shape: `sluice.pipeline(...).run(data)`, `p.dataset()`.

// Run errors carry the engine's errors with their context, once per call: their size does
// not matter.
#![allow(clippy::result_large_err)]

mod arrow_in;
mod dataset;
mod errors;
mod pylog;
mod records;
mod runs;

use pyo3::prelude::*;

#[pymodule]
fn _sluice(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pylog::forward_tracing();
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(runs::run_data, m)?)?;
    m.add_function(wrap_pyfunction!(runs::run_file, m)?)?;
    m.add_function(wrap_pyfunction!(runs::drop_pending_packages, m)?)?;
    m.add_class::<dataset::PyDataset>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
