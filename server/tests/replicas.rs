//! Two replicas on one database, as behind a load balancer: either finishes a SAML or OIDC
//! sign-in the other began, an assertion or callback consumed on one is a replay on the other,
//! and two first sign-ins of one person landing on both at once make one account. On SQLite and
//! on PostgreSQL.

mod support;

use reqwest::{header, StatusCode};
use serde_json::Value;
use support::oidc::{oidc_document, Person, TestOp, TokenSpec};
use support::saml::*;
use support::*;

const IDP: &str = "http://www.okta.com/exkreplicas";

struct Pair {
    a: TestApp,
    b: TestApp,
    idp: TestIdp,
}

impl Pair {
    async fn start() -> Pair {
        let a = TestApp::spawn().await;
        // Both replicas are told the same public URL, as a load balancer's replicas are.
        let public = a.base.clone();
        let b = TestApp::spawn_on(
            tempfile::tempdir().unwrap(),
            a.database_url.clone(),
            &[
                ("public_url", public.as_str()),
                ("secret_key_file", a.secret_key_file.as_str()),
            ],
        )
        .await;
        let idp = TestIdp::new(IDP);
        a.configure_saml(&idp, true, false).await;
        Pair { a, b, idp }
    }

    fn spec(&self, email: &str) -> ResponseSpec {
        ResponseSpec::new(
            &self.idp,
            &self.a.url("/sso/saml/metadata"),
            &self.a.url("/sso/saml/acs"),
            email,
        )
    }

    async fn post(&self, replica: &TestApp, spec: &ResponseSpec) -> reqwest::Response {
        replica.post_saml_response(&self.idp, spec).await
    }
}

#[tokio::test]
async fn a_sign_in_begun_on_one_replica_finishes_on_the_other_and_is_a_replay_on_the_first() {
    let pair = Pair::start().await;
    let started = browser()
        .get(pair.a.url("/sso/saml/login?return_to=/settings/iam/users"))
        .send()
        .await
        .unwrap();
    assert!(started.status().is_redirection());
    let request_id = authn_request_id(started.headers()[header::LOCATION].to_str().unwrap());
    let mut spec = pair.spec("roamer@example.com");
    spec.in_response_to = Some(request_id);

    let finished = pair.post(&pair.b, &spec).await;
    assert!(has_session_cookie(&finished), "{}", finished.status());
    assert_eq!(
        finished.headers()[header::LOCATION],
        "/settings/iam/users",
        "the return path stored by the first replica"
    );
    let users = pair.a.user_count().await;

    let replayed = pair.post(&pair.a, &spec).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&replayed));
    assert!(replayed.text().await.unwrap().contains("already used"));
    assert_eq!(pair.a.user_count().await, users);
}

#[tokio::test]
async fn two_first_sign_ins_of_one_person_on_two_replicas_at_once_make_one_account() {
    let pair = Pair::start().await;
    let before = pair.a.user_count().await;
    // Unsolicited responses are off: each replica begins its own request, as two tabs would.
    let mut specs = Vec::new();
    for replica in [&pair.a, &pair.b] {
        let started = browser()
            .get(replica.url("/sso/saml/login"))
            .send()
            .await
            .unwrap();
        let mut spec = pair.spec("twin@example.com");
        spec.in_response_to = Some(authn_request_id(
            started.headers()[header::LOCATION].to_str().unwrap(),
        ));
        specs.push(spec);
    }
    let (on_a, on_b) = tokio::join!(pair.post(&pair.a, &specs[0]), pair.post(&pair.b, &specs[1]));
    assert!(has_session_cookie(&on_a), "{}", on_a.status());
    assert!(has_session_cookie(&on_b), "{}", on_b.status());
    assert_eq!(pair.b.user_count().await, before + 1);
    let created = pair
        .a
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _)| action == "account.jit_created")
        .count();
    assert_eq!(created, 1, "one created event");
}

#[tokio::test]
async fn an_oidc_sign_in_begun_on_one_replica_finishes_on_the_other_and_is_a_replay_on_the_first() {
    let pair = Pair::start().await;
    // The admin moves the portal from SAML to an OpenID provider.
    let op = TestOp::start().await;
    let token = pair.a.admin_token().await;
    let saved = pair
        .a
        .api_put(&token, "/api/v1/identity", &oidc_document(&op, true))
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let users = pair.a.user_count().await;

    // State, nonce and PKCE verifier are stored by A; its binding cookie stays in the browser.
    let browser = browser();
    let started = browser
        .get(pair.a.url("/sso/oidc/login?return_to=/settings/iam/users"))
        .send()
        .await
        .unwrap();
    assert!(started.status().is_redirection(), "{}", started.status());
    let authorize = started.headers()[header::LOCATION].to_str().unwrap();
    let callback = op.authorize(
        authorize,
        &Person::new("roamer@example.test"),
        TokenSpec::default(),
    );
    assert!(callback.starts_with(&pair.a.base), "{callback}");
    // The load balancer sends the callback to B.
    let on_b = callback.replacen(&pair.a.base, &pair.b.base, 1);

    let finished = browser.get(&on_b).send().await.unwrap();
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&finished));
    assert_eq!(
        finished.headers()[header::LOCATION],
        "/settings/iam/users",
        "the return path stored by the first replica"
    );
    assert_eq!(pair.a.user_count().await, users + 1);
    // The session B started is good on A.
    let me: Value = browser
        .get(pair.a.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "roamer@example.test");

    let sessions = pair.a.session_count().await;
    let replayed = browser.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&replayed));
    assert_eq!(pair.a.session_count().await, sessions, "no second session");
    assert_eq!(pair.a.user_count().await, users + 1, "no second account");
}
