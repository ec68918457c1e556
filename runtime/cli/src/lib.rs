//! The command line's library side: what the binary, the Python package and the integration
//! tests share — which component a pipeline runs (`component`), where Sluice keeps its data,
//! and how an error reads.

use std::path::PathBuf;

pub mod component;

/// `$SLUICE_DATA_DIR`, else `~/.sluice`: pipelines' working directories and caches.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SLUICE_DATA_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".sluice"))
        .unwrap_or_else(|| PathBuf::from(".sluice"))
}

/// The error and its causes, each cause once: library errors already quote their source in
/// their own message, so a cause whose text the message holds is not repeated.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let inner = std::io::Error::other("disk full");
        let outer = anyhow::Error::new(inner)
            .context("writing page 3: disk full")
            .context("pipeline `p` failed");
        assert_eq!(
            super::error_chain(&*outer),
            "pipeline `p` failed: writing page 3: disk full"
        );
    }
}
