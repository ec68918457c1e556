//! Host-side incremental cursors (dlt's `dlt.sources.incremental`, reference §6.3), so every
//! connector gets correct incremental loading for free: the host computes the window from the
//! committed state, hands it to the connector to shape its requests, filters the records
//! outside it, deduplicates the boundary and keeps the cursor state that commits with the rows.
//!
//! Cursor values are typed: numbers compare as numbers (`"10"` is not below `"9"`: dlt#2169),
//! ISO timestamps compare as instants whatever their time zone, other strings as text. The
//! boundary dedup set holds only the rows at the last value and is capped (dlt#2580 lets it grow
//! without bound).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most boundary hashes kept in state; past it, further rows at the very same cursor value
/// are not remembered (and could load again), and the run says so.
pub const MAX_BOUNDARY_HASHES: usize = 10_000;

/// How a resource's cursor works (from the connector's spec or the pipeline file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSpec {
    /// dot path into each raw record: `updated_at`, `meta.ts`, `items[0].at` (`$.` optional)
    pub cursor_path: String,
    pub initial_value: Option<Value>,
    /// a stateless backfill `[initial_value, end_value)`: state is left untouched
    pub end_value: Option<Value>,
    /// `max` (default) or `min`
    #[serde(default)]
    pub last_value_func: LastValueFunc,
    /// re-read this much behind the last value: seconds for timestamps, units for numbers
    pub lag: Option<f64>,
    /// `raise` (default), `include` or `exclude`
    #[serde(default)]
    pub on_cursor_missing: OnCursorMissing,
    /// dedup key columns of the boundary; the resource's primary key, else the whole row
    pub primary_key: Option<Vec<String>>,
}

/// Which end of the cursor range moves forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastValueFunc {
    /// cursor values grow: keep rows at or after the last maximum
    #[default]
    Max,
    /// cursor values shrink: keep rows at or before the last minimum
    Min,
}

/// What happens to a record without a value at the cursor path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCursorMissing {
    /// fail the extraction, naming the record
    #[default]
    Raise,
    /// keep the record
    Include,
    /// drop the record
    Exclude,
}

impl IncrementalSpec {
    /// A cursor on `path` with dlt's defaults.
    pub fn on(path: &str) -> Self {
        IncrementalSpec {
            cursor_path: path.to_owned(),
            initial_value: None,
            end_value: None,
            last_value_func: LastValueFunc::Max,
            lag: None,
            on_cursor_missing: OnCursorMissing::Raise,
            primary_key: None,
        }
    }

    /// Check the options, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.cursor_path.trim().is_empty() {
            return Err("incremental.cursor_path is empty".into());
        }
        for v in [&self.initial_value, &self.end_value].into_iter().flatten() {
            Cursor::of(v).map_err(|e| format!("incremental value {v}: {e}"))?;
        }
        Ok(())
    }

    fn is_min(&self) -> bool {
        self.last_value_func == LastValueFunc::Min
    }
}

/// A typed cursor value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cursor {
    Number(f64),
    /// UTC microseconds
    Instant(i64),
    Text(String),
}

impl Cursor {
    /// Type a JSON value: numbers (and numeric strings are NOT numbers: a string stays text
    /// unless it is an ISO timestamp).
    pub fn of(v: &Value) -> Result<Cursor, String> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .map(Cursor::Number)
                .ok_or_else(|| format!("number {n} is out of range")),
            Value::String(s) => Ok(match sluice_normalize::parse_timestamp(s) {
                Some(us) if sluice_normalize::is_iso_timestamp(s) || s.len() == 10 => {
                    Cursor::Instant(us)
                }
                _ => Cursor::Text(s.clone()),
            }),
            Value::Null => Err("the cursor is null".into()),
            other => Err(format!("a cursor cannot be {}", kind(other))),
        }
    }

    fn compare(&self, other: &Cursor) -> Result<Ordering, String> {
        match (self, other) {
            (Cursor::Number(a), Cursor::Number(b)) => Ok(a.total_cmp(b)),
            (Cursor::Instant(a), Cursor::Instant(b)) => Ok(a.cmp(b)),
            (Cursor::Text(a), Cursor::Text(b)) => Ok(a.cmp(b)),
            (a, b) => Err(format!(
                "cursor values of different types cannot be compared: {a:?} and {b:?}"
            )),
        }
    }

    /// `self` moved back by `lag` (towards older values for `max`).
    fn lagged(&self, lag: f64, min: bool) -> Cursor {
        let sign = if min { 1.0 } else { -1.0 };
        match self {
            Cursor::Number(n) => Cursor::Number(n + sign * lag),
            Cursor::Instant(us) => Cursor::Instant(us + (sign * lag * 1e6) as i64),
            Cursor::Text(t) => Cursor::Text(t.clone()),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
        Value::Bool(_) => "a boolean",
        _ => "this value",
    }
}

/// The value at a dot path (`a.b`, `a[0].b`, `$.a`).
pub fn at_path<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim().trim_start_matches("$.").trim_start_matches('$');
    let mut cur = record;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, idx) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// The cursor of one extraction: window, filter, boundary dedup, next state.
pub struct Tracker {
    spec: IncrementalSpec,
    /// rows must be at or past this (in the func's direction)
    start: Option<Cursor>,
    end: Option<Cursor>,
    /// hashes of rows at `start` committed by the previous run
    seen: Vec<String>,
    dedup: bool,
    /// the state as committed (kept when the range is stateless)
    prior: Value,
    last: Option<(Cursor, Value)>,
    last_hashes: Vec<String>,
    overflow: bool,
    /// a kept row's cursor was behind the last value: rows do not come in cursor order
    backwards: bool,
    pub kept: u64,
    pub filtered: u64,
}

impl Tracker {
    /// Start from the committed incremental state of the cursor (dlt's
    /// `resources.<r>.incremental.<cursor_path>`).
    pub fn new(spec: IncrementalSpec, state: Option<&Value>) -> Result<Tracker, String> {
        spec.validate()?;
        let prior = state.cloned().unwrap_or(Value::Null);
        let stateless = spec.end_value.is_some();
        let last_value = if stateless {
            None
        } else {
            prior.get("last_value").filter(|v| !v.is_null()).cloned()
        };
        let start_value = last_value.clone().or_else(|| spec.initial_value.clone());
        let mut start = match &start_value {
            Some(v) => Some(Cursor::of(v)?),
            None => None,
        };
        if let (Some(lag), Some(s)) = (spec.lag, &start) {
            start = Some(s.lagged(lag, spec.is_min()));
        }
        let end = match &spec.end_value {
            Some(v) => Some(Cursor::of(v)?),
            None => None,
        };
        let seen: Vec<String> = if last_value.is_some() {
            prior
                .get("unique_hashes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let dedup = spec.lag.is_none() && !stateless;
        let last = match (&last_value, &start) {
            (Some(v), Some(_)) => Some((Cursor::of(v)?, v.clone())),
            _ => None,
        };
        Ok(Tracker {
            last_hashes: if last.is_some() {
                seen.clone()
            } else {
                Vec::new()
            },
            spec,
            start,
            end,
            seen,
            dedup,
            prior,
            last,
            overflow: false,
            backwards: false,
            kept: 0,
            filtered: 0,
        })
    }

    /// The window handed to the connector, as JSON texts (start, end, last).
    pub fn window(&self) -> (Option<String>, Option<String>, Option<String>) {
        let start = self
            .prior
            .get("last_value")
            .filter(|v| !v.is_null() && self.spec.end_value.is_none())
            .or(self.spec.initial_value.as_ref())
            .map(|v| match (&self.start, self.spec.lag) {
                (Some(c), Some(_)) => cursor_json(c, v).to_string(),
                _ => v.to_string(),
            });
        let end = self.spec.end_value.as_ref().map(Value::to_string);
        let last = self
            .prior
            .get("last_value")
            .filter(|v| !v.is_null())
            .map(Value::to_string);
        (start, end, last)
    }

    fn in_range(&self, c: &Cursor) -> Result<bool, String> {
        let min = self.spec.is_min();
        if let Some(s) = &self.start {
            let o = c.compare(s)?;
            if (!min && o == Ordering::Less) || (min && o == Ordering::Greater) {
                return Ok(false);
            }
        }
        if let Some(e) = &self.end {
            let o = c.compare(e)?;
            if (!min && o != Ordering::Less) || (min && o != Ordering::Greater) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn hash(&self, record: &Value, pk: &[String]) -> String {
        let keyed = if pk.is_empty() {
            record.clone()
        } else {
            Value::Array(
                pk.iter()
                    .map(|k| at_path(record, k).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        };
        let digest = sluice_schema::shake128::<9>(sluice_schema::canonical_json(&keyed).as_bytes());
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(digest)
    }

    /// Keep or drop one record; `pk` is the dedup key (empty: the whole row). Errors name the
    /// problem; the caller adds resource, page and record index.
    pub fn keep(&mut self, record: &Value, pk: &[String]) -> Result<bool, String> {
        let Some(raw) = at_path(record, &self.spec.cursor_path).filter(|v| !v.is_null()) else {
            return match self.spec.on_cursor_missing {
                OnCursorMissing::Include => {
                    self.kept += 1;
                    Ok(true)
                }
                OnCursorMissing::Exclude => {
                    self.filtered += 1;
                    Ok(false)
                }
                OnCursorMissing::Raise => Err(format!(
                    "the record has no value at cursor path `{}` (set incremental.on_cursor_missing to `include` or `exclude`)",
                    self.spec.cursor_path
                )),
            };
        };
        let c = Cursor::of(raw).map_err(|e| format!("cursor `{}`: {e}", self.spec.cursor_path))?;
        if !self.in_range(&c)? {
            self.filtered += 1;
            return Ok(false);
        }
        let pk = self.spec.primary_key.clone().unwrap_or_else(|| pk.to_vec());
        let at_start = self
            .start
            .as_ref()
            .map(|s| c.compare(s).map(|o| o == Ordering::Equal))
            .transpose()?
            .unwrap_or(false);
        let mut hash = None;
        if self.dedup && at_start && !self.seen.is_empty() {
            let h = self.hash(record, &pk);
            if self.seen.contains(&h) {
                self.filtered += 1;
                return Ok(false);
            }
            hash = Some(h);
        }
        // move the last value and remember the rows sitting on it
        let ord = match &self.last {
            None => Ordering::Greater,
            Some((l, _)) => {
                let o = c.compare(l)?;
                if self.spec.is_min() { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Less && self.dedup {
            let h = hash.unwrap_or_else(|| self.hash(record, &pk));
            if ord == Ordering::Greater {
                self.last_hashes.clear();
                self.overflow = false;
            }
            if self.last_hashes.len() < MAX_BOUNDARY_HASHES {
                if !self.last_hashes.contains(&h) {
                    self.last_hashes.push(h);
                }
            } else {
                self.overflow = true;
            }
        }
        if ord == Ordering::Greater {
            self.last = Some((c, raw.clone()));
        }
        self.backwards |= ord == Ordering::Less;
        self.kept += 1;
        Ok(true)
    }

    /// Whether a kept row came behind the last value so far: its state (the last value) does
    /// not say where a failed extraction stopped.
    pub fn went_backwards(&self) -> bool {
        self.backwards
    }

    /// Whether the boundary set hit its cap (some rows at the last value are not remembered).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The cursor state to commit (`None`: a stateless range leaves it as it was).
    pub fn state(&self) -> Option<Value> {
        if self.spec.end_value.is_some() {
            return None;
        }
        // no new rows: the committed state stands as it is (an empty run changes nothing)
        if self.kept == 0 {
            return self.prior.is_object().then(|| self.prior.clone());
        }
        let last = self.last.as_ref().map(|(_, v)| v.clone());
        let initial = self
            .prior
            .get("initial_value")
            .cloned()
            .or_else(|| self.spec.initial_value.clone())
            .unwrap_or(Value::Null);
        let start = self
            .prior
            .get("last_value")
            .cloned()
            .or_else(|| self.spec.initial_value.clone())
            .unwrap_or(Value::Null);
        Some(json!({
            "initial_value": initial,
            "last_value": last.unwrap_or(Value::Null),
            "unique_hashes": self.last_hashes,
            "start_value": start,
        }))
    }
}

fn cursor_json(c: &Cursor, original: &Value) -> Value {
    match c {
        Cursor::Number(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or_else(|| original.clone()),
        Cursor::Instant(us) => chrono::DateTime::from_timestamp_micros(*us)
            .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
            .unwrap_or_else(|| original.clone()),
        Cursor::Text(_) => original.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &mut Tracker, items: &[Value]) -> Vec<i64> {
        items
            .iter()
            .filter(|r| t.keep(r, &["id".to_owned()]).expect("keep"))
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    }

    #[test]
    fn dlt_max_example_with_boundary_dedup() {
        let mut spec = IncrementalSpec::on("c");
        spec.initial_value = Some(json!(10));
        let mut t = Tracker::new(spec.clone(), None).expect("tracker");
        let r1 = [
            json!({"id": 1, "c": 5}),
            json!({"id": 2, "c": 10}),
            json!({"id": 3, "c": 12}),
            json!({"id": 4, "c": 12}),
        ];
        assert_eq!(run(&mut t, &r1), vec![2, 3, 4]);
        let st = t.state().expect("state");
        assert_eq!(st["last_value"], json!(12));
        assert_eq!(st["unique_hashes"].as_array().map(Vec::len), Some(2));
        let mut t = Tracker::new(spec, Some(&st)).expect("tracker");
        assert_eq!(t.window().0.as_deref(), Some("12"));
        let r2 = [
            json!({"id": 3, "c": 12}),
            json!({"id": 4, "c": 12}),
            json!({"id": 5, "c": 12}),
            json!({"id": 6, "c": 11}),
            json!({"id": 7, "c": 13}),
        ];
        assert_eq!(run(&mut t, &r2), vec![5, 7]);
        assert_eq!(t.state().expect("state")["last_value"], json!(13));
    }

    #[test]
    fn end_value_is_a_stateless_range() {
        let mut spec = IncrementalSpec::on("c");
        spec.initial_value = Some(json!(1));
        spec.end_value = Some(json!(5));
        let mut t = Tracker::new(spec, None).expect("tracker");
        let items = [
            json!({"id": 1, "c": 1}),
            json!({"id": 3, "c": 3}),
            json!({"id": 5, "c": 5}),
        ];
        assert_eq!(run(&mut t, &items), vec![1, 3]);
        assert_eq!(t.state(), None);
    }

    #[test]
    fn timestamps_compare_as_instants_and_numbers_as_numbers() {
        let a = Cursor::of(&json!("2024-01-01T10:00:00+02:00")).expect("ts");
        let b = Cursor::of(&json!("2024-01-01T09:00:00Z")).expect("ts");
        assert_eq!(a.compare(&b), Ok(Ordering::Less));
        let n = Cursor::of(&json!(10)).expect("n");
        assert_eq!(n.compare(&Cursor::Number(9.0)), Ok(Ordering::Greater));
        assert!(Cursor::of(&json!("10")).expect("t").compare(&n).is_err());
    }

    #[test]
    fn min_func_lag_and_missing_cursors() {
        let mut spec = IncrementalSpec::on("meta.c");
        spec.last_value_func = LastValueFunc::Min;
        spec.initial_value = Some(json!(10));
        let mut t = Tracker::new(spec.clone(), None).expect("tracker");
        let items = [
            json!({"id": 1, "meta": {"c": 11}}),
            json!({"id": 2, "meta": {"c": 7}}),
        ];
        assert_eq!(run(&mut t, &items), vec![2]);
        assert!(t.keep(&json!({"id": 3}), &[]).is_err());
        spec.on_cursor_missing = OnCursorMissing::Exclude;
        let mut t = Tracker::new(spec.clone(), None).expect("tracker");
        assert_eq!(t.keep(&json!({"id": 3}), &[]), Ok(false));
        // lag re-reads behind the last value
        let mut lagged = IncrementalSpec::on("c");
        lagged.lag = Some(2.0);
        let st = json!({"last_value": 10, "unique_hashes": []});
        let mut t = Tracker::new(lagged, Some(&st)).expect("tracker");
        assert_eq!(
            run(
                &mut t,
                &[json!({"id": 1, "c": 8}), json!({"id": 2, "c": 7})]
            ),
            vec![1]
        );
    }

    #[test]
    fn boundary_hashes_are_capped() {
        let mut t = Tracker::new(IncrementalSpec::on("c"), None).expect("tracker");
        for i in 0..(MAX_BOUNDARY_HASHES + 5) {
            assert!(
                t.keep(&json!({"id": i, "c": 1}), &["id".into()])
                    .expect("keep")
            );
        }
        assert!(t.overflowed());
        let st = t.state().expect("state");
        assert_eq!(
            st["unique_hashes"].as_array().map(Vec::len),
            Some(MAX_BOUNDARY_HASHES)
        );
    }
}
