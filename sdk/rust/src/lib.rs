//! The Rust SDK for Sluice connectors: implement [`Source`], export with [`export!`].
//!
//! ```ignore
//! use sluice_sdk::{Error, Page, Resource, ResourceSpec, Source, SourceSpec, Open};
//!
//! struct Hello;
//! impl Source for Hello {
//!     fn spec(_config: &serde_json::Value) -> Result<SourceSpec, Error> {
//!         Ok(SourceSpec::new("hello", "0.1.0").resource(ResourceSpec::new("greetings")))
//!     }
//!     fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
//!         Ok(Box::new(sluice_sdk::Pages::from(vec![Page::json(&serde_json::json!([{"hi": 1}]))])))
//!     }
//! }
//! sluice_sdk::export!(Hello);
//! ```
//!
//! Records travel as one JSON buffer per page; the host does the parsing, normalizing and
//! loading. HTTP goes through [`http::fetch`], which the host checks against the pipeline's
//! allow-list and fills with secrets the connector never sees; granted databases through
//! [`sql`] and granted buckets through [`objects`].

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:connector/connector",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "sluice_sdk::bindings",
        generate_all,
        // `wit/deps` (WASI 0.2.12, for the `connector-http` world) gates an import behind this
        // feature; the parser must see the gated interface to resolve the package
        features: ["clocks-timezone"],
    });
}

use std::cell::RefCell;

use bindings::exports::sluice::connector::source as wit;
pub use bindings::exports::sluice::connector::source::Window;
pub use bindings::sluice::connector::types::{
    ColumnHint, ConnectorError, ErrorKind, Incremental, LastValueFunc, MergeStrategy,
    OnCursorMissing, RecordsFormat, ResourceSpec, SourceSpec, WriteDisposition,
};
pub use serde_json;
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};

/// A connector error: who is at fault, what happened, whether retrying can help.
pub type Error = ConnectorError;

/// Build an error of `kind`.
pub fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    ConnectorError {
        kind,
        message: message.into(),
        retryable: false,
    }
}

/// One page of records plus an optional state checkpoint.
pub struct Page {
    pub records: Vec<u8>,
    pub format: RecordsFormat,
    pub checkpoint: Option<String>,
}

impl Page {
    /// A page from a JSON array value.
    pub fn json(records: &serde_json::Value) -> Page {
        Page {
            records: serde_json::to_vec(records).unwrap_or_default(),
            format: RecordsFormat::JsonArray,
            checkpoint: None,
        }
    }

    /// A page from NDJSON bytes.
    pub fn ndjson(bytes: Vec<u8>) -> Page {
        Page {
            records: bytes,
            format: RecordsFormat::Ndjson,
            checkpoint: None,
        }
    }

    /// A page from Arrow record batches of one schema, sent as one Arrow IPC stream: the
    /// host keeps their types (decimal precision, timestamp unit and zone, date, time,
    /// binary; struct and list columns become json), as dlt does for an Arrow table.
    #[cfg(feature = "arrow")]
    pub fn arrow(batches: &[arrow_array::RecordBatch]) -> Result<Page, Error> {
        let Some(first) = batches.first() else {
            return Err(error(
                ErrorKind::Internal,
                "an Arrow page needs at least one batch",
            ));
        };
        let fail =
            |e: arrow_schema::ArrowError| error(ErrorKind::Internal, format!("Arrow page: {e}"));
        let mut out = Vec::new();
        let mut w =
            arrow_ipc::writer::StreamWriter::try_new(&mut out, &first.schema()).map_err(fail)?;
        for b in batches {
            w.write(b).map_err(fail)?;
        }
        w.finish().map_err(fail)?;
        drop(w);
        Ok(Page {
            records: out,
            format: RecordsFormat::ArrowIpc,
            checkpoint: None,
        })
    }

    /// A page from the bytes of an Arrow IPC stream (as the host's `sql` reads return them).
    pub fn arrow_ipc(bytes: Vec<u8>) -> Page {
        Page {
            records: bytes,
            format: RecordsFormat::ArrowIpc,
            checkpoint: None,
        }
    }

    /// Attach the resource state to commit with this page.
    pub fn with_checkpoint(mut self, state: &serde_json::Value) -> Page {
        self.checkpoint = Some(state.to_string());
        self
    }
}

/// What an extraction is opened with.
pub struct Open {
    pub resource: String,
    pub config: serde_json::Value,
    pub state: Option<serde_json::Value>,
    pub window: Option<Window>,
    /// records of the parent page, for dependent resources
    pub parent_records: Option<Vec<serde_json::Value>>,
}

/// A resource being extracted, read page by page.
pub trait Resource {
    /// The next page, or `None` when done.
    fn next_page(&mut self) -> Result<Option<Page>, Error>;
}

/// A fixed list of pages, for small resources and tests.
pub struct Pages(std::collections::VecDeque<Page>);

impl From<Vec<Page>> for Pages {
    fn from(pages: Vec<Page>) -> Self {
        Pages(pages.into())
    }
}

impl Resource for Pages {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        Ok(self.0.pop_front())
    }
}

/// A connector: describes its resources and opens extractions.
pub trait Source: 'static {
    fn spec(config: &serde_json::Value) -> Result<SourceSpec, Error>;
    fn open(open: Open) -> Result<Box<dyn Resource>, Error>;
}

impl SourceSpec {
    /// A source with no resources yet and an open config schema.
    pub fn new(name: &str, version: &str) -> SourceSpec {
        SourceSpec {
            name: name.into(),
            version: version.into(),
            description: None,
            config_schema: r#"{"type":"object"}"#.into(),
            resources: Vec::new(),
        }
    }

    pub fn resource(mut self, r: ResourceSpec) -> SourceSpec {
        self.resources.push(r);
        self
    }
}

impl ResourceSpec {
    /// An append resource loading into a table of its own name.
    pub fn new(name: &str) -> ResourceSpec {
        ResourceSpec {
            name: name.into(),
            table_name: None,
            description: None,
            write_disposition: WriteDisposition::Append,
            merge_strategy: None,
            primary_key: Vec::new(),
            merge_key: Vec::new(),
            columns: Vec::new(),
            incremental: None,
            max_nesting: None,
            parent: None,
            selected: true,
        }
    }
}

/// HTTP through the host (allow-list, secrets, retries applied by the host).
pub mod http {
    pub use crate::bindings::sluice::connector::http::{
        HttpError, Request, Response, fetch, fetch_all,
    };

    /// A GET request with no headers.
    pub fn get(url: &str) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            secrets: Vec::new(),
        }
    }
}

/// Databases the pipeline grants, read through the host: reflect a grant's tables, then
/// read one in structured form (columns, filters, order, chunk size). Each chunk arrives as
/// an Arrow IPC stream, ready to hand on as a page ([`Page::arrow_ipc`]).
pub mod sql {
    pub use crate::bindings::sluice::connector::sql::{
        ColumnInfo, Comparison, Predicate, ReadRequest, Rows, SqlError, TableInfo, databases, read,
        tables,
    };

    impl ReadRequest {
        /// Every column of `table` in grant `database`, in the host's default chunks.
        pub fn table(database: &str, table: &str) -> ReadRequest {
            ReadRequest {
                database: database.into(),
                schema: None,
                table: table.into(),
                columns: Vec::new(),
                filter: Vec::new(),
                order_by: Vec::new(),
                limit: None,
                chunk_rows: None,
            }
        }
    }

    /// The connector error for a refused or failed database call.
    pub fn error(e: SqlError) -> crate::Error {
        use crate::ErrorKind as K;
        let (kind, message, retryable) = match e {
            SqlError::Denied(m) | SqlError::NotFound(m) => (K::Config, m, false),
            SqlError::Unsupported(m) => (K::Data, m, false),
            SqlError::Timeout(m) => (K::External, m, true),
            SqlError::Database(m) => (K::External, m, false),
        };
        crate::Error {
            kind,
            message,
            retryable,
        }
    }
}

pub mod objects;

/// Log through the host.
pub mod log {
    pub use crate::bindings::sluice::connector::log::{Level, log};

    pub fn info(msg: &str) {
        log(Level::Info, msg);
    }

    pub fn warn(msg: &str) {
        log(Level::Warn, msg);
    }
}

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text)
        .map_err(|e| error(ErrorKind::Config, format!("{what} is not valid JSON: {e}")))
}

/// The exported extraction resource; holds the author's [`Resource`].
#[doc(hidden)]
pub struct Extraction(RefCell<Box<dyn Resource>>);

impl wit::GuestExtraction for Extraction {
    fn next(&self) -> Result<Option<wit::Page>, Error> {
        let page = self.0.borrow_mut().next_page()?;
        Ok(page.map(|p| wit::Page {
            records: p.records,
            format: p.format,
            checkpoint: p.checkpoint,
        }))
    }
}

#[doc(hidden)]
pub fn __spec<S: Source>(config: String) -> Result<SourceSpec, Error> {
    S::spec(&parse_json("config", &config)?)
}

#[doc(hidden)]
pub fn __open<S: Source>(
    resource: String,
    config: String,
    state: Option<String>,
    window: Option<Window>,
    parent_records: Option<Vec<u8>>,
) -> Result<wit::Extraction, Error> {
    let open = Open {
        resource,
        config: parse_json("config", &config)?,
        state: state.map(|s| parse_json("state", &s)).transpose()?,
        window,
        parent_records: parent_records
            .map(|b| {
                serde_json::from_slice::<Vec<serde_json::Value>>(&b)
                    .map_err(|e| error(ErrorKind::Internal, format!("parent records: {e}")))
            })
            .transpose()?,
    };
    let r = S::open(open)?;
    Ok(wit::Extraction::new(Extraction(RefCell::new(r))))
}

/// Export a [`Source`] implementation as the component's `source` interface.
#[macro_export]
macro_rules! export {
    ($source:ty) => {
        struct __SluiceExport;
        impl $crate::bindings::exports::sluice::connector::source::Guest for __SluiceExport {
            type Extraction = $crate::Extraction;
            fn spec(config: String) -> Result<$crate::SourceSpec, $crate::Error> {
                $crate::__spec::<$source>(config)
            }
            fn open(
                resource: String,
                config: String,
                state: Option<String>,
                window: Option<$crate::Window>,
                parent_records: Option<Vec<u8>>,
            ) -> Result<$crate::bindings::exports::sluice::connector::source::Extraction, $crate::Error> {
                $crate::__open::<$source>(resource, config, state, window, parent_records)
            }
        }
        $crate::bindings::__export_bindings!(__SluiceExport with_types_in $crate::bindings);
    };
}
