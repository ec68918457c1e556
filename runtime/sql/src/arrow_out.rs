//! A chunk of rows built column by column and written as the bytes of an Arrow IPC stream
//! (schema, one batch), the form an `arrow-ipc` page carries. Every engine's reader fills one.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};

use crate::pg_decode::ColumnBuilder;
use crate::render::ReadPlan;
use crate::{Result, SqlError};

/// The builders of one chunk of `plan`'s columns.
pub(crate) struct Chunk {
    pub builders: Vec<ColumnBuilder>,
    fields: Vec<Field>,
}

impl Chunk {
    /// Builders for `plan`'s columns, sized for `rows` rows.
    pub(crate) fn new(plan: &ReadPlan, rows: usize) -> Chunk {
        let (builders, fields) = plan
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c, rows.min(65_536)))
            .unzip();
        Chunk { builders, fields }
    }

    /// The chunk as one IPC stream.
    pub(crate) fn ipc(mut self, plan: &ReadPlan) -> Result<Vec<u8>> {
        let columns = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        let encode = || -> std::result::Result<Vec<u8>, String> {
            let schema = Arc::new(Schema::new(self.fields));
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
            // room for the whole stream up front: growing it copied each chunk several times
            let mut out = Vec::with_capacity(batch.get_array_memory_size() + 4096);
            let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema)
                .map_err(|e| e.to_string())?;
            w.write(&batch).map_err(|e| e.to_string())?;
            w.finish().map_err(|e| e.to_string())?;
            drop(w);
            Ok(out)
        };
        encode().map_err(|e| SqlError::Database(format!("{}: {e}", plan.label)))
    }
}

/// A value that does not fit its column, named by table, column and row of the chunk.
pub(crate) fn bad_value(plan: &ReadPlan, column: usize, row: usize, e: String) -> SqlError {
    SqlError::Unsupported(format!(
        "{}: column `{}`, row {} of the chunk: {e}",
        plan.label, plan.columns[column].name, row
    ))
}
