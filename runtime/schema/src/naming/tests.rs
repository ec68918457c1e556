//! Checks of the snake_case convention against dlt's observed outputs.

use super::*;

fn check(input: &str, expect: &str) {
    assert_eq!(normalize_identifier(input), expect, "input `{input}`");
}

#[test]
fn dlt_table_of_names() {
    check("CamelCase", "camel_case");
    check("camelCaseID", "camel_case_id");
    check("HTTPResponse", "http_response");
    check("userID2Name", "user_id2_name");
    check("with space", "with_space");
    check("ümlaut", "_mlaut");
    check("Über Größe", "_ber_gr_e");
    check("1abc", "_1abc");
    check("123", "_123");
    check("a-b+c*d@e|f", "a_bxcxdaelf");
    check("trail_", "trailx");
    check("price$", "pricex");
    check("$price", "_price");
    check("x.y", "x_y");
    check("日本語", "x");
    check("A", "a");
    check("ABC", "abc");
    check("", "_empty");
    check("  ", "_empty");
    check("a__b", "a_b");
    check("__dunder", "_dunder");
    check("trail__", "trailxx");
}

#[test]
fn paths() {
    assert_eq!(normalize_path("trail__", 1000), "trail");
    assert_eq!(normalize_path("a__b", 1000), "a__b");
    assert_eq!(normalize_path("a___b", 1000), "a___b");
    assert_eq!(normalize_path("__dunder", 1000), "dunder");
    // a blank fragment is dropped, as dlt's break_path drops it (dlt 1.31's output)
    assert_eq!(normalize_path("_HTTP/\u{1f389}__ ", 1000), "_httpx");
    assert_eq!(normalize_path("\u{e9}%b}\u{1f389}__ ", 1000), "_bx");
}

#[test]
fn shortening_matches_dlt() {
    let long = "very_long_column_name_".repeat(5);
    assert_eq!(
        normalize_path(&long, 63),
        "very_long_column_name_very_lovmjd3g_name_very_long_column_namex"
    );
}

#[test]
fn a_long_fragment_is_shortened_with_the_tag_of_its_stripped_text() {
    // dlt 1.31: normalize_identifier shortens each fragment (tag of the stripped fragment)
    // before normalize_path shortens the whole (tag of the raw path)
    let fragment = " user_".repeat(17);
    assert_eq!(
        normalize_path(&fragment, 63),
        "user_user_user_user_user_userd2qxawer_user_user_user_user_userx"
    );
    assert_eq!(
        normalize_path(&format!("{fragment}__b"), 63),
        "user_user_user_user_user_user62o5causer_user_user_user_user___b"
    );
}
