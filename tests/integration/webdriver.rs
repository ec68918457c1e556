//! A small W3C WebDriver client over loopback: Debian's `chromedriver` driving headless
//! `chromium` (both installed by scripts/bootstrap). Enough to open pages, find elements,
//! read their text, type, click, run a script and take screenshots.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver on a free port and a headless Chromium session.
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/bootstrap installs chromium-driver)");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1360,900",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .and_then(|r| r.json())
            .expect("new session");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().and_then(|r| r.json()).expect("webdriver call");
        // "no such element" and "stale element reference" (the page re-rendered between
        // finding and using) are answers the callers wait out; any other error fails
        let error = r["value"]["error"].as_str().unwrap_or_default();
        assert!(
            matches!(error, "" | "no such element" | "stale element reference"),
            "webdriver {path}: {r}"
        );
        r["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    /// The element `css` selects, waiting up to 20 s for it to appear.
    pub fn wait_for(&self, css: &str) -> String {
        let t = Instant::now();
        loop {
            let v = self.call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "`{css}` did not appear; the page says: {}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many elements `css` selects now.
    pub fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// The visible text of the first element `css` selects (empty when none).
    pub fn text(&self, css: &str) -> String {
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let Some(id) = v[ELEMENT].as_str() else {
            return String::new();
        };
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Wait until the text of `css` contains `needle`; returns the text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let t = Instant::now();
        loop {
            let text = self.text(css);
            if text.contains(needle) {
                return text;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "`{css}` never said `{needle}`; it says: {text}; the page is: {}",
                self.call(reqwest::Method::GET, "/source", None)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, |id| {
            self.call(
                reqwest::Method::POST,
                &format!("/element/{id}/click"),
                Some(json!({})),
            )
        });
    }

    /// Do `act` on the element `css` selects, again while it goes stale (a re-render).
    fn on_element(&self, css: &str, act: impl Fn(&str) -> Value) {
        let t = Instant::now();
        while !act(&self.wait_for(css))["error"].is_null() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "`{css}` stayed stale"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Replace the value of the input `css` with `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, |id| {
            self.call(
                reqwest::Method::POST,
                &format!("/element/{id}/clear"),
                Some(json!({})),
            )
        });
        self.on_element(css, |id| {
            self.call(
                reqwest::Method::POST,
                &format!("/element/{id}/value"),
                Some(json!({"text": text})),
            )
        });
    }

    /// Run `script` in the page; its return value.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// A PNG of the window, written to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("png");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
