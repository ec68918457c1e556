//! Values stored as text (SQLite keeps decimals, dates and times so) parsed into the units
//! Arrow stores: unscaled decimals, microseconds, days since 1970-01-01.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// `12.345` at `scale` as an unscaled integer (rounded half away from zero).
pub(crate) fn unscaled(text: &str, scale: i8) -> Result<i128, String> {
    let bad = || format!("`{text}` is not a decimal number");
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = scale.max(0) as usize;
    let kept: String = frac.chars().take(scale).collect();
    let digits = format!("{int}{kept:0<scale$}");
    let mut v: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad())?
    };
    if frac.as_bytes().get(scale).is_some_and(|d| *d >= b'5') {
        v += 1;
    }
    if v.unsigned_abs() >= 10u128.pow(38) {
        return Err(format!("`{text}` does not fit 38 decimal digits"));
    }
    Ok(if neg { -v } else { v })
}

/// `2024-05-01 12:00:00[.ffffff]` (or with `T`) as microseconds since the Unix epoch.
pub(crate) fn timestamp_us(text: &str) -> Result<i64, String> {
    let t = text.trim().replace('T', " ");
    let t = t.trim_end_matches('Z');
    let parsed = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M"))
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| format!("`{text}` is not a timestamp (YYYY-MM-DD HH:MM:SS)"))?;
    Ok(parsed.and_utc().timestamp_micros())
}

/// `2024-05-01` as days since the Unix epoch.
pub(crate) fn date_days(text: &str) -> Result<i32, String> {
    let d = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)"))?;
    Ok((d - NaiveDate::default()).num_days() as i32)
}

/// `12:30:00[.ffffff]` as microseconds since midnight.
pub(crate) fn time_us(text: &str) -> Result<i64, String> {
    let t = NaiveTime::parse_from_str(text.trim(), "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M"))
        .map_err(|_| format!("`{text}` is not a time (HH:MM:SS)"))?;
    Ok(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_parse_to_arrow_units() {
        assert_eq!(unscaled("12.345", 2), Ok(1235));
        assert_eq!(unscaled("-0.5", 0), Ok(-1));
        assert_eq!(unscaled("7", 3), Ok(7000));
        assert!(unscaled("1e5", 0).is_err());
        assert_eq!(timestamp_us("1970-01-01 00:00:01.5"), Ok(1_500_000));
        assert_eq!(timestamp_us("1970-01-02T00:00:00Z"), Ok(86_400_000_000));
        assert_eq!(date_days("1970-01-11"), Ok(10));
        assert_eq!(time_us("00:01:00.25"), Ok(60_250_000));
        assert!(date_days("yesterday").is_err());
    }
}
