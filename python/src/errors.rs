//! The exceptions the module raises: one small hierarchy under `sluice.SluiceError`, each
//! carrying the message the command line prints for the same failure.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use sluice_pipeline::PipelineError;

create_exception!(
    sluice,
    SluiceError,
    PyException,
    "Any failure of a run or a read."
);
create_exception!(
    sluice,
    ConfigurationError,
    SluiceError,
    "The pipeline, its arguments or its file are wrong."
);
create_exception!(
    sluice,
    ContractViolation,
    SluiceError,
    "The data broke the run's data contract; the package stays pending."
);
create_exception!(
    sluice,
    DataError,
    SluiceError,
    "A record or page could not be normalized; the package stays pending."
);
create_exception!(
    sluice,
    ConnectorError,
    SluiceError,
    "The connector (or the data source) failed."
);
create_exception!(
    sluice,
    DestinationError,
    SluiceError,
    "The destination refused or failed a load or a read."
);
create_exception!(
    sluice,
    PipelineBusy,
    DestinationError,
    "Another run of the pipeline holds its destination."
);

/// Add the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SluiceError", py.get_type::<SluiceError>())?;
    m.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    m.add("ContractViolation", py.get_type::<ContractViolation>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ConnectorError", py.get_type::<ConnectorError>())?;
    m.add("DestinationError", py.get_type::<DestinationError>())?;
    m.add("PipelineBusy", py.get_type::<PipelineBusy>())?;
    Ok(())
}

/// The exception for a failed run of pipeline `pipeline`.
pub fn run_error(pipeline: &str, e: &PipelineError) -> PyErr {
    // as the command line prints it
    let text = format!(
        "pipeline `{pipeline}` failed: {}",
        sluice_cli::error_chain(e)
    );
    match e {
        PipelineError::Spec { .. } | PipelineError::Config { .. } => {
            ConfigurationError::new_err(text)
        }
        PipelineError::Normalize { source, .. } => match source {
            sluice_normalize::NormalizeError::Contract { .. }
            | sluice_normalize::NormalizeError::JsonSchema { .. } => {
                ContractViolation::new_err(text)
            }
            _ => DataError::new_err(text),
        },
        PipelineError::Host(_) | PipelineError::Page { .. } => ConnectorError::new_err(text),
        PipelineError::Busy { .. } => PipelineBusy::new_err(text),
        PipelineError::PackageLoad { .. }
        | PipelineError::Load { .. }
        | PipelineError::Overtaken { .. } => DestinationError::new_err(text),
        PipelineError::Io { .. } => SluiceError::new_err(text),
    }
}

/// The exception for a failed read of a dataset.
pub fn read_error(e: &sluice_dataset::DatasetError) -> PyErr {
    use sluice_dataset::DatasetError as E;
    let text = e.to_string();
    match e {
        E::NotFound(_) | E::ReadOnly(_) => ConfigurationError::new_err(text),
        E::Busy { .. } => PipelineBusy::new_err(text),
        E::Query(_) | E::Unavailable { .. } => DestinationError::new_err(text),
    }
}
