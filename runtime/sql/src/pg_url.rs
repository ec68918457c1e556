//! A PostgreSQL URL as a typed value: `postgres://user[:password]@host[:port]/database` with
//! libpq's TLS parameters `sslmode` (`disable`, `prefer` — the default, as in libpq —,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of trusted CAs, or
//! `system` for the bundled Mozilla roots) and `sslcert` + `sslkey` (a client certificate
//! chain and its key, PEM files). Shown without its password everywhere.

use std::path::PathBuf;

/// How a session uses TLS (libpq's `sslmode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// plain TCP only
    Disable,
    /// TLS when the server offers it, without checking the certificate (libpq's default)
    #[default]
    Prefer,
    /// TLS or no session; the certificate is checked only when `sslrootcert` is given (then
    /// as `verify-ca`, as libpq does)
    Require,
    /// TLS with a certificate chained to a trusted CA, whatever host name it is for
    VerifyCa,
    /// TLS with a certificate chained to a trusted CA and issued for the URL's host
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode `allow` is not supported (it tries plain TCP first); use `prefer`"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "unknown sslmode `{other}`: use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Which CAs a verifying session trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCerts {
    /// the Mozilla roots bundled with Sluice (`sslrootcert=system`, and the default of the
    /// verifying modes)
    System,
    /// the certificates of a PEM file
    File(PathBuf),
}

/// A client certificate: the PEM files of its chain and of its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS part of a URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// given explicitly (`None`: the mode's default)
    pub root_cert: Option<RootCerts>,
    /// presented when the server asks for one
    pub client_cert: Option<ClientCert>,
}

impl TlsOptions {
    /// Whether the server's certificate is checked against trusted CAs.
    pub fn verifies_chain(&self) -> bool {
        match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => self.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        }
    }
}

/// A parsed `postgres://user[:password]@host[:port]/database[?sslmode=…&sslrootcert=…]`.
#[derive(Clone, PartialEq)]
pub struct PgUrl {
    pub user: String,
    pub(crate) password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub tls: TlsOptions,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PgUrl {
    /// Parse a destination URL. A password in the URL is accepted but `PGPASSWORD` is the
    /// better place for it. Query parameters other than `sslmode` and `sslrootcert` are
    /// refused, so a misspelt one cannot silently leave a session unencrypted.
    pub fn parse(text: &str) -> std::result::Result<PgUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a postgres URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "scheme `{}` is not postgres:// or postgresql://",
                url.scheme()
            ));
        }
        let host = url
            .host_str()
            .ok_or("the URL names no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let database = url.path().trim_start_matches('/').to_owned();
        if database.is_empty() {
            return Err("the URL names no database (postgres://user@host:port/DATABASE)".into());
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok(PgUrl {
            user: if url.username().is_empty() {
                "postgres".into()
            } else {
                decode(url.username())
            },
            password: url.password().map(decode),
            host,
            port: url.port().unwrap_or(5432),
            database,
            tls: tls_options(&url)?,
        })
    }

    /// The URL without its password (with its TLS parameters when not the defaults).
    pub fn redacted(&self) -> String {
        let mut out = format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        );
        let mut query = Vec::new();
        if self.tls.mode != SslMode::Prefer {
            query.push(format!("sslmode={}", self.tls.mode.name()));
        }
        match &self.tls.root_cert {
            Some(RootCerts::System) => query.push("sslrootcert=system".into()),
            Some(RootCerts::File(p)) => query.push(format!("sslrootcert={}", p.display())),
            None => {}
        }
        if let Some(c) = &self.tls.client_cert {
            query.push(format!("sslcert={}", c.cert.display()));
            query.push(format!("sslkey={}", c.key.display()));
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        out
    }
}

fn tls_options(url: &url::Url) -> Result<TlsOptions, String> {
    let mut tls = TlsOptions::default();
    let (mut cert, mut key) = (None, None);
    for (name, value) in url.query_pairs() {
        let file = || {
            if value.is_empty() {
                Err(format!("{name} names no file"))
            } else {
                Ok(PathBuf::from(value.as_ref()))
            }
        };
        match name.as_ref() {
            "sslmode" => tls.mode = SslMode::parse(&value)?,
            "sslrootcert" if value == "system" => tls.root_cert = Some(RootCerts::System),
            "sslrootcert" => tls.root_cert = Some(RootCerts::File(file()?)),
            "sslcert" => cert = Some(file()?),
            "sslkey" => key = Some(file()?),
            other => {
                return Err(format!(
                    "unknown URL parameter `{other}` (Sluice takes sslmode, sslrootcert, sslcert \
                     and sslkey; the password goes in PGPASSWORD)"
                ));
            }
        }
    }
    tls.client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
        (None, None) => None,
        _ => return Err("sslcert and sslkey go together: a certificate and its key".into()),
    };
    if tls.mode == SslMode::Disable && (tls.root_cert.is_some() || tls.client_cert.is_some()) {
        return Err("certificates with sslmode=disable: no session would use them".into());
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_the_password_out_of_sight() {
        let u = PgUrl::parse("postgres://loader:s3cr%40t@db.example:6543/warehouse")
            .expect("valid url");
        assert_eq!(u.user, "loader");
        assert_eq!(u.password.as_deref(), Some("s3cr@t"));
        assert_eq!(u.port, 6543);
        assert_eq!(u.database, "warehouse");
        assert_eq!(u.redacted(), "postgres://loader@db.example:6543/warehouse");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert!(PgUrl::parse("postgres://u@h:1/").is_err());
        assert!(PgUrl::parse("mysql://u@h:1/db").is_err());
    }

    #[test]
    fn tls_parameters_parse_and_show_without_the_password() {
        let u = PgUrl::parse("postgres://me:s3cret@db.example:6432/app").expect("url");
        assert_eq!(u.tls, TlsOptions::default());
        assert_eq!(u.redacted(), "postgres://me@db.example:6432/app");
        let u = PgUrl::parse(
            "postgresql://me:s3cret@db.example/app?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        )
        .expect("url");
        assert_eq!(u.tls.mode, SslMode::VerifyFull);
        assert_eq!(u.tls.root_cert, Some(RootCerts::File("/etc/ca.pem".into())));
        assert!(u.tls.verifies_chain());
        let shown = u.redacted();
        assert_eq!(
            shown,
            "postgres://me@db.example:5432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        );
        assert!(!shown.contains("s3cret"));
        let u = PgUrl::parse("postgres://h/d?sslmode=require").expect("url");
        assert!(!u.tls.verifies_chain());
        let u = PgUrl::parse("postgres://h/d?sslmode=require&sslrootcert=system").expect("url");
        assert!(
            u.tls.verifies_chain(),
            "require with a root cert is verify-ca"
        );
    }

    #[test]
    fn bad_tls_parameters_are_refused() {
        for (url, says) in [
            ("postgres://h/d?sslmode=verify_full", "unknown sslmode"),
            ("postgres://h/d?sslmode=allow", "not supported"),
            (
                "postgres://h/d?ssl_mode=require",
                "unknown URL parameter `ssl_mode`",
            ),
            (
                "postgres://h/d?sslmode=disable&sslrootcert=/ca.pem",
                "disable",
            ),
            ("postgres://h/d?sslrootcert=", "names no file"),
        ] {
            let err = PgUrl::parse(url).expect_err(url);
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
