//! Who may ask: a request whose `Host` is the dashboard's own loopback address, and for
//! data, one that carries the token printed at start in the `X-Sluice-Token` header. A page
//! of another site cannot set that header (CORS) nor name the dashboard's host (DNS
//! rebinding ends at the `Host` check).

/// The token and the hosts the dashboard answers to.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    token: String,
    hosts: Vec<String>,
}

impl Guard {
    /// A fresh random token for a dashboard on `port`.
    pub(crate) fn new(port: u16) -> Guard {
        let bytes: [u8; 24] = rand::random();
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Guard {
            token,
            hosts: vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// Whether `host` (the request's `Host` header) names this dashboard.
    pub(crate) fn host_ok(&self, host: Option<&str>) -> bool {
        host.is_some_and(|h| self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)))
    }

    /// Whether `given` is the token (compared in constant time).
    pub(crate) fn token_ok(&self, given: Option<&str>) -> bool {
        let Some(given) = given else {
            return false;
        };
        let (a, b) = (self.token.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_its_own_host_and_token_pass() {
        let g = Guard::new(8123);
        assert!(g.host_ok(Some("127.0.0.1:8123")));
        assert!(g.host_ok(Some("LOCALHOST:8123")));
        assert!(!g.host_ok(Some("evil.example:8123")));
        assert!(!g.host_ok(Some("127.0.0.1:8124")));
        assert!(!g.host_ok(None));
        let t = g.token().to_owned();
        assert_eq!(t.len(), 48);
        assert!(g.token_ok(Some(&t)));
        assert!(!g.token_ok(Some(&t[1..])));
        assert!(!g.token_ok(None));
        assert_ne!(Guard::new(8123).token(), t, "each start has its own token");
    }
}
