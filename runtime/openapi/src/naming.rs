//! Names of resources and secrets: snake_case, from an `operationId` or the path.

/// `text` in snake_case: ASCII letters and digits, `_` between words (camelCase split), no
/// leading digit, never empty.
pub fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c.to_ascii_lowercase());
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_owned();
    match out.chars().next() {
        None => "resource".into(),
        Some(c) if c.is_ascii_digit() => format!("r_{out}"),
        Some(_) => out,
    }
}

/// The literal segments of a path (no placeholders, no file extension).
pub fn literal_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.contains('{'))
        .map(|s| s.split('.').next().unwrap_or(s).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A name not in `taken`: `base`, else `base_2`, `base_3`, …
pub fn unique(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_owned();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case() {
        assert_eq!(snake("berry-firmness_list"), "berry_firmness_list");
        assert_eq!(snake("getUserById"), "get_user_by_id");
        assert_eq!(snake("personalAccessToken"), "personal_access_token");
        assert_eq!(snake("2fa"), "r_2fa");
        assert_eq!(snake("//"), "resource");
        assert_eq!(literal_segments("/v0/item/{id}.json"), vec!["v0", "item"]);
        assert_eq!(literal_segments("/topstories.json"), vec!["topstories"]);
        assert_eq!(unique("a", &["a".into(), "a_2".into()]), "a_3");
    }
}
