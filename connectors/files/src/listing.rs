//! The files a resource reads: literal paths as given, glob patterns (`data/**/*.csv`: `*` and
//! `?` within a name, `[a-z]` / `[!x]` classes, `**` for any depth) expanded by walking the
//! granted directory below the pattern's fixed part, each file with its size and modification
//! time (a bucket grant's keys are matched the same way, listed through the host, see
//! `store`). Incremental resources read files oldest first and skip those an earlier run read
//! (dlt's `filesystem` pattern: only files newer than the last run's).

use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::{Error, ErrorKind, error};

use crate::store::{Stat, Store};

/// A file to read, as listed before reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    /// the path below the pattern's fixed part (a literal path: its file name), as dlt's
    /// `file_name` is relative to the bucket URL
    pub name: String,
    /// microseconds since the Unix epoch
    pub modified_us: i64,
    pub size: u64,
}

impl FileEntry {
    fn new(path: String, name: String, stat: &Stat) -> FileEntry {
        FileEntry {
            path,
            name,
            modified_us: stat.modified_us,
            size: stat.size,
        }
    }
}

/// Microseconds since the Unix epoch as ISO 8601 in UTC (`2024-05-01T10:00:00.250000+00:00`).
pub fn iso_utc(us: i64) -> String {
    let (days, rem) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
    // Howard Hinnant's days → civil date
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = rem / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % 1_000_000
    )
}

pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every file `patterns` name, in path order (a file named twice is read once).
pub fn expand(store: &Store, patterns: &[String]) -> Result<Vec<FileEntry>, Error> {
    let mut out: Vec<FileEntry> = Vec::new();
    for pattern in patterns {
        if !is_glob(pattern) {
            let name = pattern.rsplit('/').next().unwrap_or(pattern).to_owned();
            out.push(FileEntry::new(pattern.clone(), name, &store.stat(pattern)?));
            continue;
        }
        let segments: Vec<&str> = pattern.split('/').collect();
        let fixed = segments.iter().take_while(|s| !is_glob(s)).count();
        let rest = &segments[fixed..];
        if *store != Store::Disk {
            for (path, name, stat) in store.objects_below(&segments[..fixed].join("/"))? {
                if matches(rest, &name.split('/').collect::<Vec<_>>()) {
                    out.push(FileEntry::new(path, name, &stat));
                }
            }
            continue;
        }
        let base = match segments[..fixed].join("/") {
            b if b.is_empty() && pattern.starts_with('/') => "/".to_owned(),
            b if b.is_empty() => ".".to_owned(),
            b => b,
        };
        let mut found = Vec::new();
        walk(&base, "", rest, &mut found)?;
        for (path, name) in found {
            let stat = store.stat(&path)?;
            out.push(FileEntry::new(path, name, &stat));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Files under `dir` (at `rel` below the base) whose relative path matches `pattern`.
fn walk(
    dir: &str,
    rel: &str,
    pattern: &[&str],
    found: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| error(ErrorKind::Config, format!("cannot list `{dir}`: {e}")))?;
    let mut names: Vec<(String, bool)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let kind = e.file_type().ok()?;
            (kind.is_dir() || kind.is_file())
                .then(|| (e.file_name().to_string_lossy().into_owned(), kind.is_dir()))
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        let rel_name = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if is_dir {
            walk(&path, &rel_name, pattern, found)?;
        } else if matches(pattern, &rel_name.split('/').collect::<Vec<_>>()) {
            found.push((path, rel_name));
        }
    }
    Ok(())
}

/// Whether path segments `path` match pattern segments `pattern`.
fn matches(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            matches(&pattern[1..], path) || (!path.is_empty() && matches(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => {
            segment_matches(p.as_bytes(), s.as_bytes()) && matches(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

/// One path segment against one pattern segment (`*`, `?`, `[…]`).
fn segment_matches(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| segment_matches(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && segment_matches(&p[1..], &s[1..]),
        Some(b'[') => match (class(&p[1..]), s.first()) {
            (Some((set, negated, used)), Some(c)) => {
                set.contains(c) != negated && segment_matches(&p[1 + used..], &s[1..])
            }
            (None, Some(b'[')) => segment_matches(&p[1..], &s[1..]),
            _ => false,
        },
        Some(c) => s.first() == Some(c) && segment_matches(&p[1..], &s[1..]),
    }
}

/// The bytes of a `[…]` class (after its `[`), whether it is negated, and the pattern bytes
/// it takes up to and including its `]`; `None` when it never closes.
fn class(p: &[u8]) -> Option<(Vec<u8>, bool, usize)> {
    let negated = matches!(p.first(), Some(b'!' | b'^'));
    let start = usize::from(negated);
    let close = p.iter().skip(start + 1).position(|b| *b == b']')? + start + 1;
    let body = &p[start..close];
    let mut set = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            set.extend(body[i]..=body[i + 2]);
            i += 3;
        } else {
            set.push(body[i]);
            i += 1;
        }
    }
    Some((set, negated, close + 1))
}

/// What an incremental resource remembers: the newest modification time it read, and the
/// files it read at exactly that time (a file written in the same microsecond later is new).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub modified_us: i64,
    pub names: Vec<String>,
}

impl Seen {
    pub fn from_state(state: Option<&Value>) -> Seen {
        let Some(s) = state else {
            return Seen::default();
        };
        Seen {
            modified_us: s["last_modified_us"].as_i64().unwrap_or(0),
            names: s["read_at_last_modified"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn state(&self) -> Value {
        json!({"last_modified_us": self.modified_us, "read_at_last_modified": self.names})
    }

    /// Whether `f` is new to this state.
    pub fn is_new(&self, f: &FileEntry) -> bool {
        f.modified_us > self.modified_us
            || (f.modified_us == self.modified_us && !self.names.contains(&f.path))
    }

    /// The state after reading `f` (files are read oldest first).
    pub fn read(&mut self, f: &FileEntry) {
        if f.modified_us > self.modified_us {
            self.modified_us = f.modified_us;
            self.names.clear();
        }
        self.names.push(f.path.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        matches(
            &p.split('/').collect::<Vec<_>>(),
            &s.split('/').collect::<Vec<_>>(),
        )
    }

    #[test]
    fn globs_match_as_shells_match_them() {
        assert!(m("*.csv", "a.csv"));
        assert!(!m("*.csv", "a.csv.gz"));
        assert!(!m("*.csv", "x/a.csv"), "* stays within a name");
        assert!(m("**/*.csv", "a.csv") && m("**/*.csv", "x/y/a.csv"));
        assert!(m("2024/**/part-?.csv", "2024/01/02/part-1.csv"));
        assert!(m("[a-c]*.tsv", "b1.tsv") && !m("[a-c]*.tsv", "d1.tsv"));
        assert!(m("[!a]?.json", "b1.json") && !m("[!a]?.json", "a1.json"));
        assert!(m("x[.json", "x[.json"), "an unclosed class is a literal");
    }

    #[test]
    fn times_print_as_iso_utc() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso_utc(1_714_557_600_250_000),
            "2024-05-01T10:00:00.250000+00:00"
        );
        assert_eq!(
            iso_utc(951_782_400_000_000),
            "2000-02-29T00:00:00.000000+00:00"
        );
        assert_eq!(iso_utc(-1), "1969-12-31T23:59:59.999999+00:00");
    }

    #[test]
    fn incremental_state_takes_files_newer_or_unread_at_the_last_time() {
        let f = |p: &str, t: i64| FileEntry {
            path: p.into(),
            name: p.into(),
            modified_us: t,
            size: 1,
        };
        let mut seen = Seen::default();
        seen.read(&f("a", 5));
        seen.read(&f("b", 7));
        seen.read(&f("c", 7));
        let back = Seen::from_state(Some(&seen.state()));
        assert_eq!(back, seen);
        assert!(!back.is_new(&f("a", 5)) && !back.is_new(&f("b", 7)));
        assert!(back.is_new(&f("d", 7)) && back.is_new(&f("a", 8)));
        assert!(!back.is_new(&f("z", 6)), "older than the last run's newest");
    }
}
