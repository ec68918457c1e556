//! A read as a stream of Arrow batches. The read runs on a thread of its own that holds the
//! connection only while the stream is alive: it hands over at most two batches ahead, and
//! dropping the stream ends the read and closes the connection.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::{DatasetError, Result};

/// What the reading thread sends.
enum Msg {
    Schema(SchemaRef),
    Batch(RecordBatch),
    Failed(DatasetError),
}

/// The batches of one read, in order.
#[derive(Debug)]
pub struct Batches {
    schema: SchemaRef,
    rx: Option<Receiver<Msg>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

/// The sending side, given to the reading thread.
pub(crate) struct Sink {
    tx: SyncSender<Msg>,
}

impl Sink {
    /// Send the result's schema (first); `false` when the reader is gone.
    pub(crate) fn schema(&self, schema: SchemaRef) -> bool {
        self.tx.send(Msg::Schema(schema)).is_ok()
    }

    /// Send a batch; `false` when the reader is gone.
    pub(crate) fn batch(&self, batch: RecordBatch) -> bool {
        batch.num_rows() == 0 || self.tx.send(Msg::Batch(batch)).is_ok()
    }
}

impl Batches {
    /// Run `read` on a thread of its own; returns once it sent the schema or failed.
    pub(crate) fn spawn(
        read: impl FnOnce(&Sink) -> Result<()> + Send + 'static,
    ) -> Result<Batches> {
        let (tx, rx) = sync_channel(2);
        let sink = Sink { tx: tx.clone() };
        std::thread::Builder::new()
            .name("sluice-read".into())
            .spawn(move || {
                if let Err(e) = read(&sink) {
                    let _ = sink.tx.send(Msg::Failed(e));
                }
            })
            .map_err(|e| DatasetError::Query(format!("starting a reader: {e}")))?;
        drop(tx);
        match rx.recv() {
            Ok(Msg::Schema(schema)) => Ok(Batches {
                schema,
                rx: Some(rx),
            }),
            Ok(Msg::Failed(e)) => Err(e),
            Ok(Msg::Batch(_)) | Err(_) => Err(DatasetError::Query(
                "the reader ended without a result".into(),
            )),
        }
    }

    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Every batch, up to `max_rows` rows (the last batch cut), and whether rows were left.
    pub fn collect_rows(self, max_rows: usize) -> Result<(SchemaRef, Vec<RecordBatch>, bool)> {
        let schema = self.schema.clone();
        let mut out = Vec::new();
        let mut rows = 0;
        for b in self {
            let b = b?;
            if rows + b.num_rows() > max_rows {
                out.push(b.slice(0, max_rows - rows));
                return Ok((schema, out, true));
            }
            rows += b.num_rows();
            out.push(b);
        }
        Ok((schema, out, false))
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Msg::Batch(b)) => Some(Ok(b)),
            Ok(Msg::Failed(e)) => {
                self.rx = None;
                Some(Err(e))
            }
            Ok(Msg::Schema(_)) | Err(_) => {
                self.rx = None;
                None
            }
        }
    }
}
