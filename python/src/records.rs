//! Python records (dicts from a list, an iterator or a generator) as NDJSON pages: each page
//! is pulled from the iterator with the GIL held, encoded in Rust, and handed to the run with
//! the GIL released again — so memory holds one page whatever the iterator's length.
//!
//! Values map as dlt maps them: `datetime`/`date`/`time` to ISO text with a `timestamp` /
//! `date` / `time` hint on the column, `Decimal` to an exact number with a `decimal` hint,
//! `bytes` to base64 with a `binary` hint, `UUID` and anything else to `str(value)`; NaN and
//! infinite floats to null (JSON has no such numbers). The hints come from the first page's
//! columns (keys, and keys of nested dicts as `a__b`): the root table's, and each nested
//! table's (lists of dicts, or of values as `value`), as dlt's `nested_hints` name them; when
//! a table has any, its other scalar columns are declared too, untyped, so the table keeps
//! the records' column order, as dlt's does.

use base64::Engine as _;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use sluice_host::{Page, RecordsFormat};

/// A table's columns in order of appearance, with a dlt type where JSON cannot carry one.
type Columns = indexmap::IndexMap<String, Option<&'static str>>;

/// Nested tables' columns by path: level by level below the root, each level the key path
/// from the parent's rows to the list (`["items"]`, `["items", "parts"]`, `["a__items"]`).
pub type Nested = indexmap::IndexMap<Vec<String>, Columns>;

/// One nested table's path and columns, as a feed hands them to the plan.
pub type NestedColumns = (Vec<String>, Vec<(String, Option<&'static str>)>);

/// Records per page, and bytes after which a page ends early.
const PAGE_RECORDS: usize = 10_000;
const PAGE_BYTES: usize = 8 << 20;
/// Deepest nesting encoded (deeper data is refused rather than overflowing the stack).
const MAX_DEPTH: usize = 200;

/// The Python types the encoder tells apart beyond JSON's own.
struct Kinds {
    datetime: Py<PyAny>,
    date: Py<PyAny>,
    time: Py<PyAny>,
    decimal: Py<PyAny>,
}

impl Kinds {
    fn new(py: Python<'_>) -> PyResult<Kinds> {
        let dt = py.import("datetime")?;
        Ok(Kinds {
            datetime: dt.getattr("datetime")?.unbind(),
            date: dt.getattr("date")?.unbind(),
            time: dt.getattr("time")?.unbind(),
            decimal: py.import("decimal")?.getattr("Decimal")?.unbind(),
        })
    }
}

/// A Python iterator of records, as pages.
pub struct RecordsFeed {
    iter: Py<PyAny>,
    kinds: Kinds,
    /// the first page's root-table columns in order, with the dlt data type of those whose
    /// values JSON cannot type (empty when none needs one)
    pub hints: Vec<(String, Option<&'static str>)>,
    /// the same for each nested table of the first page that has a typed column
    pub nested: Vec<NestedColumns>,
    /// the first page, read before the run is planned (its hints are part of the plan)
    first: Option<Page>,
    /// the exception the iterator raised, re-raised once the run has cleaned up
    pub error: Option<PyErr>,
    pub records: u64,
}

impl RecordsFeed {
    /// Wrap `data` (any iterable of dicts) and read its first page.
    pub fn new(data: &Bound<'_, PyAny>) -> PyResult<RecordsFeed> {
        let py = data.py();
        let mut feed = RecordsFeed {
            iter: data.try_iter()?.into_any().unbind(),
            kinds: Kinds::new(py)?,
            hints: Vec::new(),
            nested: Vec::new(),
            first: None,
            error: None,
            records: 0,
        };
        let mut columns = Columns::new();
        let mut nested = Nested::new();
        feed.first = feed.read_page(py, Some((&mut columns, &mut nested)))?;
        let typed = |c: &Columns| c.values().any(Option::is_some);
        if typed(&columns) {
            feed.hints = columns.into_iter().collect();
        }
        feed.nested = nested
            .into_iter()
            .filter(|(_, c)| typed(c))
            .map(|(path, c)| (path, c.into_iter().collect()))
            .collect();
        Ok(feed)
    }

    /// The next page of up to [`PAGE_RECORDS`] records, `None` at the end.
    fn read_page(
        &mut self,
        py: Python<'_>,
        mut columns: Option<(&mut Columns, &mut Nested)>,
    ) -> PyResult<Option<Page>> {
        let iter = self.iter.bind(py).clone();
        let mut out = Vec::with_capacity(64 << 10);
        let mut n = 0;
        while n < PAGE_RECORDS && out.len() < PAGE_BYTES {
            let Some(item) = next_item(&iter)? else { break };
            let record = item.cast::<PyDict>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "record {}: expected a dict, got {}",
                    self.records + 1,
                    type_name(&item)
                ))
            })?;
            if let Some((columns, nested)) = columns.as_mut() {
                self.note_columns(record, "", n == 0, columns, &[], nested)?;
            }
            self.encode_dict(record, &mut out, 0)
                .map_err(|e| located(e, self.records + 1))?;
            out.push(b'\n');
            n += 1;
            self.records += 1;
        }
        Ok((n > 0).then_some(Page {
            records: out,
            format: RecordsFormat::Ndjson,
            checkpoint: None,
        }))
    }

    /// Note the columns of `record` (a row of the table at `levels`; `[]` is the root) in
    /// dlt's order — a dict's own values first, then its nested dicts' (as `prefix__key`) —
    /// with the dlt type of values JSON cannot carry; nulls are left out, and lists are noted
    /// as the nested tables they become. Of rows after a table's first, only typed columns
    /// are noted (dlt puts their other new columns after its own).
    fn note_columns(
        &self,
        record: &Bound<'_, PyDict>,
        prefix: &str,
        first: bool,
        columns: &mut Columns,
        levels: &[String],
        tables: &mut Nested,
    ) -> PyResult<()> {
        let mut nested = Vec::new();
        let mut lists = Vec::new();
        for (k, v) in record.iter() {
            let key = k.str()?.to_cow()?.into_owned();
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}__{key}")
            };
            if let Ok(d) = v.cast::<PyDict>() {
                nested.push((name, d.clone()));
                continue;
            }
            if v.cast::<PyList>().is_ok() || v.cast::<PyTuple>().is_ok() {
                lists.push((name, v));
                continue;
            }
            if !v.is_none() {
                note(columns, name, self.dlt_type(&v)?, first);
            }
        }
        for (name, d) in nested {
            self.note_columns(&d, &name, first, columns, levels, tables)?;
        }
        for (name, items) in lists {
            let path = [levels, &[name]].concat();
            self.note_items(&items, path, tables)?;
        }
        Ok(())
    }

    /// Note the rows of a list that becomes the nested table at `path`: dicts' columns, or
    /// a typed value as the table's `value` column; a list in the list is its `list` table.
    fn note_items(
        &self,
        items: &Bound<'_, PyAny>,
        path: Vec<String>,
        tables: &mut Nested,
    ) -> PyResult<()> {
        if path.len() > MAX_DEPTH {
            return Ok(());
        }
        for item in items.try_iter()? {
            let item = item?;
            if item.is_none() {
                continue;
            }
            if item.cast::<PyList>().is_ok() || item.cast::<PyTuple>().is_ok() {
                let inner = [&path[..], &["list".to_owned()]].concat();
                self.note_items(&item, inner, tables)?;
                continue;
            }
            let first = !tables.contains_key(&path);
            let mut columns = std::mem::take(tables.entry(path.clone()).or_default());
            match item.cast::<PyDict>() {
                Ok(d) => self.note_columns(d, "", first, &mut columns, &path, tables)?,
                Err(_) => note(
                    &mut columns,
                    "value".to_owned(),
                    self.dlt_type(&item)?,
                    first,
                ),
            }
            tables.insert(path.clone(), columns);
        }
        Ok(())
    }

    /// The dlt type of a value JSON cannot type, `None` for the others.
    fn dlt_type(&self, v: &Bound<'_, PyAny>) -> PyResult<Option<&'static str>> {
        let py = v.py();
        Ok(if v.is_instance(self.kinds.datetime.bind(py))? {
            Some("timestamp")
        } else if v.is_instance(self.kinds.date.bind(py))? {
            Some("date")
        } else if v.is_instance(self.kinds.time.bind(py))? {
            Some("time")
        } else if v.is_instance(self.kinds.decimal.bind(py))? {
            Some("decimal")
        } else if is_bytes(v) {
            Some("binary")
        } else {
            None
        })
    }

    fn encode_dict(&self, d: &Bound<'_, PyDict>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
        out.push(b'{');
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match k.cast::<PyString>() {
                Ok(s) => write_json(&*s.to_cow()?, out),
                Err(_) => write_json(&*k.str()?.to_cow()?, out),
            }
            out.push(b':');
            self.encode(&v, out, depth + 1)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn encode(&self, v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(PyTypeError::new_err(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        if let Ok(s) = v.cast_exact::<PyString>() {
            write_json(&*s.to_cow()?, out);
        } else if let Ok(d) = v.cast::<PyDict>() {
            self.encode_dict(d, out, depth)?;
        } else if v.is_none() {
            out.extend_from_slice(b"null");
        } else if let Ok(b) = v.cast_exact::<PyBool>() {
            out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        } else if let Ok(i) = v.cast::<PyInt>() {
            match i.extract::<i64>() {
                Ok(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Err(_) => out.extend_from_slice(i.str()?.to_cow()?.as_bytes()),
            }
        } else if let Ok(f) = v.cast::<PyFloat>() {
            write_json(&f.value(), out);
        } else if let Ok(l) = v.cast::<PyList>() {
            self.encode_seq(l.iter(), out, depth)?;
        } else if let Ok(t) = v.cast::<PyTuple>() {
            self.encode_seq(t.iter(), out, depth)?;
        } else {
            self.encode_other(v, out, depth)?;
        }
        Ok(())
    }

    fn encode_seq<'py>(
        &self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> PyResult<()> {
        out.push(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.encode(&item, out, depth + 1)?;
        }
        out.push(b']');
        Ok(())
    }

    /// Values beyond JSON's types: dates and times, decimals, bytes (as [`Self::dlt_type`]
    /// tells them), strings' subclasses (enums), sets; the rest as `str(value)`.
    fn encode_other(&self, v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
        match self.dlt_type(v)? {
            Some("timestamp" | "date" | "time") => {
                write_json(&*v.call_method0("isoformat")?.str()?.to_cow()?, out);
            }
            Some("decimal") if v.call_method0("is_finite")?.is_truthy()? => {
                out.extend_from_slice(v.str()?.to_cow()?.as_bytes());
            }
            Some("decimal") => out.extend_from_slice(b"null"),
            Some(_) => {
                let raw: Vec<u8> = v
                    .call_method0("__bytes__")
                    .or_else(|_| v.py().import("builtins")?.getattr("bytes")?.call1((v,)))?
                    .extract()?;
                write_json(&base64::engine::general_purpose::STANDARD.encode(raw), out);
            }
            None => {
                if let Ok(s) = v.cast::<PyString>() {
                    write_json(&*s.to_cow()?, out);
                } else if let Ok(items) = v.try_iter()
                    && !v.hasattr("__dict__")?
                {
                    let items: Vec<Bound<'_, PyAny>> = items.collect::<PyResult<_>>()?;
                    self.encode_seq(items.into_iter(), out, depth)?;
                } else {
                    write_json(&*v.str()?.to_cow()?, out);
                }
            }
        }
        Ok(())
    }

    /// The next page (the first one was read when the feed was made). An exception of the
    /// iterator ends the run; it is kept to be raised as it was.
    pub fn next(&mut self) -> Result<Option<Page>, String> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        Python::attach(|py| match self.read_page(py, None) {
            Ok(page) => Ok(page),
            Err(e) => {
                let text = format!("the records raised {}", e.value(py));
                self.error = Some(e);
                Err(text)
            }
        })
    }
}

/// Note column `name` with its dlt type: always on a table's first row, later only when typed.
fn note(columns: &mut Columns, name: String, typed: Option<&'static str>, first: bool) {
    if !first && typed.is_none() {
        return;
    }
    let entry = columns.entry(name).or_insert(None);
    if entry.is_none() {
        *entry = typed;
    }
}

/// The iterator's next item; `None` at its end.
fn next_item<'py>(iter: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match iter.call_method0("__next__") {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(iter.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_bytes(v: &Bound<'_, PyAny>) -> bool {
    v.cast::<pyo3::types::PyBytes>().is_ok()
        || v.cast::<pyo3::types::PyByteArray>().is_ok()
        || v.get_type().name().is_ok_and(|n| n == "memoryview")
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// An encoding error, with the record it happened in.
fn located(e: PyErr, record: u64) -> PyErr {
    Python::attach(|py| PyTypeError::new_err(format!("record {record}: {}", e.value(py))))
}

/// A JSON value: a string literal, or a float as the shortest number that reads back as
/// the same value (NaN and infinities as null).
fn write_json(v: &(impl serde::Serialize + ?Sized), out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, v).unwrap_or_default();
}
