//! The operator's kit: the OpenAPI document, Prometheus metrics, logs that keep secrets out, and
//! a stop on SIGTERM that finishes what is in flight. The last two run the real `portal` binary.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::{GetLoginPage, GetShell, SaveOidc, SignIn};
use base64::Engine;
use leptos::server_fn::ServerFn;
use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};
use support::oidc::{
    oidc_document, urlencode, Person, TestOp, TokenSpec, CLIENT_ID, CLIENT_SECRET,
};
use support::saml::{authn_request_id, ResponseSpec, TestIdp};
use support::*;

const IDP: &str = "http://www.okta.com/exk1operations";

// ---- OpenAPI ------------------------------------------------------------------------------

/// The paths the API router serves, read from the router itself, so that a route added without
/// documentation shows up here.
fn served_paths() -> BTreeSet<String> {
    let router = format!("{:?}", portal::api::router());
    // The routes proper; axum's own fallback routes come after.
    let (routes, _) = router
        .split_once("fallback_router")
        .expect("axum's Router shows its path router");
    routes
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|text| text.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// `/api/v1/pools/{id}/members/{user_id}` with every parameter set to 1.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_the_api_serves() {
    let app = TestApp::spawn().await;
    let response = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "public, like /healthz");
    let text = response.text().await.unwrap();
    oas3::from_json(&text).expect("the document parses as OpenAPI 3.1");
    let document: Value = serde_json::from_str(&text).unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );

    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    // Every method of every path the router knows, asked without credentials: anything but
    // 405 means the route is there.
    let paths = served_paths();
    assert!(
        paths.contains("/api/v1/users/{id}") && paths.contains("/metrics"),
        "the router's paths could not be read: {paths:?}"
    );
    let mut served = BTreeSet::new();
    for path in &paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let status = Client::new()
                .request(method.clone(), app.url(&concrete(path)))
                .send()
                .await
                .unwrap()
                .status();
            if status != StatusCode::METHOD_NOT_ALLOWED {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {not_served:?}"
    );
    for route in [
        "/api/v1/me",
        "/api/v1/identity",
        "/api/v1/users",
        "/api/v1/pools/{id}/members/{user_id}",
        "/api/v1/audit.csv",
    ] {
        assert!(paths.contains(route), "{route} is missing from {paths:?}");
    }

    // Credentials: a bearer token, or a session cookie; the probes need neither.
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(
        document["paths"]["/healthz"]["get"]["security"],
        json!([{}])
    );
    // Bodies and answers have schemas.
    let put_identity = &document["paths"]["/api/v1/identity"]["put"];
    assert!(
        put_identity["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/IdentityDocument"),
        "{put_identity}"
    );
    for (method, path) in documented.iter().filter(|(_, p)| p.starts_with("/api/v1/")) {
        let operation = &document["paths"][path][method.to_lowercase()];
        let answers = operation["responses"].as_object().unwrap();
        assert!(
            answers.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents no success"
        );
        if path != "/api/v1/openapi.json" {
            assert!(
                answers.contains_key("401"),
                "{method} {path} does not say it needs credentials"
            );
        }
        if ["PUT", "PATCH"].contains(&method.as_str()) {
            assert!(
                operation["requestBody"].is_object(),
                "{method} {path} has no body"
            );
        }
    }
    let oidc = &document["components"]["schemas"]["OidcDocument"]["properties"];
    assert_eq!(oidc["client_secret"]["writeOnly"], true, "{oidc}");
    assert_eq!(oidc["client_secret_set"]["readOnly"], true, "{oidc}");
    for schema in [
        "ErrorBody",
        "Listing",
        "PoolView",
        "AuditPage",
        "OidcDocument",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "no schema {schema}"
        );
    }
}

// ---- Metrics ------------------------------------------------------------------------------

async fn scrape(app: &TestApp) -> String {
    let response = Client::new().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

/// A portal trusting a test IdP for SAML, SSO JIT `jit`, unsolicited responses allowed.
async fn saml_portal(jit: bool) -> (TestApp, TestIdp) {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new(IDP);
    app.configure_saml(&idp, jit, true).await;
    (app, idp)
}

/// Posts an encoded SAMLResponse to the portal binary at `base`.
async fn post_saml(base: &str, encoded: &str) -> reqwest::Response {
    browser()
        .post(format!("{base}/sso/saml/acs"))
        .form(&[("SAMLResponse", encoded)])
        .send()
        .await
        .unwrap()
}

fn saml_spec(base: &str, idp: &TestIdp, email: &str) -> ResponseSpec {
    ResponseSpec::new(
        idp,
        &format!("{base}/sso/saml/metadata"),
        &format!("{base}/sso/saml/acs"),
        email,
    )
}

#[tokio::test]
async fn sign_ins_jit_creations_and_callback_latency_are_counted() {
    let (app, idp) = saml_portal(true).await;
    let before = scrape(&app).await;
    let spec = saml_spec(&app.base, &idp, "grace.hopper@example.com");
    let response = app.post_saml_response(&idp, &spec).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    assert!(has_session_cookie(
        &app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    ));
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        metrics::sum(&after, name, labels) - metrics::sum(&before, name, labels)
    };
    let saml_success = [("protocol", "saml"), ("outcome", "success")];
    assert!(
        moved("portal_sign_ins_total", &saml_success) >= 1.0,
        "{after}"
    );
    let local_success = [("protocol", "local"), ("outcome", "success")];
    assert!(
        moved("portal_sign_ins_total", &local_success) >= 1.0,
        "{after}"
    );
    let saml = [("protocol", "saml")];
    assert!(
        moved("portal_jit_accounts_created_total", &saml) >= 1.0,
        "{after}"
    );
    assert!(
        moved("portal_sso_callback_duration_seconds_count", &saml) >= 1.0,
        "{after}"
    );
    assert!(
        metrics::sum(
            &after,
            "portal_sso_callback_duration_seconds_bucket",
            &[("protocol", "saml"), ("le", "+Inf")]
        ) >= 1.0,
        "a histogram with buckets: {after}"
    );
    // A JIT sign-in reads and writes the database: its statements are counted.
    assert!(moved("portal_db_statements_total", &[]) >= 5.0, "{after}");
    // Known series exist before anything happened to them.
    assert!(after.contains(r#"portal_sign_ins_total{protocol="oidc",outcome="refused"}"#));
    // The pool, as sqlx counts it for this portal: 16 connections to PostgreSQL; to a SQLite
    // file one per CPU, at most 16.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let expected = if app.database_url.starts_with("sqlite:") {
        cpus.clamp(1.0, 16.0)
    } else {
        16.0
    };
    assert_eq!(
        metrics::sum(&after, "portal_db_pool_max_connections", &[]),
        expected,
        "{after}"
    );
    // Open connections, by state: at least the one the sign-in used, idle or on its way back.
    assert!(after.contains(r#"portal_db_pool_connections{state="idle"}"#));
    assert!(after.contains(r#"portal_db_pool_connections{state="in_use"}"#));
    assert!(metrics::sum(&after, "portal_db_pool_connections", &[]) >= 1.0);
    // Nothing about the person is a label.
    assert!(!after.contains("grace.hopper"), "{after}");
}

#[tokio::test]
async fn a_refused_sign_in_is_counted_with_its_reason() {
    let (app, idp) = saml_portal(false).await;
    let before = scrape(&app).await;
    let spec = saml_spec(&app.base, &idp, "nobody.known@example.com");
    let response = app.post_saml_response(&idp, &spec).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let mut tampered = saml_spec(&app.base, &idp, "mallory@example.com");
    tampered.issuer = "http://www.okta.com/someone-else".into();
    assert!(app
        .post_saml_response(&idp, &tampered)
        .await
        .status()
        .is_client_error());
    let response = app.sign_in(ADMIN_EMAIL, "not the admin password").await;
    assert!(!has_session_cookie(&response));
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        metrics::sum(&after, name, labels) - metrics::sum(&before, name, labels)
    };
    let refusals = "portal_sign_in_refusals_total";
    assert!(
        moved(refusals, &[("protocol", "saml"), ("reason", "no_account")]) >= 1.0,
        "{after}"
    );
    assert!(
        moved(refusals, &[("protocol", "saml"), ("reason", "issuer")]) >= 1.0,
        "{after}"
    );
    assert!(
        moved(
            refusals,
            &[("protocol", "local"), ("reason", "bad_credentials")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        moved(
            "portal_sign_ins_total",
            &[("protocol", "saml"), ("outcome", "refused")]
        ) >= 2.0,
        "{after}"
    );
    assert!(
        moved(
            "portal_sso_callback_duration_seconds_count",
            &[("protocol", "saml")]
        ) >= 2.0,
        "refused callbacks are timed too: {after}"
    );
    assert!(!after.contains("nobody.known") && !after.contains("mallory"));
}

// ---- The binary ---------------------------------------------------------------------------

/// The `portal` binary serving on a port of its own, its stderr captured.
struct Binary {
    child: Child,
    base: String,
    env: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start(extra: &[(&str, &str)]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let database_url = with_password(&fresh_database_url(&dir).await);
        let mut env: Vec<(String, String)> = [
            ("PORTAL_ADDR", "127.0.0.1:0"),
            ("PORTAL_DATABASE_URL", database_url.as_str()),
            ("PORTAL_ADMIN_EMAIL", ADMIN_EMAIL),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.push(("PORTAL_SITE_ROOT".into(), dir.path().display().to_string()));
        env.push((
            "PORTAL_SECRET_KEY_FILE".into(),
            dir.path().join("secret.key").display().to_string(),
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the portal binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port = eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            async || {
                let text = log.lock().unwrap().clone();
                let Some(line) = text.lines().find(|l| l.contains("Portal is listening")) else {
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "the binary exited:\n{text}"
                    );
                    return Err(format!("the binary is not listening:\n{text}"));
                };
                let at = line.find("127.0.0.1:").expect("the address") + "127.0.0.1:".len();
                Ok(line[at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>())
            },
        )
        .await;
        Binary {
            child,
            base: format!("http://127.0.0.1:{port}"),
            env,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `portal token create` for the first admin, with the server's environment; its stderr
    /// joins the log.
    fn create_token(&self) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_portal"))
            .env_clear()
            .envs(self.env.iter().cloned())
            .args(["token", "create", "--email", ADMIN_EMAIL])
            .output()
            .unwrap();
        self.log
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end, at most `limit`.
    async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        eventually(limit, Duration::from_millis(50), async || {
            self.child
                .try_wait()
                .unwrap()
                .ok_or_else(|| "the binary is still running".to_string())
        })
        .await
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// PostgreSQL's URL with a password in it, so that the logs can be searched for it (the test
/// server trusts local connections and ignores it).
fn with_password(database_url: &str) -> String {
    match database_url.split_once("://postgres@") {
        Some((scheme, rest)) => format!("{scheme}://postgres:{DATABASE_PASSWORD}@{rest}"),
        None => database_url.to_string(),
    }
}

const DATABASE_PASSWORD: &str = "a-database-password-in-the-url";

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session_cookie(response: &reqwest::Response) -> String {
    session_cookie_value(response).expect("a session cookie")
}

/// Everything secret that passes through a portal in one sitting: a password sign-in, an API
/// call with a token, a SAML sign-in and an OIDC sign-in. Each is returned with its name.
async fn sign_in_every_way(portal: &Binary) -> Vec<(&'static str, String)> {
    let mut secrets: Vec<(&'static str, String)> = vec![
        ("the admin password", ADMIN_PASSWORD.into()),
        ("the OIDC client secret", CLIENT_SECRET.into()),
        (
            "the client's Basic credentials",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")),
        ),
    ];

    // A local password sign-in through the form, as the page sends it.
    let admin = browser();
    let page = read_page::<GetLoginPage>(&admin, &portal.base).await;
    let form_token = page["csrf_token"].as_str().unwrap().to_string();
    let response = admin
        .post(portal.url(SignIn::PATH))
        .header(header::ACCEPT, SERVER_FN_ACCEPT)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf", &form_token),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    secrets.push(("the sign-in form's CSRF token", form_token));
    secrets.push(("a password session's cookie", session_cookie(&response)));
    let shell = read_page::<GetShell>(&admin, &portal.base).await;
    let csrf = shell["me"]["csrf_token"].as_str().unwrap().to_string();
    secrets.push(("a session's CSRF token", csrf.clone()));

    // The API, by bearer token.
    let token = portal.create_token();
    let api = Client::new();
    let me = api
        .get(portal.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    secrets.push(("the API token", token.clone()));

    // SAML, SP-initiated.
    let idp = TestIdp::new(IDP);
    let saved = api
        .put(portal.url("/api/v1/identity"))
        .bearer_auth(&token)
        .json(&saml_document_trusting(&idp, true, true))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let started = browser()
        .get(portal.url("/sso/saml/login?return_to=/settings"))
        .send()
        .await
        .unwrap();
    let request_id = authn_request_id(started.headers()[header::LOCATION].to_str().unwrap());
    let mut spec = saml_spec(&portal.base, &idp, "ada.lovelace@example.com");
    spec.in_response_to = Some(request_id);
    let encoded = spec.encoded(&idp);
    let response = post_saml(&portal.base, &encoded).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    secrets.push(("a SAML session's cookie", session_cookie(&response)));
    // Refused, the same response is logged no more than accepted.
    let replayed = post_saml(&portal.base, &encoded).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    secrets.push(("the SAMLResponse", encoded));
    secrets.push(("the assertion's ID", spec.assertion_id.clone()));

    // OpenID Connect.
    let op = TestOp::start().await;
    let saved = api
        .put(portal.url("/api/v1/identity"))
        .bearer_auth(&token)
        .json(&oidc_document(&op, true))
        .send()
        .await
        .unwrap();
    assert_eq!(
        saved.status(),
        StatusCode::OK,
        "{}",
        saved.text().await.unwrap()
    );
    let person = browser();
    let started = person
        .get(portal.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    let authorize = started.headers()[header::LOCATION].to_str().unwrap();
    let asked: Vec<(String, String)> = url::Url::parse(authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let asked = |key: &str| {
        asked
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    secrets.push(("the OIDC state", asked("state")));
    secrets.push(("the OIDC nonce", asked("nonce")));
    let browser_cookie = started
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            v.to_str()
                .ok()?
                .strip_prefix("portal_oidc_browser=")?
                .split(';')
                .next()
                .map(str::to_string)
        })
        .expect("the browser-binding cookie");
    secrets.push(("the OIDC browser-binding cookie", browser_cookie));
    let callback = op.authorize(
        authorize,
        &Person::new("alan.turing@example.com"),
        TokenSpec::default(),
    );
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    secrets.push(("the authorization code", code));
    let response = person.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    secrets.push(("an OIDC session's cookie", session_cookie(&response)));
    // Refused, the same callback is logged no more than accepted.
    let replayed = person.get(&callback).send().await.unwrap();
    assert!(replayed.status().is_client_error(), "{}", replayed.status());
    for secret in op.token_secrets() {
        secrets.push((
            "a PKCE verifier, an ID token or an access token",
            secret.clone(),
        ));
        // An ID token's signature alone is as telling.
        if let Some((_, signature)) = secret.rsplit_once('.') {
            secrets.push(("an ID token's signature", signature.to_string()));
        }
    }
    assert!(op.token_secrets().len() >= 3);

    // A new client secret through the page's form, as an admin pastes it.
    let page_secret = "a-client-secret-pasted-into-the-page";
    let saved = admin
        .post(portal.url(SaveOidc::PATH))
        .header(header::ACCEPT, SERVER_FN_ACCEPT)
        .form(&[
            ("csrf", csrf.as_str()),
            ("discovery_url", op.discovery_url().as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", page_secret),
            ("token_auth_method", "client_secret_post"),
        ])
        .send()
        .await
        .unwrap();
    if saved.status() != StatusCode::OK {
        panic!(
            "the page's OIDC form was refused: {:?}",
            server_fn_error(saved).await
        );
    }
    secrets.push(("a client secret saved through the page", page_secret.into()));

    // And the API once more, now that SSO is in force.
    let users = api
        .get(portal.url("/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
    secrets
}

/// What holds a secret prints without it, so that a `{:?}` in a log line cannot leak one.
#[test]
fn what_holds_a_secret_prints_without_it() {
    let form = app::model::OidcForm {
        discovery_url: "https://okta.example/.well-known/openid-configuration".into(),
        client_secret: "a-secret-in-the-form".into(),
        ..Default::default()
    };
    let document = portal::identity::OidcDocument {
        discovery_url: "https://okta.example/.well-known/openid-configuration".into(),
        client_id: "0oa1".into(),
        client_secret: Some("a-secret-in-the-document".into()),
        client_secret_set: true,
        client_secret_unreadable: None,
        token_auth_method: Default::default(),
    };
    let login = portal::db::entities::oidc_login::Model {
        state_hash: "a-hash-of-the-state".into(),
        browser_hash: "a-hash-of-the-browser".into(),
        nonce: "the-nonce-in-clear".into(),
        pkce_verifier: "the-pkce-verifier-in-clear".into(),
        return_to: "/".into(),
        expires_at: chrono::Utc::now(),
        client_key: "a-digest-of-the-client".into(),
    };
    for (printed, secrets) in [
        (format!("{form:?}"), vec!["a-secret-in-the-form"]),
        (format!("{document:?}"), vec!["a-secret-in-the-document"]),
        (
            format!("{login:?}"),
            vec!["the-nonce-in-clear", "the-pkce-verifier-in-clear"],
        ),
    ] {
        assert!(
            printed.contains("okta.example") || printed.contains("a-hash-of-the-state"),
            "{printed}"
        );
        for secret in secrets {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}

async fn assert_trace_logs_keep_secrets_out(format: &str) {
    let mut portal = Binary::start(&[("RUST_LOG", "trace"), ("PORTAL_LOG_FORMAT", format)]).await;
    let mut secrets = sign_in_every_way(&portal).await;
    if portal
        .env
        .iter()
        .any(|(_, v)| v.contains(DATABASE_PASSWORD))
    {
        secrets.push(("the database password", DATABASE_PASSWORD.into()));
    }
    portal.terminate();
    assert!(portal.exit_within(Duration::from_secs(10)).await.success());
    let log = portal.log();

    // The log is there, as verbose as asked, and follows every request made above, so that
    // finding no secret in it means something.
    for expected in [
        "Portal is listening",
        "TRACE",
        "DEBUG",
        "/api/sign_in",
        "/api/v1/me",
        "/sso/saml/acs",
        "/sso/oidc/callback",
        "/api/v1/users",
        "shutting down",
    ] {
        assert!(log.contains(expected), "the log lacks {expected}:\n{log}");
    }
    if format == "json" {
        for line in log.lines().filter(|l| l.starts_with('{')).take(50) {
            serde_json::from_str::<Value>(line).expect("every log line is JSON");
        }
    }
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 8,
            "{what} is too short to look for: {secret:?}"
        );
        for form in [secret.clone(), urlencode(secret)] {
            if let Some(at) = log.find(&form) {
                let line_start = log[..at].rfind('\n').map_or(0, |n| n + 1);
                let line_end = log[at..].find('\n').map_or(log.len(), |n| at + n);
                panic!(
                    "{what} appears in the {format} log:\n{}",
                    &log[line_start..line_end]
                );
            }
        }
    }
}

#[tokio::test]
async fn trace_logs_in_text_carry_no_secret_of_any_sign_in() {
    assert_trace_logs_keep_secrets_out("text").await;
}

#[tokio::test]
async fn trace_logs_in_json_carry_no_secret_of_any_sign_in() {
    assert_trace_logs_keep_secrets_out("json").await;
}

#[tokio::test]
async fn a_plain_http_public_url_beyond_loopback_is_warned_about_at_start() {
    let warning = "PORTAL_PUBLIC_URL is plain http on a host other than this machine's loopback";
    for (public_url, warned) in [
        (None, false),
        (Some("http://localhost:3000"), false),
        (Some("https://portal.example.com"), false),
        (Some("http://portal.example.com"), true),
        (Some("http://10.0.0.7:3000"), true),
    ] {
        let env: Vec<(&str, &str)> = public_url
            .map(|url| ("PORTAL_PUBLIC_URL", url))
            .into_iter()
            .collect();
        let mut portal = Binary::start(&env).await;
        portal.terminate();
        assert!(portal.exit_within(Duration::from_secs(10)).await.success());
        let log = portal.log();
        assert!(
            log.contains("shutting down"),
            "the whole log is read:\n{log}"
        );
        assert_eq!(log.contains(warning), warned, "{public_url:?}:\n{log}");
    }
}

#[tokio::test]
async fn sigterm_lets_a_sign_in_in_flight_finish_and_exits_with_success() {
    let mut portal = Binary::start(&[]).await;
    let token = portal.create_token();
    let op = TestOp::start().await;
    let saved = Client::new()
        .put(portal.url("/api/v1/identity"))
        .bearer_auth(&token)
        .json(&oidc_document(&op, true))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let person = browser();
    let katherine = Person::new("katherine.johnson@example.com");
    let callback = op
        .sign_in_from(
            &person,
            &portal.url("/sso/oidc/login"),
            &katherine,
            TokenSpec::default(),
        )
        .await;
    // Okta takes its time: the callback waits on the token endpoint when the signal comes.
    op.delay_token_endpoint(Duration::from_millis(1500));
    let in_flight = tokio::spawn(async move { person.get(&callback).send().await.unwrap() });
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        async || match op.token_requests() {
            0 => Err("the callback has not reached the provider".to_string()),
            _ => Ok(()),
        },
    )
    .await;
    portal.terminate();

    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", portal.log());
    assert!(has_session_cookie(&response));
    let status = portal.exit_within(Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}\n{}", portal.log());
    assert!(portal.log().contains("shutting down"));
    // Nothing listens any more.
    assert!(Client::new()
        .get(portal.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err());
}
