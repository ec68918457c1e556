//! `sluice init connector`: a connector project in Rust, Python or JavaScript.
//!
//! Invariant: a scaffolded project carries this checkout's SDK and WIT contract verbatim
//! (the Rust SDK's WIT path is the one line adjusted), so it builds offline from its own
//! directory with the language's toolchain and runs with the `pipeline.toml` it ships.

use std::fmt;
use std::path::{Path, PathBuf};

/// The componentize-py release the Python SDK is built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js release the JavaScript SDK is built and tested with.
pub const COMPONENTIZE_JS: &str = "0.23.0";

const WIT: &str = include_str!("../../../wit/connector.wit");
/// The WASI WIT that `connector.wit`'s `connector-http` world refers to.
const WIT_DEPS: [(&str, &str); 7] = [
    ("cli", include_str!("../../../wit/deps/cli/cli.wit")),
    (
        "clocks",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "filesystem",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    ("http", include_str!("../../../wit/deps/http/http.wit")),
    ("io", include_str!("../../../wit/deps/io/io.wit")),
    (
        "random",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "sockets",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];
const RUST_SDK_MANIFEST: &str = include_str!("../../../sdk/rust/Cargo.toml");
const RUST_SDK_LIB: &str = include_str!("../../../sdk/rust/src/lib.rs");
const RUST_SDK_OBJECTS: &str = include_str!("../../../sdk/rust/src/objects.rs");
const PYTHON_SDK: &str = include_str!("../../../sdk/python/sluice.py");
const JS_SDK: &str = include_str!("../../../sdk/js/sluice.js");

const PIPELINE: &str = include_str!("../templates/pipeline.toml");
const README: &str = include_str!("../templates/README.md");

/// The language of a connector project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Language {
    /// `rust`, `python` (`py`) or `js` (`javascript`).
    pub fn parse(s: &str) -> Result<Language, ScaffoldError> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Language::Rust),
            "python" | "py" => Ok(Language::Python),
            "js" | "javascript" => Ok(Language::JavaScript),
            _ => Err(ScaffoldError::Language(s.to_owned())),
        }
    }

    /// The command that builds the component, run in the project directory.
    pub fn build_command(self) -> &'static str {
        match self {
            Language::Rust => "cargo build --release --target wasm32-wasip2",
            Language::Python => "./build.sh",
            Language::JavaScript => "npm install && npm run build",
        }
    }

    /// Where the build writes the component, relative to the project directory.
    pub fn component_path(self, name: &str) -> String {
        match self {
            Language::Rust => format!("target/wasm32-wasip2/release/{name}.wasm"),
            Language::Python | Language::JavaScript => format!("{name}.wasm"),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("unknown language `{0}`: use rust, python or js")]
    Language(String),
    #[error(
        "`{0}` is not a connector name: use lower-case letters, digits and `_`, starting with a letter (it names the component, the crate or module, and the tables' schema)"
    )]
    Name(String),
    #[error("{} exists and is not empty: choose another name or directory", .0.display())]
    Exists(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What [`scaffold`] wrote.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub language: Language,
    /// files written, relative to `dir`
    pub files: Vec<String>,
    /// the command that builds the component
    pub build: &'static str,
    /// the built component, relative to `dir`
    pub component: String,
}

/// Write a `language` connector project called `name` into `dir` (created; refused when it
/// exists with anything in it).
pub fn scaffold(language: Language, name: &str, dir: &Path) -> Result<Project, ScaffoldError> {
    check_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    let files = files(language, name);
    for (rel, text) in &files {
        let path = dir.join(rel);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
            if rel.ends_with(".sh") {
                set_executable(&path)?;
            }
            Ok(())
        };
        write().map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Project {
        dir: dir.to_owned(),
        language,
        files: files.into_iter().map(|(p, _)| p).collect(),
        build: language.build_command(),
        component: language.component_path(name),
    })
}

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.to_owned()))
    }
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Every file of the project, path and content.
fn files(language: Language, name: &str) -> Vec<(String, String)> {
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{componentize_py}}", COMPONENTIZE_PY)
            .replace("{{componentize_js}}", COMPONENTIZE_JS)
            .replace("{{build}}", language.build_command())
            .replace("{{wasm}}", &language.component_path(name))
            .replace("{{language}}", &language.to_string())
    };
    let mut out: Vec<(String, String)> = match language {
        Language::Rust => vec![
            (
                "Cargo.toml".into(),
                fill(include_str!("../templates/rust/Cargo.toml")),
            ),
            (
                "rust-toolchain.toml".into(),
                include_str!("../templates/rust/rust-toolchain.toml").into(),
            ),
            (
                "src/lib.rs".into(),
                fill(include_str!("../templates/rust/lib.rs")),
            ),
            ("sluice-sdk/Cargo.toml".into(), RUST_SDK_MANIFEST.into()),
            ("sluice-sdk/src/lib.rs".into(), vendored_rust_sdk()),
            ("sluice-sdk/src/objects.rs".into(), RUST_SDK_OBJECTS.into()),
            (".gitignore".into(), "/target\n".into()),
        ],
        Language::Python => vec![
            (
                "app.py".into(),
                fill(include_str!("../templates/python/app.py")),
            ),
            ("sluice.py".into(), PYTHON_SDK.into()),
            (
                "build.sh".into(),
                fill(include_str!("../templates/python/build.sh")),
            ),
            (
                ".gitignore".into(),
                format!("/.venv\n/{name}.wasm\n__pycache__/\n"),
            ),
        ],
        Language::JavaScript => vec![
            (
                "app.js".into(),
                fill(include_str!("../templates/js/app.js")),
            ),
            ("sluice.js".into(), JS_SDK.into()),
            (
                "package.json".into(),
                fill(include_str!("../templates/js/package.json")),
            ),
            (
                ".gitignore".into(),
                format!("/node_modules\n/{name}.wasm\n"),
            ),
        ],
    };
    out.push(("wit/connector.wit".into(), WIT.into()));
    out.push(("pipeline.toml".into(), fill(PIPELINE)));
    let listing = out
        .iter()
        .map(|(p, _)| format!("- `{p}`: {}", describe(language, p)))
        .chain(std::iter::once(
            "- `wit/deps/`: the WASI interfaces the contract's `connector-http` world names".into(),
        ))
        .collect::<Vec<_>>()
        .join("\n");
    for (dep, text) in WIT_DEPS {
        out.push((format!("wit/deps/{dep}/{dep}.wit"), text.into()));
    }
    let readme = fill(README)
        .replace("{{files}}", &listing)
        .replace("{{guide}}", guide(language));
    out.push(("README.md".into(), readme));
    out
}

/// The Rust SDK with its WIT path pointing at the project's `wit/` (in this repository the
/// SDK sits two levels below it).
fn vendored_rust_sdk() -> String {
    const IN_REPO: &str = "path: \"../../wit\"";
    debug_assert!(
        RUST_SDK_LIB.contains(IN_REPO),
        "sdk/rust/src/lib.rs moved its WIT path"
    );
    RUST_SDK_LIB.replace(IN_REPO, "path: \"../wit\"")
}

fn describe(language: Language, path: &str) -> &'static str {
    match (language, path) {
        (_, "wit/connector.wit") => "the contract between Sluice and the component",
        (_, "pipeline.toml") => "a pipeline that runs the component into DuckDB",
        (_, ".gitignore") => "build outputs",
        (Language::Rust, "Cargo.toml") => "the crate (a `cdylib` for `wasm32-wasip2`)",
        (Language::Rust, "rust-toolchain.toml") => "adds the `wasm32-wasip2` target",
        (Language::Rust, "src/lib.rs") => "the connector",
        (Language::Rust, p) if p.starts_with("sluice-sdk/") => "the Rust SDK, vendored",
        (Language::Python, "app.py") => "the connector",
        (Language::Python, "sluice.py") => "the Python SDK, vendored",
        (Language::Python, "build.sh") => {
            "builds the component with componentize-py (installed into `.venv` when missing)"
        }
        (Language::JavaScript, "app.js") => "the connector",
        (Language::JavaScript, "sluice.js") => "the JavaScript SDK, vendored",
        (Language::JavaScript, "package.json") => {
            "componentize-js, and `npm run build` to build the component"
        }
        _ => "",
    }
}

fn guide(language: Language) -> &'static str {
    match language {
        Language::Rust => {
            "Implement `Source`: `spec` returns the resources (`ResourceSpec`: write disposition, \
             keys, column hints, incremental cursor), `open` returns a `Resource` whose \
             `next_page` gives one `Page` at a time (`Page::json`, `with_checkpoint` for the \
             state). HTTP: `sluice_sdk::http::fetch(request)` with `secrets: vec![\"token\".into()]` \
             names a secret the host injects. Logs: `sluice_sdk::log::info`."
        }
        Language::Python => {
            "Write it the way you write a dlt source: `@sluice.source` (typed arguments are the \
             config), `@sluice.resource(primary_key=…, write_disposition=…)` generators yielding \
             dicts, lists or `sluice.Page(records, checkpoint=…)`, `@sluice.transformer`, \
             `sluice.incremental(\"updated_at\")` as an argument default, `sluice.state()`, \
             `sluice.http.get(url, params=…, secrets=[\"token\"])` and `sluice.log.info(…)`. \
             Import every module at the top of `app.py`: the component is snapshotted after \
             import."
        }
        Language::JavaScript => {
            "`sluice.source({ name, config: { key: { type, default } } }, (config) => [...])` is \
             the component's export; `sluice.resource({ primaryKey, writeDisposition, columns, \
             incremental }, function* (...) {...})` yields objects, arrays or `new \
             sluice.Page(records, checkpoint)`, and may be `async function*` to `await fetch(url)` \
             (standard `fetch`, through the host's policy, with the host's secrets for that \
             host). Also `sluice.transformer`, `sluice.incremental(\"updated_at\")` with \
             `sluice.window()`, `sluice.state()`, `sluice.http.get(url, { params, secrets: \
             [\"token\"] })` (the host's HTTP, with retries) and `sluice.log.info(…)`. JavaScript \
             numbers do not say whether `57` is an integer or a float: write float values with \
             `sluice.float(x)` (or hint the column: `columns: { score: { dataType: \"double\" } \
             }`)."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_writes_a_project_with_its_sdk_and_a_pipeline_pointing_at_the_build() {
        for lang in [Language::Rust, Language::Python, Language::JavaScript] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = tmp.path().join("demo");
            let p = scaffold(lang, "my_conn", &dir).expect("scaffold");
            let pipeline = std::fs::read_to_string(dir.join("pipeline.toml")).expect("pipeline");
            assert!(
                pipeline.contains(&format!("path = \"{}\"", p.component)),
                "{pipeline}"
            );
            assert!(!pipeline.contains("{{"), "{pipeline}");
            let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
            assert!(
                readme.contains(lang.build_command()) && !readme.contains("{{"),
                "{readme}"
            );
            for f in &p.files {
                assert!(dir.join(f).is_file(), "{f}");
                let text = std::fs::read_to_string(dir.join(f)).expect("read");
                // the vendored SDKs are copied verbatim; the templates are all filled
                if !f.starts_with("sluice") && !f.starts_with("wit/") {
                    assert!(!text.contains("{{"), "{f}: {text}");
                }
            }
            assert_eq!(
                std::fs::read_to_string(dir.join("wit/connector.wit")).expect("wit"),
                WIT
            );
            assert!(dir.join("wit/deps/http/http.wit").is_file());
        }
    }

    #[test]
    fn the_vendored_rust_sdk_reads_the_projects_wit() {
        let sdk = vendored_rust_sdk();
        assert!(sdk.contains("path: \"../wit\""));
        assert!(!sdk.contains("../../wit"));
    }

    #[test]
    fn names_languages_and_occupied_directories_are_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for bad in ["", "My", "9lives", "with-dash", "a b"] {
            assert!(matches!(
                scaffold(Language::Rust, bad, &tmp.path().join("x")),
                Err(ScaffoldError::Name(_))
            ));
        }
        assert!(matches!(
            Language::parse("cobol"),
            Err(ScaffoldError::Language(_))
        ));
        assert_eq!(Language::parse("JS").ok(), Some(Language::JavaScript));
        std::fs::write(tmp.path().join("keep.txt"), "mine").expect("write");
        let err = scaffold(Language::Python, "ok", tmp.path()).expect_err("occupied");
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("keep.txt")).expect("kept"),
            "mine"
        );
    }
}
