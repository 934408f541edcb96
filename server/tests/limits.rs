//! Bounded resources on the sign-in endpoints: a per-client rate limit, a body limit and a
//! request timeout. Each refusal is checked to have created nothing.

mod support;

use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn acs_post(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = browser()
        .post(app.url("/sso/saml/acs"))
        .form(&[("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlLz4=")]);
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn one_client_over_the_sign_in_rate_gets_429_with_retry_after_and_nothing_is_created() {
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "1"), ("sso_rate_burst", "3")]).await;
    let users = app.user_count().await;
    for _ in 0..3 {
        let within = acs_post(&app, None).await;
        assert_ne!(within.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // A forged X-Forwarded-For does not buy a new bucket while the header is not trusted.
    let over = acs_post(&app, Some("203.0.113.7")).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = over.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let page = over.text().await.unwrap();
    assert!(
        page.contains(r#"data-testid="sso-heading">Too many sign-in attempts</h1>"#),
        "{page}"
    );
    assert!(page.contains("Try again in"), "{page}");
    // The limit covers the start of a sign-in too, and only /sso/*.
    let start = browser()
        .get(app.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.user_count().await, users);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("portal_sign_in_rate_limited_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test]
async fn behind_a_trusted_balancer_each_client_address_has_its_own_bucket() {
    let app = TestApp::spawn_with(&[
        ("sso_rate_per_second", "1"),
        ("sso_rate_burst", "1"),
        ("trust_forwarded_for", "true"),
    ])
    .await;
    // The balancer appends the address it saw; a client's own entries before it do not count.
    let first = acs_post(&app, Some("198.51.100.1, 192.0.2.10")).await;
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let same_client = acs_post(&app, Some("198.51.100.99, 192.0.2.10")).await;
    assert_eq!(same_client.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_client = acs_post(&app, Some("192.0.2.11")).await;
    assert_ne!(other_client.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_oversized_saml_response_is_refused_413_without_reading_it_all() {
    let app = TestApp::spawn().await;
    let users = app.user_count().await;
    let huge = "A".repeat(2 * 1024 * 1024);
    let response = browser()
        .post(app.url("/sso/saml/acs"))
        .form(&[("SAMLResponse", huge)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.user_count().await, users);
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408_when_the_request_time_is_up() {
    let app = TestApp::spawn_with(&[("request_timeout_seconds", "1")]).await;
    let users = app.user_count().await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /sso/saml/acs HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nSAMLResponse=PHN"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.user_count().await, users);
}

#[tokio::test]
async fn a_client_that_trickles_its_request_head_is_disconnected_when_the_time_is_up() {
    let app = TestApp::spawn_with(&[("request_timeout_seconds", "1")]).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            format!("GET /sso/saml/login HTTP/1.1\r\nHost: {address}\r\nX-Slow: ").as_bytes(),
        )
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream).await;
    let elapsed = closed.expect("the connection was still open after 10 s");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // Whatever hyper says on the way out, no request reached Portal.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

/// Reads from `stream` until the server closes it, at most 10 s; what it said, and when it
/// closed, if it did.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    (answer, closed.ok().map(|()| started.elapsed()))
}

#[tokio::test]
async fn an_idle_connection_is_closed_whichever_protocol_it_speaks() {
    let app = TestApp::spawn_with(&[("request_timeout_seconds", "1")]).await;
    let address = app.base.trim_start_matches("http://").to_string();

    // HTTP/1.1, kept alive after an answer and then left idle.
    let mut kept = tokio::net::TcpStream::connect(&address).await.unwrap();
    kept.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut kept).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{answer:?}"
    );
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(5)),
        "an idle HTTP/1.1 connection was still open after 10 s"
    );

    // HTTP/2 without TLS, which would have no such limit: not spoken at all.
    let mut h2c = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
    h2c.write_all(&preface).await.unwrap();
    let (answer, closed) = read_until_closed(&mut h2c).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
        "answered in HTTP/2: {answer:?}"
    );
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(5)),
        "an HTTP/2 connection was still open after 10 s"
    );
}
