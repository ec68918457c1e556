//! A chunk of rows as the bytes of an Arrow IPC stream (schema, one batch), the form an
//! `arrow-ipc` page carries.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};

/// `columns` as one IPC stream.
pub(crate) fn ipc(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<Vec<u8>, String> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut w =
        arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).map_err(|e| e.to_string())?;
    w.write(&batch).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(out)
}
