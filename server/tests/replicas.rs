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

    /// A pair whose admin moved the portal from SAML to an OpenID provider (SSO JIT on), and
    /// the provider.
    async fn start_oidc() -> (Pair, TestOp) {
        let pair = Pair::start().await;
        let op = TestOp::start().await;
        pair.a.configure_oidc(&op, true).await;
        (pair, op)
    }

    /// Opens `/sso/oidc/login` on B: where B sends the browser.
    async fn oidc_start_on_b(&self) -> String {
        let started = browser()
            .get(self.b.url("/sso/oidc/login"))
            .send()
            .await
            .unwrap();
        assert!(started.status().is_redirection(), "{}", started.status());
        started.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Starts an OIDC sign-in for `email` on A and plays the person at `op`: the browser, and
    /// the callback as the load balancer sends it to B.
    async fn oidc_callback_for_b(&self, op: &TestOp, email: &str) -> (reqwest::Client, String) {
        let browser = browser();
        let login = self.a.url("/sso/oidc/login");
        let person = Person::new(email);
        let callback = op
            .sign_in_from(&browser, &login, &person, TokenSpec::default())
            .await;
        (browser, callback.replacen(&self.a.base, &self.b.base, 1))
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
    let (pair, op) = Pair::start_oidc().await;
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

/// The account holding `email`, if any.
async fn account_of(app: &TestApp, email: &str) -> Option<portal::db::entities::user::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    portal::db::entities::user::Entity::find()
        .filter(portal::db::entities::user::Column::Email.eq(email))
        .one(&app.portal.db)
        .await
        .unwrap()
}

/// B reads the identity configuration, as its sign-in page does, and so has seen the one that
/// A saves over next.
async fn b_has_seen_the_configuration(pair: &Pair) {
    pair.b.portal.identity_config().await.unwrap();
}

#[tokio::test]
async fn sso_jit_turned_off_on_one_replica_refuses_a_new_person_on_the_other_at_once() {
    let pair = Pair::start().await;
    pair.a.configure_saml(&pair.idp, true, true).await;
    // B signs someone in, and so has seen the configuration with SSO JIT on.
    let early = pair.post(&pair.b, &pair.spec("early@example.com")).await;
    assert!(has_session_cookie(&early), "{}", early.status());
    pair.a.configure_saml(&pair.idp, false, true).await;
    let (users, sessions) = (pair.a.user_count().await, pair.a.session_count().await);

    let late = pair.post(&pair.b, &pair.spec("late@example.com")).await;
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&late));
    let page = late.text().await.unwrap();
    assert!(page.contains("or to turn on SSO JIT"), "{page}");
    assert_eq!(account_of(&pair.a, "late@example.com").await, None);
    assert_eq!(pair.a.user_count().await, users, "no account");
    assert_eq!(pair.a.session_count().await, sessions, "no session");
    assert!(pair
        .a
        .audit_reasons("sign_in.saml")
        .await
        .contains(&"no_account".to_string()));

    // The person B let in before the change is still let in: SSO JIT decides about new people.
    let again = pair.post(&pair.b, &pair.spec("early@example.com")).await;
    assert!(has_session_cookie(&again), "{}", again.status());
}

#[tokio::test]
async fn idp_initiated_sign_in_allowed_on_one_replica_is_allowed_on_the_other_at_once() {
    let pair = Pair::start().await;
    // B has seen the configuration without IdP-initiated sign-in (as the pair starts).
    b_has_seen_the_configuration(&pair).await;
    let spec = pair.spec("dashboard@example.com");
    assert_eq!(spec.in_response_to, None, "sent from Okta's dashboard");
    let refused = pair.post(&pair.b, &spec).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(account_of(&pair.a, "dashboard@example.com").await, None);

    pair.a.configure_saml(&pair.idp, true, true).await;
    let spec = pair.spec("dashboard@example.com");
    let allowed = pair.post(&pair.b, &spec).await;
    assert!(has_session_cookie(&allowed), "{}", allowed.status());
    assert!(account_of(&pair.a, "dashboard@example.com").await.is_some());
}

#[tokio::test]
async fn a_change_an_earlier_release_writes_is_in_force_on_every_replica_at_once() {
    use sea_orm::ConnectionTrait;
    let pair = Pair::start().await;
    pair.a.configure_saml(&pair.idp, true, true).await;
    b_has_seen_the_configuration(&pair).await;
    // A replica of the release before, mid-upgrade, turns SSO JIT off: it knows nothing of the
    // revision, and writes the row as it always did.
    pair.a
        .portal
        .db
        .execute_unprepared(
            "UPDATE identity_config SET provisioning_method = 'manual', updated_at = NULL WHERE id = 1",
        )
        .await
        .unwrap();
    let users = pair.a.user_count().await;
    let late = pair.post(&pair.b, &pair.spec("late@example.com")).await;
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&late));
    assert_eq!(account_of(&pair.a, "late@example.com").await, None);
    assert_eq!(pair.a.user_count().await, users);
}

#[tokio::test]
async fn a_save_after_a_database_restore_is_in_force_on_a_replica_that_saw_a_later_one() {
    use portal::db::entities::identity_config;
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
    let pair = Pair::start().await;
    let backup = identity_config::Entity::find_by_id(1)
        .one(&pair.a.portal.db)
        .await
        .unwrap()
        .expect("the pair starts configured");
    // After the backup, sign-in from Okta's dashboard is allowed, and B sees that.
    pair.a.configure_saml(&pair.idp, true, true).await;
    b_has_seen_the_configuration(&pair).await;
    // The database is restored from the backup, and then an admin turns SSO JIT off.
    backup
        .into_active_model()
        .reset_all()
        .update(&pair.a.portal.db)
        .await
        .unwrap();
    pair.a.configure_saml(&pair.idp, false, true).await;
    let (users, sessions) = (pair.a.user_count().await, pair.a.session_count().await);

    // B holds a configuration that was never restored or saved over: it is not the one in force.
    let late = pair.post(&pair.b, &pair.spec("late@example.com")).await;
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&late));
    assert_eq!(account_of(&pair.a, "late@example.com").await, None);
    assert_eq!(pair.a.user_count().await, users, "no account");
    assert_eq!(pair.a.session_count().await, sessions, "no session");
}

#[tokio::test]
async fn a_certificate_replaced_on_one_replica_is_in_force_on_the_other_at_once() {
    let pair = Pair::start().await;
    pair.a.configure_saml(&pair.idp, true, true).await;
    b_has_seen_the_configuration(&pair).await;
    // Okta's signing certificate is replaced on A: same entity id, a new key.
    let renewed = TestIdp::new(IDP);
    pair.a.configure_saml(&renewed, true, true).await;
    let users = pair.a.user_count().await;

    // B still holds the old certificate: the new key's signature fails there first, and is
    // checked again against the configuration in force, which trusts it.
    let spec = pair.spec("renewed@example.com");
    let signed_anew = pair.b.post_saml_response(&renewed, &spec).await;
    assert!(has_session_cookie(&signed_anew), "{}", signed_anew.status());
    assert!(account_of(&pair.a, "renewed@example.com").await.is_some());

    // Back to the old key on A, while B now holds the new one: a response signed by the key
    // taken out of service verifies against B's copy, and is refused all the same.
    pair.a.configure_saml(&pair.idp, true, true).await;
    let users_now = pair.a.user_count().await;
    assert_eq!(users_now, users + 1);
    let sessions = pair.a.session_count().await;
    let spec = pair.spec("stale@example.com");
    let signed_by_the_old_key = pair.b.post_saml_response(&renewed, &spec).await;
    assert_eq!(signed_by_the_old_key.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&signed_by_the_old_key));
    assert_eq!(account_of(&pair.a, "stale@example.com").await, None);
    assert_eq!(pair.a.user_count().await, users_now, "no account");
    assert_eq!(pair.a.session_count().await, sessions, "no session");
    // Its assertion was not spent: only the configuration refused it.
    let signed_by_the_key_in_force = pair.b.post_saml_response(&pair.idp, &spec).await;
    assert!(
        has_session_cookie(&signed_by_the_key_in_force),
        "{}",
        signed_by_the_key_in_force.status()
    );
}

/// Starts an OIDC sign-in on A for `email` and sends its callback to B, whose token request
/// Okta holds: answers once B waits on it, with the callback's answer to come and what lets
/// Okta answer.
async fn oidc_callback_on_b_waiting_for_okta(
    pair: &Pair,
    op: &TestOp,
    email: &str,
) -> (
    tokio::task::JoinHandle<reqwest::Response>,
    std::sync::Arc<tokio::sync::Semaphore>,
) {
    let gate = op.hold_token_answers();
    let (browser, on_b) = pair.oidc_callback_for_b(op, email).await;
    let requests = op.token_requests();
    let answer = tokio::spawn(async move { browser.get(&on_b).send().await.unwrap() });
    let asked = async || match op.token_requests() > requests {
        true => Ok(()),
        false => Err("B has not asked the token endpoint".to_string()),
    };
    eventually(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(10),
        asked,
    )
    .await;
    (answer, gate)
}

/// OIDC with SSO JIT on, then a callback on B for `email` while A saves `change(op)` over it:
/// B's answer (status and page), once it is checked that the callback wrote nothing and was
/// audited as refused for `reason`.
async fn callback_overtaken_by(
    change: impl Fn(&TestOp) -> Value,
    email: &str,
    reason: &str,
) -> (StatusCode, String) {
    let (pair, op) = Pair::start_oidc().await;
    let (users, sessions) = (pair.a.user_count().await, pair.a.session_count().await);

    let (callback, okta) = oidc_callback_on_b_waiting_for_okta(&pair, &op, email).await;
    pair.a.save_identity(&change(&op)).await;
    okta.add_permits(1);
    let answer = callback.await.unwrap();

    let status = answer.status();
    assert!(!has_session_cookie(&answer));
    let page = answer.text().await.unwrap();
    assert_eq!(account_of(&pair.a, email).await, None);
    assert_eq!(pair.a.user_count().await, users, "no account");
    assert_eq!(pair.a.session_count().await, sessions, "no session");
    let reasons = pair.a.audit_reasons("sign_in.oidc").await;
    assert!(reasons.contains(&reason.to_string()), "{reasons:?}");
    (status, page)
}

#[tokio::test]
async fn sso_jit_turned_off_during_an_oidc_callback_refuses_the_new_person() {
    // The OIDC settings stay as they were: the callback is decided again, without SSO JIT.
    let jit_off = |op: &TestOp| oidc_document(op, false);
    let (status, page) = callback_overtaken_by(jit_off, "late@example.test", "no_account").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("or to turn on SSO JIT"), "{page}");
}

#[tokio::test]
async fn other_oidc_settings_saved_during_a_callback_fail_it_and_write_nothing() {
    // Another client: the code was exchanged under the first one's.
    let other_client = |op: &TestOp| {
        let mut doc = oidc_document(op, true);
        doc["sso"]["oidc"]["client_id"] = "portal-other-client".into();
        doc
    };
    let (status, page) =
        callback_overtaken_by(other_client, "moved@example.test", "settings_changed").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("settings were changed while you were signing in"),
        "{page}"
    );
}

#[tokio::test]
async fn oidc_replaced_by_saml_on_one_replica_refuses_a_callback_on_the_other_at_once() {
    let (pair, op) = Pair::start_oidc().await;
    b_has_seen_the_configuration(&pair).await;
    let (browser, on_b) = pair.oidc_callback_for_b(&op, "gone@example.test").await;

    // While the person is at Okta, the admin moves to SAML on A. B still holds the OIDC
    // settings, and the callback lands there.
    pair.a.configure_saml(&pair.idp, true, true).await;
    let (users, sessions) = (pair.a.user_count().await, pair.a.session_count().await);
    let token_requests = op.token_requests();
    let answer = browser.get(&on_b).send().await.unwrap();

    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    assert!(!has_session_cookie(&answer));
    let page = answer.text().await.unwrap();
    assert!(page.contains("OpenID Connect is not configured"), "{page}");
    assert_eq!(
        op.token_requests(),
        token_requests,
        "the code is not exchanged"
    );
    assert_eq!(account_of(&pair.a, "gone@example.test").await, None);
    assert_eq!(pair.a.user_count().await, users, "no account");
    assert_eq!(pair.a.session_count().await, sessions, "no session");
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_after_a_save_on_the_other_uses_the_settings_in_force() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let (pair, op) = Pair::start_oidc().await;
    b_has_seen_the_configuration(&pair).await;
    let mut other_client = oidc_document(&op, true);
    other_client["sso"]["oidc"]["client_id"] = "portal-other-client".into();
    pair.a.save_identity(&other_client).await;

    // B holds the first client's settings, and sends the person to Okta as the second client.
    let authorize = url::Url::parse(&pair.oidc_start_on_b().await).unwrap();
    let asked: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(asked["client_id"], "portal-other-client");

    // Once A has moved to SAML, B starts no OIDC sign-in and stores no state.
    pair.a.configure_saml(&pair.idp, true, true).await;
    let states = || portal::db::entities::oidc_login::Entity::find().count(&pair.a.portal.db);
    let stored = states().await.unwrap();
    let refused = browser()
        .get(pair.b.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(states().await.unwrap(), stored, "no state stored");
}

#[tokio::test]
async fn a_provider_replaced_on_one_replica_is_the_one_the_other_starts_sign_ins_at() {
    let (pair, first) = Pair::start_oidc().await;
    b_has_seen_the_configuration(&pair).await;
    let second = TestOp::start().await;
    pair.a.configure_oidc(&second, true).await;
    // The first provider is gone wrong since (its discovery names another issuer): B, which
    // still holds it, must not refuse the person for it.
    first.discovery_claims_issuer("https://elsewhere.example");

    let authorize = pair.oidc_start_on_b().await;
    assert!(
        authorize.starts_with(&format!("{}/authorize?", second.issuer)),
        "{authorize}"
    );
    let refusals = pair.a.audit_reasons("sign_in.oidc").await;
    assert!(refusals.is_empty(), "{refusals:?}");
}
