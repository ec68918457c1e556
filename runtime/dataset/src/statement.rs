//! The read-only gate in front of the engines: one statement, and one that reads. The
//! engines enforce it as well (DuckDB attaches the dataset read-only, PostgreSQL runs the
//! query in a read-only transaction); the gate gives the clear message.

use crate::{DatasetError, Result};

/// Keywords a reading statement may start with.
const READING: &[&str] = &[
    "select",
    "with",
    "from",
    "values",
    "table",
    "show",
    "describe",
    "desc",
    "summarize",
    "explain",
];

/// PostgreSQL functions that reach the server's files or other servers; refused even in a
/// read-only transaction (a superuser's credentials would allow them).
const PG_OUTSIDE: &[&str] = &[
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "lo_import",
    "lo_export",
    "dblink",
    "pg_ls_logdir",
    "pg_ls_waldir",
];

/// Check that `sql` is a single reading statement; returns it without a trailing `;`.
pub(crate) fn reading(sql: &str) -> Result<String> {
    let code = code_only(sql);
    // `;` and keywords are looked for outside quoted identifiers too (`"a;b"` is a name)
    let bare = without_identifiers(&code);
    let trimmed = bare.trim().trim_end_matches(';').trim();
    if trimmed.is_empty() {
        return Err(DatasetError::Query("the query is empty".into()));
    }
    if trimmed.contains(';') {
        return Err(DatasetError::ReadOnly(
            "one statement at a time: the query holds several (`;`)".into(),
        ));
    }
    let first: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    if !READING.contains(&first.as_str()) {
        return Err(DatasetError::ReadOnly(format!(
            "queries are read-only: a statement starting with `{}` is not allowed (use \
             SELECT, WITH, FROM, VALUES, TABLE, SHOW, DESCRIBE, SUMMARIZE or EXPLAIN)",
            first.to_ascii_uppercase()
        )));
    }
    let lower = code.to_ascii_lowercase();
    if let Some(f) = PG_OUTSIDE.iter().find(|f| contains_word(&lower, f)) {
        return Err(DatasetError::ReadOnly(format!(
            "`{f}` reaches outside the dataset and is not allowed in a query"
        )));
    }
    let end = sql.trim_end().trim_end_matches(';').trim_end().len();
    Ok(sql[..end].trim_start().to_owned())
}

/// Whether `word` occurs in `text` as a whole identifier.
pub(crate) fn contains_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !ident(c));
        let after = text[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        before && after
    })
}

/// `code` with the insides of quoted identifiers blanked.
fn without_identifiers(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut inside = false;
    for c in code.chars() {
        if c == '"' {
            inside = !inside;
            out.push(c);
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// `sql` with comments removed and the insides of string literals blanked (quoted
/// identifiers kept, so a quoted function name is still seen), so keywords and `;` are
/// found only in code.
fn code_only(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                out.push_str("''");
                while let Some(d) = chars.next() {
                    if d == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                out.push(' ');
            }
            '$' if chars.peek() == Some(&'$') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '$' && d == '$' {
                        break;
                    }
                    prev = d;
                }
                out.push_str("''");
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_statements_pass_and_writes_are_refused() {
        assert_eq!(reading(" select 1 ; ").unwrap_or_default(), "select 1");
        assert!(reading("WITH x AS (select 1) select * from x").is_ok());
        assert!(reading("select ';' as semi -- ; drop\n").is_ok());
        assert!(reading("/* ; */ from t").is_ok());
        assert!(
            reading("select \"a;b\" from t").is_ok(),
            "a name may hold `;`"
        );
        assert!(matches!(
            reading("select \"pg_read_file\"('/etc/passwd')"),
            Err(DatasetError::ReadOnly(_))
        ));
        for bad in [
            "delete from t",
            "DROP TABLE t",
            "select 1; delete from t",
            "insert into t values (1)",
            "copy t to '/tmp/x'",
            "attach '/etc/x' as y",
            "select pg_read_file('/etc/passwd')",
        ] {
            assert!(
                matches!(reading(bad), Err(DatasetError::ReadOnly(_))),
                "{bad}"
            );
        }
        assert!(matches!(reading("  ;"), Err(DatasetError::Query(_))));
        assert!(!contains_word("my_pg_read_file_x", "pg_read_file"));
    }
}
