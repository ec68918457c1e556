//! A MySQL or MariaDB URL as a typed value: `mysql://user@host[:port][/database]` (or
//! `mariadb://`), shown without a password everywhere. The password comes from a named
//! secret; one written in the URL is refused by the pipeline. TLS parameters are refused
//! with a clear message: sessions to MySQL and MariaDB are plain TCP (loopback or a trusted
//! network) until TLS is built for them.

/// Where a MySQL-protocol server is, and who logs in.
#[derive(Clone, PartialEq, Eq)]
pub struct MyUrl {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// the default database (MySQL's schema), if the URL names one
    pub database: Option<String>,
    /// whether the URL carried a password (refused by the pipeline)
    pub has_password: bool,
}

impl std::fmt::Debug for MyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl MyUrl {
    /// Whether `text` is a URL this module reads.
    pub fn is_mysql(text: &str) -> bool {
        text.starts_with("mysql://") || text.starts_with("mariadb://")
    }

    pub fn parse(text: &str) -> Result<MyUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a mysql URL: {e}"))?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return Err(format!(
                "scheme `{}` is not mysql:// or mariadb://",
                url.scheme()
            ));
        }
        if let Some((k, _)) = url.query_pairs().next() {
            return Err(format!(
                "URL parameter `{k}` is not supported for MySQL/MariaDB (TLS to them is not \
                 built yet: reach the server over loopback or a trusted network)"
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("a mysql URL needs a host: mysql://user@host:3306/database")?
            .trim_matches(['[', ']'])
            .to_owned();
        let user = percent_decode(url.username())?;
        let database = match url.path().trim_start_matches('/') {
            "" => None,
            db => Some(percent_decode(db)?),
        };
        Ok(MyUrl {
            user: if user.is_empty() { "root".into() } else { user },
            host,
            port: url.port().unwrap_or(3306),
            database,
            has_password: url.password().is_some(),
        })
    }

    /// The URL without its password.
    pub fn redacted(&self) -> String {
        format!(
            "mysql://{}@{}:{}/{}",
            self.user,
            self.host,
            self.port,
            self.database.as_deref().unwrap_or_default()
        )
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_show_without_a_password() {
        let u = MyUrl::parse("mysql://app@127.0.0.1:3307/shop").expect("url");
        assert_eq!(
            (u.user.as_str(), u.port, u.database.as_deref()),
            ("app", 3307, Some("shop"))
        );
        assert!(!u.has_password);
        let p = MyUrl::parse("mariadb://app:s3cret@db/x").expect("url");
        assert!(p.has_password);
        assert_eq!(p.redacted(), "mysql://app@db:3306/x");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(MyUrl::parse("mysql://h").expect("url").database, None);
        let err = MyUrl::parse("mysql://u@h/db?ssl-mode=REQUIRED").expect_err("ssl-mode");
        assert!(err.contains("ssl-mode"), "{err}");
    }
}
