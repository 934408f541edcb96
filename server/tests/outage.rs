//! PostgreSQL going away under a running portal: sign-in and settings answer 503 and say to
//! retry, `/readyz` fails, nothing is half-written, and Portal recovers by itself when the
//! database is back. The database sits behind a TCP relay that the test can cut, so the
//! machine's PostgreSQL keeps serving the other tests. Runs when `PORTAL_TEST_POSTGRES_URL` is
//! set (the PostgreSQL pass of `scripts/test`); SQLite is a file and cannot go away this way.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use support::saml::*;
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

const IDP: &str = "http://www.okta.com/exk1outage";

/// Forwards connections to PostgreSQL until cut; while cut, it closes every connection it holds
/// and each new one at once, as a stopped or restarting server does.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::<AbortHandle>::new()));
        let (up_, links_) = (up.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up_.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links_.lock().unwrap().push(link.abort_handle());
            }
        });
        Relay { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A portal on a fresh PostgreSQL database reached through a relay, with SAML and SSO JIT.
async fn portal_behind_relay() -> Option<(TestApp, Relay, TestIdp)> {
    let Ok(server) = std::env::var("PORTAL_TEST_POSTGRES_URL") else {
        eprintln!("skipped: needs PORTAL_TEST_POSTGRES_URL (scripts/test sets it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let direct = fresh_database_url(&dir).await;
    let parsed = url::Url::parse(&server).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let mut relayed = url::Url::parse(&direct).unwrap();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.port)).unwrap();
    let app = TestApp::spawn_on(dir, relayed.to_string(), &[]).await;
    let idp = TestIdp::new(IDP);
    app.configure_saml(&idp, true, true).await;
    Some((app, relay, idp))
}

async fn first_login(app: &TestApp, idp: &TestIdp, email: &str) -> reqwest::Response {
    let spec = ResponseSpec::new(
        idp,
        &format!("{}/sso/saml/metadata", app.base),
        &app.url("/sso/saml/acs"),
        email,
    );
    app.post_saml_response(idp, &spec).await
}

async fn wait_ready(app: &TestApp) {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        async || match app.get("/readyz").await.status() {
            StatusCode::OK => Ok(()),
            status => Err(format!("/readyz answers {status} with the database back")),
        },
    )
    .await;
}

#[tokio::test]
async fn while_the_database_is_away_sign_in_and_settings_answer_503_and_portal_recovers_alone() {
    let Some((app, relay, idp)) = portal_behind_relay().await else {
        return;
    };
    let admin = &app; // its client keeps the admin's session cookie
    admin.sign_in_as_admin().await;
    assert_eq!(
        admin.get("/settings/iam/identity").await.status(),
        StatusCode::OK
    );
    let users_before = app.user_count().await;

    relay.cut();

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let refused = first_login(&app, &idp, "during@example.com").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!has_session_cookie(&refused));
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("Sign-in is unavailable for a moment"),
        "{page}"
    );
    assert!(page.contains("Try again"), "{page}");

    let settings = admin.get("/settings/iam/identity").await;
    assert_eq!(settings.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = settings.text().await.unwrap();
    assert!(page.contains("Try again in a moment"), "{page}");

    let started = app.get("/sso/saml/login").await;
    assert_eq!(started.status(), StatusCode::SERVICE_UNAVAILABLE);

    relay.restore();
    wait_ready(&app).await;

    // Nothing of the refused sign-in was written.
    assert_eq!(app.user_count().await, users_before);
    assert!(!app.audited("account.jit_created", "success").await);

    // The person tries again, as the page said, and gets in; the admin's page is back.
    let retried = first_login(&app, &idp, "during@example.com").await;
    assert!(has_session_cookie(&retried), "{}", retried.status());
    assert_eq!(app.user_count().await, users_before + 1);
    assert_eq!(
        admin.get("/settings/iam/identity").await.status(),
        StatusCode::OK
    );
}
