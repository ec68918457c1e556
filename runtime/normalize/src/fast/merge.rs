//! Merging a page's chunks, in order, into one Arrow batch per table.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema as ArrowSchema};
use sluice_schema::Schema;

use crate::tables::arrow_type;

use super::walk::FastChunk;
use super::{Bail, FastPage, Map};

/// Chunks in order → one batch per table; columns without a value are left out, as the
/// general path leaves them out.
pub(crate) fn merge(schema: &Schema, chunks: Vec<FastChunk>) -> Result<FastPage, Bail> {
    let records = chunks.iter().map(|c| c.records as u64).sum();
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut parts: Map<String, (usize, Vec<Vec<ArrayRef>>)> = Map::default();
    for chunk in chunks {
        for (name, n, arrays) in chunk.tables {
            match parts.get_mut(&name) {
                Some((total, cols)) => {
                    *total += n;
                    for (col, a) in cols.iter_mut().zip(arrays) {
                        col.push(a);
                    }
                }
                None => {
                    rows.push((name.clone(), 0));
                    parts.insert(name, (n, arrays.into_iter().map(|a| vec![a]).collect()));
                }
            }
        }
    }
    for (name, n) in &mut rows {
        *n = parts.get(name).map(|(total, _)| *total as u64).unwrap_or(0);
    }
    let mut batches = Vec::new();
    for table in schema.tables.values() {
        let Some((total, cols)) = parts.remove(&table.name) else {
            continue;
        };
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (col, pieces) in table.complete_columns().zip(cols) {
            let array = if pieces.len() == 1 {
                pieces.into_iter().next().ok_or(Bail("no pieces"))?
            } else {
                let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
                arrow_select::concat::concat(&refs).map_err(|_| Bail("concat"))?
            };
            if array.null_count() == array.len() {
                continue;
            }
            fields.push(Field::new(&col.name, arrow_type(col), true));
            arrays.push(array);
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(total));
        let batch =
            RecordBatch::try_new_with_options(Arc::new(ArrowSchema::new(fields)), arrays, &options)
                .map_err(|_| Bail("record batch"))?;
        batches.push((table.name.clone(), batch));
    }
    Ok(FastPage {
        batches,
        rows,
        records,
    })
}
