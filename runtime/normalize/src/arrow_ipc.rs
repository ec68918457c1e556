//! Arrow IPC pages as the host handles them before normalizing: counted, read as JSON rows
//! (for incremental cursors and for the records a dependent resource gets) and filtered to
//! the rows an incremental cursor keeps, staying Arrow.

use std::io::Cursor;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use serde_json::Value;

use crate::NormalizeError;

fn batches(bytes: &[u8]) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>), NormalizeError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| NormalizeError::Arrow(format!("not an Arrow IPC stream: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NormalizeError::Arrow(format!("a record batch: {e}")))?;
    Ok((schema, batches))
}

/// The host's check of an Arrow IPC page a connector hands over: a stream whose batches all
/// decode (buffers, offsets and UTF-8 validated) and whose fields all have a dlt type, so
/// the package it goes into can be normalized.
pub fn check_arrow_page(bytes: &[u8]) -> Result<(), NormalizeError> {
    let (schema, _) = batches(bytes)?;
    for field in schema.fields() {
        crate::dlt_type(field.data_type())
            .map_err(|e| NormalizeError::Arrow(format!("field `{}`: {e}", field.name())))?;
    }
    Ok(())
}

/// Rows in an Arrow IPC page.
pub fn arrow_row_count(bytes: &[u8]) -> Result<u64, NormalizeError> {
    Ok(batches(bytes)?.1.iter().map(|b| b.num_rows() as u64).sum())
}

/// The rows of an Arrow IPC page as JSON objects (timestamps as ISO 8601 text, binary as
/// hex, nested values as JSON; null values left out).
pub fn arrow_rows_json(bytes: &[u8]) -> Result<Vec<Value>, NormalizeError> {
    let (_, batches) = batches(bytes)?;
    let mut w = arrow_json::LineDelimitedWriter::new(Vec::new());
    for b in &batches {
        w.write(b)
            .map_err(|e| NormalizeError::Arrow(format!("as JSON: {e}")))?;
    }
    w.finish()
        .map_err(|e| NormalizeError::Arrow(format!("as JSON: {e}")))?;
    let text = w.into_inner();
    crate::parse_page(&text, crate::RecordsFormat::Ndjson)
}

/// The page with only the rows whose `keep` is true, as an Arrow IPC stream again.
pub fn arrow_filter(bytes: &[u8], keep: &[bool]) -> Result<Vec<u8>, NormalizeError> {
    let (schema, batches) = batches(bytes)?;
    let err = |e: arrow_schema::ArrowError| NormalizeError::Arrow(format!("filtering: {e}"));
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &schema).map_err(err)?;
    let mut at = 0;
    for b in &batches {
        let mask: BooleanArray = keep
            .get(at..at + b.num_rows())
            .ok_or_else(|| NormalizeError::Internal("filter shorter than the page".into()))?
            .iter()
            .map(|k| Some(*k))
            .collect();
        at += b.num_rows();
        let kept = arrow_select::filter::filter_record_batch(b, &mask).map_err(err)?;
        w.write(&kept).map_err(err)?;
    }
    w.finish().map_err(err)?;
    drop(w);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn page() -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new(&mut out, &schema).unwrap();
        w.write(&b).unwrap();
        w.write(&b.slice(0, 1)).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    #[test]
    fn counts_reads_and_filters_every_batch() {
        let p = page();
        assert_eq!(arrow_row_count(&p).unwrap(), 4);
        let rows = arrow_rows_json(&p).unwrap();
        assert_eq!(rows[0], serde_json::json!({"id": 1, "name": "a"}));
        assert_eq!(rows[1], serde_json::json!({"id": 2}));
        assert_eq!(rows[3], serde_json::json!({"id": 1, "name": "a"}));
        let kept = arrow_filter(&p, &[false, true, true, false]).unwrap();
        let ids: Vec<Value> = arrow_rows_json(&kept).unwrap();
        assert_eq!(
            ids.iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [2, 3]
        );
    }

    #[test]
    fn garbage_is_named_as_not_arrow() {
        let e = arrow_row_count(b"[{\"a\": 1}]").unwrap_err().to_string();
        assert!(e.contains("not an Arrow IPC stream"), "{e}");
    }
}
