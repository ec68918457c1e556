//! Detection and coercion checked against dlt's observed behaviour (reference §2.3, §2.4).

use super::*;

fn check(cell: Cell, to: DataType, expect: Option<Typed>) {
    assert_eq!(coerce(&cell, to, 0, true), expect, "{cell:?} -> {to}");
}

#[test]
fn iso_detection() {
    for yes in [
        "2024-01-01T10:00:00",
        "2024-01-01 10:00:00",
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00+02:00",
        "20240101T100000Z",
        "2024-01-15T10:00",
    ] {
        assert!(is_iso_timestamp(yes), "{yes}");
    }
    for no in [
        "2024-01-01",
        "2024",
        "2024/01/15",
        "10:00:00",
        "Jan 1 2024",
        "1700000000",
        "",
    ] {
        assert!(!is_iso_timestamp(no), "{no}");
    }
}

#[test]
fn offsets_convert_to_utc() {
    let a = parse_timestamp("2023-05-01T10:00:00+05:30");
    let b = parse_timestamp("2023-05-01T04:30:00Z");
    assert_eq!(a, b);
    assert!(a.is_some());
}

#[test]
fn coercions_like_dlt() {
    check(
        Cell::Str("2".into()),
        DataType::Bigint,
        Some(Typed::Bigint(2)),
    );
    check(Cell::Str("hello".into()), DataType::Bigint, None);
    check(Cell::Int(5), DataType::Text, Some(Typed::Text("5".into())));
    check(
        Cell::Bool(true),
        DataType::Text,
        Some(Typed::Text("True".into())),
    );
    check(Cell::Int(2), DataType::Double, Some(Typed::Double(2.0)));
    check(Cell::Str("abc".into()), DataType::Double, None);
    check(Cell::Str("not a date".into()), DataType::Timestamp, None);
    check(
        Cell::Int(1_700_000_000),
        DataType::Timestamp,
        Some(Typed::Timestamp(1_700_000_000_000_000)),
    );
    check(Cell::Float(2.0), DataType::Bigint, Some(Typed::Bigint(2)));
    check(Cell::Float(2.5), DataType::Bigint, None);
    check(
        Cell::Str("yes".into()),
        DataType::Bool,
        Some(Typed::Bool(true)),
    );
    check(Cell::Str("x1".into()), DataType::Decimal, None);
}

#[test]
fn big_integers_become_decimal() {
    let big = Cell::BigInt("50719297655545113494805".into());
    assert_eq!(infer_type(&big), Some((DataType::Decimal, Some((38, 0)))));
    assert_eq!(
        coerce(&big, DataType::Decimal, 0, true),
        Some(Typed::Decimal(50719297655545113494805))
    );
    let huge = Cell::BigInt("1".repeat(40));
    assert_eq!(infer_type(&huge), Some((DataType::Text, None)));
}

#[test]
fn decimals_scale() {
    assert_eq!(parse_decimal("1.25", 2), Some(125));
    assert_eq!(parse_decimal("-1.255", 2), Some(-126));
    assert_eq!(parse_decimal("3", 9), Some(3_000_000_000));
    assert_eq!(parse_decimal("1e2", 0), Some(100));
}

#[test]
fn python_float_text() {
    assert_eq!(py_float(7.0), "7.0");
    assert_eq!(py_float(1.5), "1.5");
    assert_eq!(py_float(1e20), "1e+20");
}

/// The hand-read common shape gives what chrono's general chain gives, for every string of
/// timestamp-like characters (and refuses nothing the chain would read otherwise: a refusal
/// falls back to the chain).
mod strict_matches_general {
    use super::*;
    use proptest::prelude::*;

    fn agree(s: &str) {
        let t = s.trim();
        if let Some(fast) = strict_timestamp(t.as_bytes()) {
            assert_eq!(Some(fast), parse_timestamp_general(t), "{s:?}");
        }
    }

    #[test]
    fn hand_picked() {
        for s in [
            "2024-01-01T10:00:00",
            "2024-01-01 10:00:00",
            "2024-01-01T10:00:00Z",
            "2024-01-01T10:00:00.5Z",
            "2024-01-01T10:00:00.123456789+05:30",
            "2024-01-01T10:00:00.1234567891Z",
            "2024-02-29T23:59:59-0800",
            "2023-02-29T00:00:00",
            "2024-01-01T10:00",
            "2024-01-01T10:00Z",
            "2024-01-01T10:00+01:00",
            "2024-01-01T10:00+0100",
            "2024-01-01T24:00:00",
            "2024-01-01T23:59:60Z",
            "1969-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00Z",
            "2024-01-01T10:00:00+24:00",
            "2024-01-01T10:00:00.Z",
            "2024-01-01t10:00:00z",
        ] {
            agree(s);
            assert_eq!(
                parse_timestamp(s),
                parse_timestamp_general(s.trim()),
                "{s:?}"
            );
        }
        assert!(strict_timestamp(b"2024-01-01 10:00:00").is_some());
        assert!(strict_timestamp(b"2024-01-01T10:00:00.123+05:30").is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn any_timestamp_like_text(s in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9](:[0-6][0-9](\\.[0-9]{0,11})?)?(Z|[+-][0-2][0-9]:?[0-6][0-9])?") {
            agree(&s);
        }

        #[test]
        fn any_text(s in "[0-9T:. +Z-]{10,32}") {
            agree(&s);
        }
    }
}
