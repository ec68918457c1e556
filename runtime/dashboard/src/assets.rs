//! The page, its script and its style, compiled into the binary: nothing is fetched.

/// `(content type, body)` of the asset at `path`, if it is one.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "/" | "/index.html" => (
            "text/html; charset=utf-8",
            include_str!("../assets/index.html"),
        ),
        "/app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../assets/app.js"),
        ),
        "/app.css" => ("text/css; charset=utf-8", include_str!("../assets/app.css")),
        _ => return None,
    })
}
