//! The syntax check the host runs on every page a connector hands over, before the page goes
//! into a package: a page that passes parses as [`crate::parse_page`] parses it (same
//! grammar, same UTF-8 and nesting rules, same number limits), without building its values,
//! so a sealed package never holds a page its load cannot read.

use rayon::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::NormalizeError;
use crate::page::{RecordsFormat, ndjson_lines, parse_page};

/// Check a JSON or NDJSON page; the error is the one [`parse_page`] gives for it.
pub fn check_page(bytes: &[u8], format: RecordsFormat) -> Result<(), NormalizeError> {
    let ok = match format {
        RecordsFormat::JsonArray => well_formed(bytes),
        RecordsFormat::Ndjson => ndjson_lines(bytes)
            .par_iter()
            .all(|(_, line)| well_formed(line)),
    };
    if ok {
        return Ok(());
    }
    // the slow path only on a bad page, for parse_page's exact wording
    parse_page(bytes, format).map(|_| ())
}

/// One JSON text, checked the way `serde_json::from_slice::<Value>` reads it.
fn well_formed(bytes: &[u8]) -> bool {
    // no separate UTF-8 pass: outside strings only ASCII parses, and every string and key is
    // read as a `&str`, which the deserializer validates
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Shape::deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// A JSON value read and dropped: every scalar, string and key is parsed as for a `Value`
/// (through `deserialize_any`, so the recursion limit holds), nothing is kept.
struct Shape;

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Shape>()?.is_some() {}
        Ok(Shape)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_key::<Key>()?.is_some() {
            map.next_value::<Shape>()?;
        }
        Ok(Shape)
    }
}

/// A map key, parsed as a string (escapes and all) as a `Value`'s keys are.
struct Key;

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Key, E> {
        Ok(Key)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `check_page` accepts exactly what `parse_page` parses, with the same error.
    fn agree(bytes: &[u8]) {
        for format in [RecordsFormat::JsonArray, RecordsFormat::Ndjson] {
            let parsed = parse_page(bytes, format)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let checked = check_page(bytes, format).map_err(|e| e.to_string());
            assert_eq!(
                checked,
                parsed,
                "{format:?}: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn the_check_accepts_what_the_parser_parses() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let cases: Vec<Vec<u8>> = vec![
            br#"[{"a": 1}, {"b": [1, 2, {"c": null}]}]"#.to_vec(),
            b"{\"a\": 1}\n\n  \n{\"b\": 2.5e400}\n".to_vec(),
            br#"{"a": "\ud800"}"#.to_vec(),
            b"{\"a\": \"raw \x01 control\"}".to_vec(),
            b"{\"a\": \"\xff\"}".to_vec(),
            br#"{"a": 1} trailing"#.to_vec(),
            br#"{"a": 1,}"#.to_vec(),
            br#"{"a" 1}"#.to_vec(),
            br#"{"\u00e9\n": "x\"y"}"#.to_vec(),
            br#"[1, "two", true, null, -0.0, 123456789012345678901234567890]"#.to_vec(),
            deep(127).into_bytes(),
            deep(128).into_bytes(),
            deep(129).into_bytes(),
            deep(100_000).into_bytes(),
            b"{\"a\": 1}\n{\"a\": \n".to_vec(),
            Vec::new(),
            b"   ".to_vec(),
        ];
        for case in cases {
            agree(&case);
        }
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for entry in std::fs::read_dir(corpus).into_iter().flatten().flatten() {
            agree(&std::fs::read(entry.path()).unwrap_or_default());
        }
    }

    #[test]
    fn arrow_pages_are_checked_whole() {
        use std::sync::Arc;

        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            (
                "name",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut good = Vec::new();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut good, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        assert!(crate::check_arrow_page(&good).is_ok());
        for cut in [0, 8, good.len() / 2, good.len() - 9] {
            let e = crate::check_arrow_page(&good[..cut]);
            assert!(e.is_err(), "a stream cut at byte {cut} passed");
        }
        // a string offset pointing past the data: caught by validation, not at load time
        let mut bad = good.clone();
        let tail = bad.len() - 16;
        for b in &mut bad[tail - 64..tail] {
            *b = 0xff;
        }
        assert!(crate::check_arrow_page(&bad).is_err());
        assert!(crate::check_arrow_page(b"[{\"a\": 1}]").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_get_the_parsers_verdict(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            agree(&bytes);
        }

        #[test]
        fn json_ish_text_gets_the_parsers_verdict(
            text in "[\\[\\]{}\",:0-9a-z\\\\ \n.eE+-]{0,80}"
        ) {
            agree(text.as_bytes());
        }
    }
}
