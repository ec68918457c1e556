//! The policy's rules as tables: address ranges, path prefixes, methods, headers, redaction.

use super::*;

#[test]
fn every_special_range_is_private_and_public_addresses_are_not() {
    let private = [
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.9.9.9",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "::10.1.2.3",
        "64:ff9b::a00:1",
        "64:ff9b::808:808",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "feff::1",
        "ff02::1",
        "ff0e::1",
    ];
    for a in private {
        let ip: IpAddr = a.parse().expect(a);
        assert!(is_private(ip), "{a} must count as private");
    }
    let public = [
        "1.1.1.1",
        "8.8.8.8",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.255.255",
        "172.32.0.1",
        "192.0.1.1",
        "192.169.0.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.255.255.255",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "fbff::1",
        "ff::1",
    ];
    for a in public {
        let ip: IpAddr = a.parse().expect(a);
        assert!(!is_private(ip), "{a} is public");
    }
}

fn allows(entry: &str, url: &str) -> bool {
    let p = Policy::allow(&[entry.to_owned()]).expect("entry");
    p.check_static(&Url::parse(url).expect("url")).is_ok()
}

#[test]
fn path_prefixes_match_whole_segments_of_the_normalized_path() {
    let e = "https://api.example.com/v1";
    assert!(allows(e, "https://api.example.com/v1"));
    assert!(allows(e, "https://api.example.com/v1/"));
    assert!(allows(e, "https://api.example.com/v1/x?y=1"));
    assert!(!allows(e, "https://api.example.com/v10"));
    assert!(!allows(e, "https://api.example.com/v1-internal/x"));
    // normalized before the check: this is /admin
    assert!(!allows(e, "https://api.example.com/v1/../admin"));
    assert!(!allows(e, "https://api.example.com/v1/%2e%2e/admin"));
    // a segment a server would decode into a traversal
    assert!(!allows(e, "https://api.example.com/v1/..%2fadmin"));
    assert!(!allows(e, "https://api.example.com/v1/%2E%2E%5Cadmin"));
    // an encoded slash that is not a traversal passes (GitLab's group%2Fproject)
    assert!(allows(
        e,
        "https://api.example.com/v1/projects/group%2Fproject"
    ));
    // credentials in the URL are refused
    assert!(!allows(e, "https://user:pw@api.example.com/v1/x"));
    // whole host: everything
    assert!(allows(
        "https://api.example.com",
        "https://api.example.com/anything"
    ));
}

#[test]
fn ipv6_literals_on_the_allow_list_work() {
    assert!(allows("http://[::1]:8080", "http://[::1]:8080/x"));
    assert!(allows(
        "http://[::1]:8080/api",
        "http://[0:0::1]:8080/api/x"
    ));
    assert!(!allows("http://[::1]:8080", "http://[::2]:8080/x"));
    assert!(!allows("http://[::1]:8080", "http://127.0.0.1:8080/x"));
}

#[test]
fn methods_and_headers_the_guest_may_use() {
    for m in [
        "GET", "get", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    ] {
        assert!(check_method(m).is_ok(), "{m}");
    }
    for m in ["TRACE", "CONNECT", "track", "PROPFIND", "G ET", ""] {
        assert!(check_method(m).is_err(), "{m}");
    }
    for h in [
        "Host",
        "connection",
        "Upgrade",
        "TE",
        "Transfer-Encoding",
        "content-length",
        "Proxy-Authorization",
        "proxy-anything",
        "Keep-Alive",
    ] {
        assert!(!header_allowed(h), "{h}");
    }
    for h in [
        "Accept",
        "Authorization",
        "X-Api-Key",
        "Content-Type",
        "User-Agent",
    ] {
        assert!(header_allowed(h), "{h}");
    }
}

fn with_secret(value: &str, placement: SecretPlacement) -> Policy {
    let mut p = Policy::deny_all();
    p.secrets.push(SecretGrant {
        name: "s".into(),
        value: value.into(),
        host: "https://api.example.com".into(),
        placement,
    });
    p
}

#[test]
fn a_query_secret_is_redacted_raw_percent_encoded_and_in_base64() {
    use base64::Engine as _;
    let secret = "s3cr3t/k+y=";
    let p = with_secret(secret, SecretPlacement::Query { name: "key".into() });
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    for text in [
        format!("raw {secret} end"),
        "form s3cr3t%2Fk%2By%3D end".to_owned(),
        format!("b64 {b64} end"),
        format!("b64url {b64url} end"),
    ] {
        let out = p.redact(&text);
        assert!(
            out.contains("***") && !out.contains("s3cr3t"),
            "{text} -> {out}"
        );
        assert!(!out.contains(&b64) && !out.contains(&b64url), "{out}");
    }
}

#[test]
fn basic_credentials_are_masked_in_bodies_at_the_same_length() {
    let p = with_secret(
        "hunter2-password",
        SecretPlacement::Basic {
            username: "bob".into(),
        },
    );
    let header = basic_auth("bob", "hunter2-password");
    let mut body = format!("{{\"echo\":\"{header}\",\"pw\":\"hunter2-password\"}}").into_bytes();
    let len = body.len();
    assert_eq!(mask(&mut body, &p.secret_forms()), 2);
    assert_eq!(body.len(), len);
    let text = String::from_utf8(body).expect("utf8");
    assert!(
        !text.contains("hunter2") && !text.contains(header.trim_start_matches("Basic ")),
        "{text}"
    );
    assert!(text.starts_with("{\"echo\":\"Basic ****"), "{text}");
}

#[test]
fn a_secret_sent_as_the_basic_user_name_is_placed_and_masked() {
    let p = with_secret(
        "fd-api-key-123",
        SecretPlacement::BasicUser {
            password: "X".into(),
        },
    );
    let grant = &p.secrets[0];
    let mut headers = http::HeaderMap::new();
    let mut url = Url::parse("https://acme.freshdesk.com/api/v2/tickets").expect("url");
    grant.apply(&mut headers, &mut url, None).expect("applies");
    let header = basic_auth("fd-api-key-123", "X");
    assert_eq!(headers["authorization"], header.as_str());
    let mut body = format!("{{\"echo\":\"{header}\"}}").into_bytes();
    assert_eq!(mask(&mut body, &p.secret_forms()), 1);
    let text = String::from_utf8(body).expect("utf8");
    assert!(
        !text.contains(header.trim_start_matches("Basic ")),
        "{text}"
    );
}
