//! Guest text made safe to print: control characters (ANSI escapes, carriage returns, line
//! breaks, NUL) and the Unicode controls that reorder or hide text (bidi overrides, zero-width
//! marks) are shown escaped, so a connector's log line or error can neither paint the user's
//! terminal, overwrite a line, nor fake extra lines in the output or in `--json`.

use std::fmt::Write as _;

/// Whether `c` changes how surrounding text is shown rather than being text itself.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // zero-width no-break space
        )
}

/// `text` with every unsafe character escaped (`\n`, `\r`, `\t`, `\u{1b}`, …).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_unsafe_char) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A guest-chosen value for an error message: escaped, and cut to `max` characters with its
/// full length said, so a 10 KB name does not become a 10 KB error.
pub fn shown(value: &str, max: usize) -> String {
    let escaped = escape_controls(value);
    if escaped.chars().count() <= max {
        return escaped;
    }
    let head: String = escaped.chars().take(max).collect();
    format!("{head}… ({} bytes)", value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_and_text_kept() {
        assert_eq!(escape_controls("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_controls("ok\x1b[2J\rERROR: fake\nline\0"),
            "ok\\u{1b}[2J\\rERROR: fake\\nline\\u{0}"
        );
        assert_eq!(
            escape_controls("a\u{202E}b\u{200B}"),
            "a\\u{202e}b\\u{200b}"
        );
        assert_eq!(escape_controls("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "x".repeat(10_240);
        assert_eq!(shown(&long, 8), "xxxxxxxx… (10240 bytes)");
        assert_eq!(shown("a/b", 8), "a/b");
    }
}
