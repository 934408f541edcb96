//! SAML sign-in through `POST /sso/saml/acs`: every accepted path, and every check with a
//! crafted response that must be refused without a session and without an account.

mod support;

use reqwest::{header, Response, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use support::saml::*;
use support::*;

const IDP: &str = "http://www.okta.com/exk1test";

struct Saml {
    app: TestApp,
    idp: TestIdp,
    sp_entity_id: String,
    acs_url: String,
}

impl Saml {
    /// A portal with a SAML identity provider configured and SSO JIT `jit`.
    async fn start(jit: bool, allow_idp_initiated: bool) -> Saml {
        Self::start_on(TestApp::spawn().await, jit, allow_idp_initiated).await
    }

    async fn start_on(app: TestApp, jit: bool, allow_idp_initiated: bool) -> Saml {
        let idp = TestIdp::new(IDP);
        app.configure_saml(&idp, jit, allow_idp_initiated).await;
        let sp_entity_id = format!("{}/sso/saml/metadata", app.base);
        let acs_url = format!("{}/sso/saml/acs", app.base);
        Saml {
            app,
            idp,
            sp_entity_id,
            acs_url,
        }
    }

    fn spec(&self, email: &str) -> ResponseSpec {
        ResponseSpec::new(&self.idp, &self.sp_entity_id, &self.acs_url, email)
    }

    async fn post(&self, encoded: &str, relay_state: Option<&str>) -> Response {
        let mut form = vec![("SAMLResponse", encoded.to_string())];
        if let Some(relay) = relay_state {
            form.push(("RelayState", relay.to_string()));
        }
        browser()
            .post(&self.acs_url)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn post_spec(&self, spec: &ResponseSpec) -> Response {
        self.post(&spec.encoded(&self.idp), None).await
    }

    async fn post_xml(&self, xml: &str) -> Response {
        use base64::Engine;
        self.post(&base64::engine::general_purpose::STANDARD.encode(xml), None)
            .await
    }

    async fn account(&self, email: &str) -> Option<portal::db::entities::user::Model> {
        let email = portal::domain::Email::parse(email).unwrap();
        portal::people::find_by_email(&self.app.portal.db, &email)
            .await
            .unwrap()
    }

    /// Starts an SP-initiated sign-in and returns the AuthnRequest's id.
    async fn start_login(&self, return_to: &str) -> (String, Response) {
        let response = browser()
            .get(
                self.app
                    .url(&format!("/sso/saml/login?return_to={return_to}")),
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let id = authn_request_id(response.headers()[header::LOCATION].to_str().unwrap());
        (id, response)
    }

    /// A refused response: a 4xx page with a correlation id, no session, nobody created, and
    /// an audit event under that correlation id giving `reason` (`Rejection::code` and the
    /// like), so that the check under test is the one that refused.
    async fn assert_refused(&self, reason: &str, response: Response, users_before: u64) -> String {
        let status = response.status();
        assert!(status.is_client_error(), "expected a refusal, got {status}");
        assert!(
            !has_session_cookie(&response),
            "a refused sign-in set a session cookie"
        );
        let correlation_id = response.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let page = response.text().await.unwrap();
        assert_eq!(
            self.refusal_reason(&correlation_id).await,
            reason,
            "the reason audited for the refusal; the page says:\n{page}"
        );
        assert!(page.contains("data-testid=\"correlation-id\""), "{page}");
        assert_eq!(
            self.app.user_count().await,
            users_before,
            "a refused sign-in created an account"
        );
        assert_eq!(
            self.app.session_count().await,
            0,
            "a refused sign-in started a session"
        );
        page
    }
}

impl Saml {
    /// The reason the audit log gives for the refused SAML sign-in of `correlation_id`.
    async fn refusal_reason(&self, correlation_id: &str) -> String {
        use portal::db::entities::audit_event;
        let event = audit_event::Entity::find()
            .filter(audit_event::Column::CorrelationId.eq(correlation_id))
            .filter(audit_event::Column::Action.eq("sign_in.saml"))
            .filter(audit_event::Column::Outcome.eq("failure"))
            .one(&self.app.portal.db)
            .await
            .unwrap()
            .expect("the refusal is audited");
        let details: Value = serde_json::from_str(&event.details).unwrap();
        details["reason"].as_str().unwrap_or_default().to_string()
    }
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

// ---- accepted -------------------------------------------------------------------------------

#[tokio::test]
async fn a_first_okta_login_creates_a_jit_account_in_the_default_pool_with_the_user_role() {
    let saml = Saml::start(true, true).await;
    let response = saml.post_spec(&saml.spec("Ada.Lovelace@Example.com")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert!(has_session_cookie(&response));

    let account = saml
        .account("ada.lovelace@example.com")
        .await
        .expect("the account exists");
    assert_eq!(account.email, "Ada.Lovelace@Example.com");
    assert_eq!(
        (account.first_name.as_str(), account.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert!(account.jit_provisioned);
    assert_eq!(account.source, "sso_jit");
    assert_eq!(
        account.idp_provider.as_deref(),
        Some("saml:http://www.okta.com/exk1test")
    );
    assert_eq!(
        account.idp_subject.as_deref(),
        Some("Ada.Lovelace@Example.com")
    );
    assert!(account.password_hash.is_none());
    assert_eq!(
        portal::people::effective_roles(&saml.app.portal.db, account.id)
            .await
            .unwrap(),
        vec!["user"]
    );
    assert_eq!(
        portal::people::pool_names(&saml.app.portal.db, account.id)
            .await
            .unwrap(),
        vec!["default"]
    );
    assert!(saml.app.audited("account.jit_created", "success").await);
}

#[tokio::test]
async fn a_first_sign_in_that_cannot_join_the_default_pool_leaves_nothing_behind() {
    use portal::db::entities::{audit_event, session};
    use sea_orm::{ConnectionTrait, PaginatorTrait};
    let saml = Saml::start(true, true).await;
    let db = &saml.app.portal.db;
    let sessions_before = session::Entity::find().count(db).await.unwrap();
    // The account is created before the writes that follow it travel together; the last of
    // those that can fail here is the pool's, with no default pool to join.
    db.execute_unprepared("UPDATE agent_pools SET is_default = FALSE")
        .await
        .unwrap();

    let response = saml.post_spec(&saml.spec("ada@example.com")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!has_session_cookie(&response));
    assert!(saml.account("ada@example.com").await.is_none());
    assert_eq!(
        session::Entity::find().count(db).await.unwrap(),
        sessions_before
    );
    let created = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("account.jit_created"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(created, 0);
}

/// The pages of the database file that one sign-in writes to SQLite's write-ahead log: what
/// is later copied back into the file (`db::wal::Checkpointer`).
async fn pages_written(saml: &Saml, email: &str) -> u64 {
    use sea_orm::ConnectionTrait;
    // The portal's own checkpointer may be copying the log back at this moment; SQLite then
    // answers busy at once, and the log is emptied at the next try.
    eventually(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_millis(10),
        async || match portal::db::wal::truncate_if_over(&saml.app.portal.db, 0).await {
            Ok(Some(checkpoint)) if checkpoint.busy => Err("the log is not emptied: busy".into()),
            outcome => Ok(outcome.unwrap()),
        },
    )
    .await;
    let log = portal::db::wal::log_file(&saml.app.portal.db).expect("a SQLite file");
    assert_eq!(std::fs::metadata(&log).map_or(0, |m| m.len()), 0);
    let response = saml.post_spec(&saml.spec(email)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // The log: a 32-byte header, then for each page a 24-byte header and the page.
    let page = saml
        .app
        .portal
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA page_size",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap() as u64;
    let bytes = std::fs::metadata(&log).unwrap().len();
    assert!(bytes > 32, "the sign-in wrote nothing to the log");
    assert_eq!((bytes - 32) % (24 + page), 0, "a log of {bytes} bytes");
    (bytes - 32) / (24 + page)
}

#[tokio::test]
async fn a_first_sign_in_writes_one_page_to_the_log_for_each_table_and_index_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let saml = Saml::start_on(TestApp::spawn_on(dir, url, &[]).await, true, true).await;
    // Someone signs in first: the counts below are of sign-ins into tables that hold rows.
    pages_written(&saml, "first@example.com").await;

    // The account (its row, its unique email, its identity binding), the sequence of ids (of
    // the account and the audit event), the assertion id, the pool membership and its index by
    // person, the role, the session and its index by person, the audit event and its two
    // indexes: 13 tables and indexes. Stored by their keys, the assertion ids, memberships, roles
    // and sessions need no second B-tree each for their keys: 17 pages before.
    let first = pages_written(&saml, "ada@example.com").await;
    assert_eq!(first, 13, "a first sign-in wrote {first} pages");
    // A returning person: the account, the sequence of ids, the assertion id, the session and
    // its index, the audit event and its two indexes.
    let returning = pages_written(&saml, "ada@example.com").await;
    assert_eq!(returning, 8, "a returning sign-in wrote {returning} pages");
}

#[tokio::test]
async fn the_session_from_saml_answers_me_as_the_new_person() {
    let saml = Saml::start(true, true).await;
    let response = saml.post_spec(&saml.spec("grace@example.com")).await;
    let cookie = session_cookie_value(&response).unwrap();
    let me: Value = saml
        .app
        .me_with_cookie(&format!("portal_session={cookie}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "grace@example.com");
    assert_eq!(me["jit_provisioned"], true);
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["pools"], json!(["default"]));
}

#[tokio::test]
async fn sp_initiated_sign_in_returns_to_the_page_it_started_from() {
    let saml = Saml::start(true, false).await;
    let (request_id, redirect) = saml.start_login("/settings/iam/identity").await;
    assert!(location(&redirect)
        .starts_with("https://example.okta.com/app/portal/exk1portal/sso/saml?SAMLRequest="));
    let mut spec = saml.spec("lin@example.com");
    spec.in_response_to = Some(request_id);
    // The RelayState posted beside the answer is not what decides: the request's own page is.
    let response = saml
        .post(&spec.encoded(&saml.idp), Some("//evil.example/phish"))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/settings/iam/identity");
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn a_returning_person_signs_in_and_their_changed_names_are_updated() {
    let saml = Saml::start(true, true).await;
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("ada@example.com")).await
    ));
    let mut again = saml.spec("ada@example.com");
    again.attributes = vec![
        ("firstName".into(), "Augusta".into()),
        ("lastName".into(), "King".into()),
    ];
    let response = saml.post_spec(&again).await;
    assert!(has_session_cookie(&response));
    assert_eq!(saml.app.user_count().await, 2);
    let account = saml.account("ada@example.com").await.unwrap();
    assert_eq!(
        (account.first_name.as_str(), account.last_name.as_str()),
        ("Augusta", "King")
    );
    assert!(saml.app.audited("sign_in.sso", "success").await);
}

#[tokio::test]
async fn a_new_email_that_another_account_holds_is_not_taken_over() {
    let saml = Saml::start(true, true).await;
    let mut first = saml.spec("00u1mover");
    first.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    first
        .attributes
        .push(("email".into(), "mover@example.com".into()));
    assert!(has_session_cookie(&saml.post_spec(&first).await));
    new_account("taken@example.com")
        .insert(&saml.app.portal.db)
        .await
        .unwrap();
    let mut moved = saml.spec("00u1mover");
    moved.name_id_format = first.name_id_format.clone();
    moved
        .attributes
        .push(("email".into(), "taken@example.com".into()));
    let response = saml.post_spec(&moved).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    let mover = saml
        .account("mover@example.com")
        .await
        .expect("the old address is kept");
    assert_eq!(mover.idp_subject.as_deref(), Some("00u1mover"));
    assert!(saml
        .account("taken@example.com")
        .await
        .unwrap()
        .idp_subject
        .is_none());
}

#[tokio::test]
async fn turning_sso_jit_off_keeps_the_people_it_created_and_they_still_sign_in() {
    let saml = Saml::start(true, true).await;
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("grace@example.com")).await
    ));
    let created = saml.account("grace@example.com").await.unwrap();

    let token = saml.app.admin_token().await;
    let mut doc = saml.app.identity_document().await;
    doc["provisioning"]["method"] = json!("manual");
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Only an administrator removes a person; switching the method removes nobody.
    let kept = saml
        .account("grace@example.com")
        .await
        .expect("still there");
    assert_eq!(kept, created);
    assert!(kept.active && kept.jit_provisioned);
    assert_eq!(
        portal::people::pool_names(&saml.app.portal.db, kept.id)
            .await
            .unwrap(),
        vec!["default"]
    );
    assert_eq!(
        portal::people::effective_roles(&saml.app.portal.db, kept.id)
            .await
            .unwrap(),
        vec!["user"]
    );
    let response = saml.post_spec(&saml.spec("grace@example.com")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    // Someone new is now refused.
    portal::auth::session::end_all_for(&saml.app.portal.db, kept.id)
        .await
        .unwrap();
    saml.assert_refused(
        "no_account",
        saml.post_spec(&saml.spec("alan@example.com")).await,
        2,
    )
    .await;
}

#[tokio::test]
async fn an_existing_local_account_is_linked_by_email_even_with_jit_off() {
    let saml = Saml::start(false, true).await;
    new_account("Existing@Example.com")
        .insert(&saml.app.portal.db)
        .await
        .unwrap();
    let response = saml.post_spec(&saml.spec("existing@example.com")).await;
    assert!(has_session_cookie(&response));
    let account = saml.account("existing@example.com").await.unwrap();
    assert_eq!(account.idp_subject.as_deref(), Some("existing@example.com"));
    assert!(!account.jit_provisioned, "linking is not JIT provisioning");
    assert!(saml.app.audited("account.linked", "success").await);
}

#[tokio::test]
async fn the_break_glass_admin_is_not_linked_by_email_and_keeps_their_password() {
    let saml = Saml::start(true, true).await;
    let users_before = saml.app.user_count().await;
    let page = saml
        .assert_refused(
            "local_password_account",
            saml.post_spec(&saml.spec(support::ADMIN_EMAIL)).await,
            users_before,
        )
        .await;
    assert!(page.contains("signs in with its own password"), "{page}");
    let admin = saml.account(support::ADMIN_EMAIL).await.unwrap();
    assert_eq!((&admin.idp_provider, &admin.idp_subject), (&None, &None));
    assert!(!saml.app.audited("account.linked", "success").await);

    // Bound at a provider no longer in force, it is not moved either.
    let mut earlier: portal::db::entities::user::ActiveModel = admin.clone().into();
    earlier.idp_provider = Set(Some("oidc:https://old.okta.example".into()));
    earlier.idp_subject = Set(Some("00u-old-admin".into()));
    let earlier = earlier.update(&saml.app.portal.db).await.unwrap();
    saml.assert_refused(
        "local_password_account",
        saml.post_spec(&saml.spec(support::ADMIN_EMAIL)).await,
        users_before,
    )
    .await;
    assert_eq!(saml.account(support::ADMIN_EMAIL).await.unwrap(), earlier);

    let response = saml
        .app
        .sign_in(support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
        .await;
    assert!(has_session_cookie(&response), "{}", response.status());
}

#[tokio::test]
async fn an_address_that_unicode_would_lower_case_into_another_is_not_linked_to_it() {
    let saml = Saml::start(false, true).await;
    let kevin = new_account("kevin@example.com")
        .insert(&saml.app.portal.db)
        .await
        .unwrap();
    // A Kelvin sign (U+212A) where Kevin's address has a `K`: lower-cased by Unicode's rules it
    // is Kevin's address, and he would have been signed in as whoever Okta vouched for.
    saml.assert_refused(
        "no_account",
        saml.post_spec(&saml.spec("\u{212A}evin@example.com")).await,
        2,
    )
    .await;
    let kevin_now = portal::db::entities::user::Entity::find_by_id(kevin.id)
        .one(&saml.app.portal.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kevin_now, kevin, "Kevin's account is untouched");
}

#[tokio::test]
async fn a_signed_response_or_both_signed_are_accepted() {
    let saml = Saml::start(true, true).await;
    for (email, signed) in [
        ("r@example.com", Signed::Response),
        ("b@example.com", Signed::Both),
    ] {
        let mut spec = saml.spec(email);
        spec.signed = signed;
        let response = saml.post_spec(&spec).await;
        assert!(
            has_session_cookie(&response),
            "{signed:?}: {}",
            response.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn the_email_comes_from_the_email_attribute_when_name_id_is_not_an_email() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("00u1abcd");
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    spec.attributes
        .push(("email".into(), "kay@example.com".into()));
    let response = saml.post_spec(&spec).await;
    assert!(has_session_cookie(&response));
    let account = saml.account("kay@example.com").await.unwrap();
    assert_eq!(account.idp_subject.as_deref(), Some("00u1abcd"));
}

#[tokio::test]
async fn clock_skew_of_two_minutes_is_tolerated() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("skew@example.com");
    let now = chrono::Utc::now();
    spec.not_before = now + chrono::TimeDelta::minutes(2);
    spec.not_on_or_after = now - chrono::TimeDelta::minutes(2);
    spec.confirmation_not_on_or_after = now - chrono::TimeDelta::minutes(2);
    assert!(has_session_cookie(&saml.post_spec(&spec).await));
}

#[tokio::test]
async fn two_first_logins_of_one_person_at_once_create_one_account_and_both_succeed() {
    let saml = Saml::start(true, true).await;
    let first = saml.spec("twin@example.com");
    let second = saml.spec("twin@example.com");
    let (a, b) = tokio::join!(saml.post_spec(&first), saml.post_spec(&second));
    assert!(has_session_cookie(&a), "first: {}", a.status());
    let b_status = b.status();
    let b_ok = has_session_cookie(&b);
    assert!(
        b_ok,
        "second: {} {}",
        b_status,
        b.text().await.unwrap_or_default()
    );
    assert_eq!(
        saml.app.user_count().await,
        2,
        "the admin and exactly one new account"
    );
}

// ---- refused: the person ------------------------------------------------------------------

#[tokio::test]
async fn with_jit_off_a_new_person_is_refused_with_a_page_saying_to_ask_an_admin() {
    let saml = Saml::start(false, true).await;
    let page = saml
        .assert_refused(
            "no_account",
            saml.post_spec(&saml.spec("new@example.com")).await,
            1,
        )
        .await;
    assert!(
        page.contains("Your Okta account is not set up in Portal. Ask an administrator to add you, or to turn on SSO JIT."),
        "{page}"
    );
    assert!(
        page.contains("new@example.com has no Portal account, and SSO JIT is off"),
        "{page}"
    );
    assert!(saml.app.audited("sign_in.saml", "failure").await);

    // Release 1.53 calls the same toggle SAML JIT, and so does the page that names it.
    let saml = Saml::start_on(
        TestApp::spawn_with(&[("release", "1.53")]).await,
        false,
        true,
    )
    .await;
    let page = saml
        .assert_refused(
            "no_account",
            saml.post_spec(&saml.spec("new@example.com")).await,
            1,
        )
        .await;
    assert!(page.contains("or to turn on SAML JIT."), "{page}");
}

#[tokio::test]
async fn an_email_name_id_that_is_not_an_address_gives_way_to_the_email_attribute() {
    let saml = Saml::start(true, true).await;
    // An emailAddress NameID mapped to the Okta username.
    let mut spec = saml.spec("ada");
    spec.attributes
        .push(("email".into(), "ada.lovelace@example.com".into()));
    let response = saml.post_spec(&spec).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    assert!(saml.account("ada.lovelace@example.com").await.is_some());
}

#[tokio::test]
async fn an_address_that_looks_like_another_with_characters_nobody_sees_is_refused() {
    let saml = Saml::start(true, true).await;
    // Ada's address with a zero-width space: on every page it would read as hers.
    let lookalike = "ada\u{200B}@example.com";
    let mut spec = saml.spec("00u1lookalike");
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    spec.attributes.push(("email".into(), lookalike.into()));
    let page = saml
        .assert_refused("not_an_email", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("is not an email address"), "{page}");
}

#[tokio::test]
async fn an_address_name_id_in_other_capitals_is_the_same_person() {
    let saml = Saml::start(true, true).await;
    let first = saml.post_spec(&saml.spec("Ada.Case@Example.com")).await;
    assert!(has_session_cookie(&first), "{}", first.status());
    let users = saml.app.user_count().await;

    // An Okta admin writes the address in small letters: the same person, the same account.
    let response = saml.post_spec(&saml.spec("ada.case@example.com")).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    assert_eq!(saml.app.user_count().await, users, "no second account");
    let account = saml.account("ada.case@example.com").await.unwrap();
    assert_eq!(
        account.idp_subject.as_deref(),
        Some("ada.case@example.com"),
        "bound as Okta spells it now"
    );
    assert_eq!(account.email, "ada.case@example.com");
    assert!(
        saml.app.audited("account.linked", "success").await,
        "the new spelling is audited"
    );

    // A persistent Name ID is an identifier, not an address: other capitals are someone else.
    let persistent = |name_id: &str| {
        let mut spec = saml.spec(name_id);
        spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
        spec.attributes
            .push(("email".into(), "grace.case@example.com".into()));
        spec
    };
    let response = saml.post_spec(&persistent("00uGrace")).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    let sessions = saml.app.session_count().await;
    let users = saml.app.user_count().await;
    let response = saml.post_spec(&persistent("00ugrace")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&response));
    assert_eq!(saml.app.user_count().await, users);
    assert_eq!(saml.app.session_count().await, sessions);
    let account = saml.account("grace.case@example.com").await.unwrap();
    assert_eq!(account.idp_subject.as_deref(), Some("00uGrace"));
}

#[tokio::test]
async fn an_email_that_is_not_an_address_is_refused_saying_so() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("00u1username");
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    spec.attributes.push(("email".into(), "ada".into()));
    let page = saml
        .assert_refused("not_an_email", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("is not an email address"), "{page}");
    assert!(
        page.contains("&#39;ada&#39;") || page.contains("'ada'"),
        "{page}"
    );
    assert!(!page.contains("did not send your email"), "{page}");
}

#[tokio::test]
async fn no_email_in_the_assertion_is_refused_naming_the_missing_attribute() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("00u1noemail");
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    let page = saml
        .assert_refused("no_email", saml.post_spec(&spec).await, 1)
        .await;
    assert!(
        page.contains("check the Portal app's attribute statements in Okta"),
        "{page}"
    );
    assert!(
        page.contains("attribute 'email' or an email NameID"),
        "{page}"
    );
}

#[tokio::test]
async fn a_deactivated_account_is_refused() {
    let saml = Saml::start(true, true).await;
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("gone@example.com")).await
    ));
    let account = saml.account("gone@example.com").await.unwrap();
    let mut off: portal::db::entities::user::ActiveModel = account.into();
    off.active = Set(false);
    off.update(&saml.app.portal.db).await.unwrap();
    portal::auth::session::end_all_for(
        &saml.app.portal.db,
        saml.account("gone@example.com").await.unwrap().id,
    )
    .await
    .unwrap();
    let page = saml
        .assert_refused(
            "inactive",
            saml.post_spec(&saml.spec("gone@example.com")).await,
            2,
        )
        .await;
    assert!(page.contains("deactivated"));
}

#[tokio::test]
async fn an_email_bound_to_another_identity_is_an_identity_conflict() {
    let saml = Saml::start(true, true).await;
    let mut bound = new_account("taken@example.com");
    bound.idp_provider = Set(Some("saml:http://www.okta.com/exk1test".into()));
    bound.idp_subject = Set(Some("00u-someone-else".into()));
    bound.insert(&saml.app.portal.db).await.unwrap();
    let page = saml
        .assert_refused(
            "identity_conflict",
            saml.post_spec(&saml.spec("taken@example.com")).await,
            2,
        )
        .await;
    assert!(page.contains("linked to another Okta identity"), "{page}");
}

#[tokio::test]
async fn on_a_plan_without_sso_jit_nobody_new_gets_an_account_and_known_people_still_sign_in() {
    let saml = Saml::start(true, true).await;
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("known@example.com")).await
    ));
    let known = saml.account("known@example.com").await.unwrap();
    portal::auth::session::end_all_for(&saml.app.portal.db, known.id)
        .await
        .unwrap();
    // The same database, after a move to the Team plan with SSO JIT left on.
    let Saml { app, idp, .. } = saml;
    let app = app.restart_with(&[("plan", "team")]).await;
    let saml = Saml {
        sp_entity_id: format!("{}/sso/saml/metadata", app.base),
        acs_url: format!("{}/sso/saml/acs", app.base),
        app,
        idp,
    };
    let page = saml
        .assert_refused(
            "no_account",
            saml.post_spec(&saml.spec("new@example.com")).await,
            2,
        )
        .await;
    // Turning SSO JIT on is not what the admin can do here: it is on already.
    assert!(
        page.contains(
            "Your Okta account is not set up in Portal. Ask an administrator to add you.</p>"
        ),
        "{page}"
    );
    assert!(
        page.contains("SSO JIT, left on, creates none on this plan"),
        "{page}"
    );
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("known@example.com")).await
    ));
    // The admin's choice is kept for when the plan comes back, and the page says why it is
    // not in force.
    assert_eq!(
        saml.app.identity_document().await["provisioning"]["method"],
        "sso_jit"
    );
    saml.app.sign_in_as_admin().await;
    let html = saml.app.page_html("/settings/iam/identity").await;
    assert!(html.contains("It creates no accounts here"), "{html}");
    assert!(
        html.contains("2 of 3 done"),
        "stored on but not in force is not done: {html}"
    );
    // The Users page says the same, rather than that accounts are being created.
    let users = saml.app.page_html("/settings/iam/users").await;
    assert!(
        users.contains("SSO JIT is part of the Enterprise plan; this portal runs on the team plan. It creates no accounts here: turn it off to add people by hand."),
        "{users}"
    );
    assert!(
        !users.contains("accounts are created when people first sign in"),
        "{users}"
    );

    // Left on, it does not stand in the way of other changes; once off, it stays off.
    let token = saml.app.admin_token().await;
    let mut doc = saml.app.identity_document().await;
    doc["sso"]["saml"]["allow_idp_initiated"] = json!(false);
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Each change is made to the document the last one answered.
    let mut doc: Value = response.json().await.unwrap();
    doc["provisioning"]["method"] = json!("manual");
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut doc: Value = response.json().await.unwrap();
    doc["provisioning"]["method"] = json!("sso_jit");
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        saml.app.identity_document().await["provisioning"]["method"],
        "manual"
    );
}

#[tokio::test]
async fn an_admin_unlinks_an_identity_in_conflict_and_the_next_sign_in_links_the_account_again() {
    let saml = Saml::start(true, true).await;
    // Grace's account is bound to her old identity at Okta; Okta has since re-created her.
    let mut bound = new_account("grace@example.com");
    bound.idp_provider = Set(Some(format!("saml:{IDP}")));
    bound.idp_subject = Set(Some("00u-grace-before".into()));
    let grace = bound.insert(&saml.app.portal.db).await.unwrap();
    let mut now = saml.spec("grace@example.com");
    now.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    now.name_id = "00u-grace-now".into();
    now.attributes
        .push(("email".into(), "grace@example.com".into()));
    saml.assert_refused("identity_conflict", saml.post_spec(&now).await, 2)
        .await;

    let token = saml.app.admin_token().await;
    let path = format!("/api/v1/users/{}", grace.id);
    let response = saml
        .app
        .api_patch(&token, &path, &json!({ "unlink_sso_identity": true }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["sso_identity"], Value::Null, "{detail}");
    assert!(
        saml.app
            .audited("account.sso_identity_unlinked", "success")
            .await
    );

    let mut again = now.clone();
    again.assertion_id = format!("{}-again", now.assertion_id);
    let response = saml.post_spec(&again).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    let linked = saml.account("grace@example.com").await.unwrap();
    assert_eq!(
        linked.id, grace.id,
        "the same account, roles and pools kept"
    );
    assert_eq!(linked.idp_subject.as_deref(), Some("00u-grace-now"));
    assert_eq!(saml.app.user_count().await, 2);
}

#[tokio::test]
async fn unlinking_an_identity_ends_the_sessions_it_signed_in() {
    let saml = Saml::start(true, true).await;
    let signed_in = saml.post_spec(&saml.spec("grace@example.com")).await;
    let graces = session_cookie_value(&signed_in).expect("Grace is signed in");
    let ada = saml.post_spec(&saml.spec("ada@example.com")).await;
    assert!(has_session_cookie(&ada));
    assert_eq!(saml.app.session_count().await, 2);

    let grace = saml.account("grace@example.com").await.unwrap();
    let token = saml.app.admin_token().await;
    let response = saml
        .app
        .api_patch(
            &token,
            &format!("/api/v1/users/{}", grace.id),
            &json!({ "unlink_sso_identity": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(saml.app.session_count().await, 1, "Ada's session stays");
    let me = saml
        .app
        .me_with_cookie(&format!("portal_session={graces}"))
        .await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn when_an_address_changes_in_okta_the_admin_moves_the_account_to_it_and_no_second_one_stays()
{
    // Okta names people by their address (an EmailAddress Name ID): a new address is a new
    // subject, and with JIT on its first sign-in makes a second account.
    let saml = Saml::start(true, true).await;
    let token = saml.app.admin_token().await;
    let response = saml.post_spec(&saml.spec("grace@example.com")).await;
    assert!(has_session_cookie(&response));
    let grace = saml.account("grace@example.com").await.unwrap();
    let path = format!("/api/v1/users/{}", grace.id);
    let response = saml
        .app
        .api_patch(&token, &path, &json!({ "roles": ["user", "viewer"] }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = saml.post_spec(&saml.spec("grace.hopper@example.com")).await;
    assert!(has_session_cookie(&response));
    let second = saml.account("grace.hopper@example.com").await.unwrap();
    assert_ne!(second.id, grace.id);
    assert_eq!(saml.app.user_count().await, 3);

    // The new address is taken: refused, with what to do, and nothing changed.
    let move_and_unlink =
        json!({ "email": "Grace.Hopper@example.com", "unlink_sso_identity": true });
    let response = saml.app.api_patch(&token, &path, &move_and_unlink).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "email", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("remove that account or change its address first"),
        "{body}"
    );
    let unchanged = saml.account("grace@example.com").await.unwrap();
    assert_eq!(unchanged.idp_subject.as_deref(), Some("grace@example.com"));
    let response = saml
        .app
        .api_patch(
            &token,
            &path,
            &json!({ "email": "not an address", "unlink_sso_identity": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "email", "{body}");
    let unchanged = saml.account("grace@example.com").await.unwrap();
    assert_eq!(unchanged.idp_subject.as_deref(), Some("grace@example.com"));

    // The second account removed, the first takes the new address and lets go of the old
    // identity in one change; the next sign-in binds it again, roles kept.
    let removed = reqwest::Client::new()
        .delete(saml.app.url(&format!("/api/v1/users/{}", second.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let response = saml.app.api_patch(&token, &path, &move_and_unlink).await;
    assert_eq!(response.status(), StatusCode::OK);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["email"], "Grace.Hopper@example.com", "{detail}");
    assert_eq!(detail["sso_identity"], Value::Null, "{detail}");
    // Both changes are in the log: the address under the one it replaced.
    let events: Value = saml
        .app
        .api_get(&token, "/api/v1/audit?person=grace")
        .await
        .json()
        .await
        .unwrap();
    let filed = |action: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["target"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        filed("account.email_changed"),
        ["grace@example.com"],
        "{events}"
    );
    assert_eq!(
        filed("account.sso_identity_unlinked"),
        ["Grace.Hopper@example.com"],
        "{events}"
    );

    let mut again = saml.spec("grace.hopper@example.com");
    again.assertion_id = format!("{}-again", again.assertion_id);
    let response = saml.post_spec(&again).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    let moved = saml.account("grace.hopper@example.com").await.unwrap();
    assert_eq!(moved.id, grace.id, "the same account");
    assert_eq!(
        moved.idp_subject.as_deref(),
        Some("grace.hopper@example.com")
    );
    assert!(saml.account("grace@example.com").await.is_none());
    assert_eq!(saml.app.user_count().await, 2, "no second account");
    let detail: Value = saml.app.api_get(&token, &path).await.json().await.unwrap();
    assert_eq!(detail["roles"], json!(["user", "viewer"]), "{detail}");
    assert_eq!(detail["pools"], json!(["default"]), "{detail}");
}

#[tokio::test]
async fn the_person_page_unlinks_with_a_new_address_but_not_the_admins_own_identity() {
    use app::api::ChangePersonEmail;
    use leptos::server_fn::ServerFn;
    let saml = Saml::start(true, true).await;
    let response = saml.post_spec(&saml.spec("grace@example.com")).await;
    assert!(has_session_cookie(&response));
    let grace = saml.account("grace@example.com").await.unwrap();
    saml.app.sign_in_as_admin().await;
    let csrf = saml.app.session_csrf().await;
    let submit = |id: i32, email: &'static str| {
        let form = vec![
            ("csrf", csrf.clone()),
            ("id", id.to_string()),
            ("email", email.to_string()),
            ("unlink", "on".to_string()),
        ];
        saml.app
            .client
            .post(saml.app.url(ChangePersonEmail::PATH))
            .header(reqwest::header::ACCEPT, SERVER_FN_ACCEPT)
            .form(&form)
            .send()
    };

    let response = submit(grace.id, "grace.hopper@example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let moved = saml.account("grace.hopper@example.com").await.unwrap();
    assert_eq!(moved.id, grace.id);
    assert_eq!(moved.idp_subject, None, "unlinked in the same change");

    // The admin's own account, bound as if they had signed in with Okta: refused, unchanged.
    let admin = saml.account(support::ADMIN_EMAIL).await.unwrap();
    let mut bound: portal::db::entities::user::ActiveModel = admin.clone().into();
    bound.idp_provider = Set(Some(format!("saml:{IDP}")));
    bound.idp_subject = Set(Some(support::ADMIN_EMAIL.into()));
    bound.update(&saml.app.portal.db).await.unwrap();
    let response = submit(admin.id, "admin.new@example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, message) = server_fn_refusal(response).await;
    assert!(
        message.contains("You cannot unlink your own Okta identity"),
        "{message}"
    );
    let unchanged = saml.account(support::ADMIN_EMAIL).await.unwrap();
    assert_eq!(unchanged.idp_subject.as_deref(), Some(support::ADMIN_EMAIL));
    assert!(saml.account("admin.new@example.com").await.is_none());
}

// ---- refused: the message -----------------------------------------------------------------

#[tokio::test]
async fn an_unsigned_response_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("u@example.com");
    spec.signed = Signed::Neither;
    let page = saml
        .assert_refused("unsigned", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("not signed"));
}

#[tokio::test]
async fn what_is_not_a_base64_saml_response_is_refused() {
    let saml = Saml::start(true, true).await;
    saml.assert_refused("not_base64", saml.post("<<not base64>>", None).await, 1)
        .await;

    // A signed Assertion on its own, or another protocol message, is not a Response.
    let spec = saml.spec("bare@example.com");
    let bare = saml.idp.sign(&spec.assertion_xml(&saml.idp, true));
    saml.assert_refused("not_a_response", saml.post_xml(&bare).await, 1)
        .await;
    let logout = spec
        .xml(&saml.idp)
        .replacen("<samlp:Response ", "<samlp:LogoutResponse ", 1)
        .replacen("</samlp:Response>", "</samlp:LogoutResponse>", 1);
    saml.assert_refused("not_a_response", saml.post_xml(&logout).await, 1)
        .await;
}

#[tokio::test]
async fn an_encrypted_assertion_is_refused_as_such() {
    let saml = Saml::start(true, true).await;
    let spec = saml.spec("sealed@example.com");
    let sealed = r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:CipherData><xenc:CipherValue>AA==</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#;
    let xml = saml.idp.sign(&spec.wrap(&saml.idp, sealed, true));
    saml.assert_refused("encrypted", saml.post_xml(&xml).await, 1)
        .await;
}

#[tokio::test]
async fn an_assertion_without_a_subject_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut missing = saml.spec("nameless@example.com");
    missing.assertion_edits.push((
        format!(r#"<saml:NameID Format="{EMAIL_FORMAT}">nameless@example.com</saml:NameID>"#),
        String::new(),
    ));
    saml.assert_refused("no_subject", saml.post_spec(&missing).await, 1)
        .await;

    let mut empty = saml.spec("nameless@example.com");
    empty.name_id = " ".into();
    saml.assert_refused("no_subject", saml.post_spec(&empty).await, 1)
        .await;
}

#[tokio::test]
async fn a_signature_outside_the_response_and_its_assertion_is_refused() {
    let saml = Saml::start(true, true).await;
    // A well-formed signature from a good response, put where no signature belongs.
    let good = saml.spec("placed@example.com").xml(&saml.idp);
    let start = good.find("<ds:Signature").unwrap();
    let end = good.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &good[start..end];
    let mut spec = saml.spec("placed@example.com");
    spec.assertion_edits.push((
        "<saml:AttributeStatement>".into(),
        format!("<saml:AttributeStatement>{signature}"),
    ));
    saml.assert_refused("signature_placement", saml.post_spec(&spec).await, 1)
        .await;

    // The assertion answers another request than the Response says.
    let mut spec = saml.spec("placed@example.com");
    spec.in_response_to = Some("_request-of-the-response".into());
    spec.assertion_edits.push((
        r#"InResponseTo="_request-of-the-response""#.into(),
        r#"InResponseTo="_request-of-someone-else""#.into(),
    ));
    saml.assert_refused("signature_placement", saml.post_spec(&spec).await, 1)
        .await;
}

#[tokio::test]
async fn a_response_signed_by_another_key_with_its_own_certificate_inside_is_refused() {
    let saml = Saml::start(true, true).await;
    let attacker = TestIdp::new(IDP);
    let spec = saml.spec("victim@example.com");
    let page = saml
        .assert_refused(
            "bad_signature",
            saml.post(&spec.encoded(&attacker), None).await,
            1,
        )
        .await;
    assert!(page.contains("does not verify"), "{page}");
}

#[tokio::test]
async fn weak_signature_and_digest_algorithms_are_refused() {
    let saml = Saml::start(true, true).await;
    for (signature, digest) in [
        (RSA_SHA1, SHA256),
        (RSA_SHA256, SHA1),
        (HMAC_SHA1, SHA256),
        (RSA_MD5, SHA256),
        (RSA_SHA256, MD5),
    ] {
        let mut spec = saml.spec("weak@example.com");
        spec.signature_algorithm = signature.into();
        spec.digest_algorithm = digest.into();
        let xml = if [HMAC_SHA1, RSA_MD5].contains(&signature) || digest == MD5 {
            // xmlsec signs neither HMAC with an RSA key nor with MD5: send the template itself,
            // as an attacker would.
            spec.signed = Signed::Neither;
            let assertion = spec.assertion_xml(&saml.idp, true);
            spec.wrap(&saml.idp, &assertion, false)
        } else {
            spec.xml(&saml.idp)
        };
        let page = saml
            .assert_refused("weak_algorithm", saml.post_xml(&xml).await, 1)
            .await;
        assert!(page.contains("too weak"), "{signature} / {digest}: {page}");
    }

    // The algorithm's name is read before the signature is checked: a long one is cut short
    // on the page and in the audit log.
    let mut spec = saml.spec("weak@example.com");
    spec.signature_algorithm = format!("http://example.test/{}", "B".repeat(100_000));
    spec.signed = Signed::Neither;
    let assertion = spec.assertion_xml(&saml.idp, true);
    let xml = spec.wrap(&saml.idp, &assertion, false);
    let page = saml
        .assert_refused("weak_algorithm", saml.post_xml(&xml).await, 1)
        .await;
    assert!(page.contains(&"B".repeat(400)), "{page}");
    assert!(
        !page.contains(&"B".repeat(501)),
        "the page repeats the whole name"
    );
    let longest_detail = saml.app.audit_details_longest().await;
    assert!(
        longest_detail < 1_000,
        "an audit event of {longest_detail} bytes"
    );
}

#[tokio::test]
async fn transforms_and_canonicalizations_okta_does_not_use_are_refused_before_xmlsec_runs_them() {
    let saml = Saml::start(true, true).await;
    // XPath filtering that leaves the signature out signs the same bytes as enveloped-signature:
    // a signature xmlsec itself accepts, which only Portal's list of transforms refuses.
    let mut xpath = saml.spec("xpath@example.com");
    xpath.transforms = format!(
        r#"<ds:Transform Algorithm="{XPATH}"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform><ds:Transform Algorithm="{EXC_C14N}"/>"#
    );
    let xml = xpath.xml(&saml.idp);
    let certificate = samael::crypto::CertificateDer::from(saml.idp.cert.to_der().unwrap());
    assert!(
        portal::sso::saml::verify::signed_part(&xml, &[certificate]).is_ok(),
        "xmlsec accepts the XPath transform"
    );
    let page = saml
        .assert_refused("transform", saml.post_xml(&xml).await, 1)
        .await;
    assert!(page.contains("REC-xpath-19991116"), "{page}");

    // What xmlsec would run, follow or read before it checks the signature, put into a signed
    // response: each edit (what it replaces, once, and with what), the reason the audit log
    // gives and what the page says.
    let signed = saml.spec("xslt@example.com").xml(&saml.idp);
    let enveloped = format!(r#"<ds:Transform Algorithm="{ENVELOPED_SIGNATURE}"/>"#);
    let stylesheet = r#"<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:value-of select="'x'"/></xsl:template></xsl:stylesheet>"#;
    let reference = r#"<ds:Reference URI=""#;
    let edits = [
        // An XSLT stylesheet.
        (
            enveloped.clone(),
            format!(r#"<ds:Transform Algorithm="{XSLT}">{stylesheet}</ds:Transform>{enveloped}"#),
            "transform",
            "the transform REC-xslt-19991116".to_string(),
        ),
        // Another canonicalization of SignedInfo.
        (
            format!(r#"<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>"#),
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2000/09/xmldsig#base64"/>"#
                .into(),
            "transform",
            "the canonicalization base64".into(),
        ),
        // A chain of five transforms.
        (
            enveloped.clone(),
            enveloped.repeat(4),
            "transform",
            "5 transforms, where at most 4 are read".into(),
        ),
        // A Manifest, whose references xmlsec follows.
        (
            "</ds:Signature>".into(),
            format!(
                r##"<ds:Object><ds:Manifest><ds:Reference URI="http://127.0.0.1:9/manifest"><ds:Transforms><ds:Transform Algorithm="{XSLT}">{stylesheet}</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference></ds:Manifest></ds:Object></ds:Signature>"##
            ),
            "signature_content",
            "an element Object".into(),
        ),
        // An `Algorithm` in another namespace, placed first: the one libxml2 would read.
        (
            enveloped.clone(),
            format!(
                r#"<ds:Transform xmlns:x="urn:x" x:Algorithm="{XSLT}" Algorithm="{ENVELOPED_SIGNATURE}"/>"#
            ),
            "foreign_attribute",
            "the attribute Algorithm twice, in two namespaces".into(),
        ),
        // Alone, it is read all the same.
        (
            enveloped.clone(),
            format!(r#"<ds:Transform xmlns:x="urn:x" x:Algorithm="{XSLT}"/>"#),
            "foreign_attribute",
            "the attribute Algorithm in the namespace urn:x".into(),
        ),
        // `xml:` is a namespace like any other to libxml2: the URI xmlsec would fetch.
        (
            reference.into(),
            r#"<ds:Reference xml:URI="http://127.0.0.1:9/" URI=""#.into(),
            "foreign_attribute",
            "the attribute URI twice, in two namespaces".into(),
        ),
        (
            enveloped.clone(),
            format!(r#"<ds:Transform xml:Algorithm="{XSLT}"/>"#),
            "foreign_attribute",
            "the attribute Algorithm in the namespace http://www.w3.org/XML/1998/namespace".into(),
        ),
    ];
    for (from, to, reason, named) in edits {
        assert!(signed.contains(&from), "{from}");
        let xml = signed.replacen(&from, &to, 1);
        let page = saml
            .assert_refused(reason, saml.post_xml(&xml).await, 1)
            .await;
        assert!(page.contains(&named), "{named}: {page}");
    }

    // Inclusive canonicalization of SignedInfo, and exclusive with the prefixes it keeps
    // (Okta's `InclusiveNamespaces PrefixList="xs"`), are accepted.
    let mut inclusive = saml.spec("inclusive@example.com");
    inclusive.canonicalization = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315".into();
    inclusive.transforms = format!(
        r#"<ds:Transform Algorithm="{ENVELOPED_SIGNATURE}"/><ds:Transform Algorithm="{EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="xs"/></ds:Transform>"#
    );
    assert!(has_session_cookie(&saml.post_spec(&inclusive).await));
}

#[tokio::test]
async fn what_libxml2_reads_only_in_recover_mode_is_refused() {
    let saml = Saml::start(true, true).await;
    let signed = saml.spec("recover@example.com").xml(&saml.idp);
    let status = "<samlp:Status>";
    assert!(signed.contains(status));
    // A name beyond libxml2's 50,000 characters: roxmltree reads the element whole, libxml2 in
    // recover mode drops the name and reads on, so the two would not see one document. The
    // signed assertion beside it is intact, and was accepted before.
    let long_name = signed.replacen(status, &format!("<{} />{status}", "P".repeat(50_001)), 1);
    let page = saml
        .assert_refused("malformed", saml.post_xml(&long_name).await, 1)
        .await;
    assert!(page.contains("recover mode"), "{page}");
    // A processing instruction, where libxml2 would read a long target as markup.
    let instruction = signed.replacen(status, &format!("<?portal x?>{status}"), 1);
    let page = saml
        .assert_refused("malformed", saml.post_xml(&instruction).await, 1)
        .await;
    assert!(page.contains("processing instruction"), "{page}");
    assert!(has_session_cookie(&saml.post_xml(&signed).await));
}

#[tokio::test]
async fn doctype_entities_and_billion_laughs_are_refused_before_parsing() {
    let saml = Saml::start(true, true).await;
    let signed = saml.spec("xxe@example.com").xml(&saml.idp);
    let xxe = format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{signed}");
    let laughs = format!(
        "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{signed}"
    );
    for xml in [xxe, laughs] {
        let page = saml
            .assert_refused("doctype", saml.post_xml(&xml).await, 1)
            .await;
        assert!(page.contains("DOCTYPE"));
    }
}

#[tokio::test]
async fn an_oversized_response_is_refused_before_decoding() {
    let saml = Saml::start(true, true).await;
    // Beyond the body's limit, and within it but beyond the field's.
    for size in [300 * 1024, 257 * 1024] {
        let huge = "A".repeat(size);
        let response = saml.post(&huge, None).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let page = saml.assert_refused("too_large", response, 1).await;
        assert!(page.contains("larger than"), "{page}");
    }
}

#[tokio::test]
async fn a_post_without_a_saml_response_gets_the_failure_page() {
    let saml = Saml::start(true, true).await;
    let response = browser()
        .post(&saml.acs_url)
        .form(&[("RelayState", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = saml.assert_refused("not_a_form_post", response, 1).await;
    assert!(page.contains("SAMLResponse"), "{page}");
}

#[tokio::test]
async fn a_status_other_than_success_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("s@example.com");
    spec.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    let page = saml
        .assert_refused("status", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("Requester"), "{page}");

    // The status is not signed: a long one is cut short on the page and in the audit log.
    let mut spec = saml.spec("s@example.com");
    spec.status = format!("urn:oasis:names:tc:SAML:2.0:status:{}", "A".repeat(100_000));
    let page = saml
        .assert_refused("status", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains(&"A".repeat(64)), "{page}");
    assert!(
        !page.contains(&"A".repeat(65)),
        "the page repeats the whole status"
    );
    let longest_detail = saml.app.audit_details_longest().await;
    assert!(
        longest_detail < 1_000,
        "an audit event of {longest_detail} bytes"
    );
}

#[tokio::test]
async fn an_assertion_from_another_issuer_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("i@example.com");
    spec.issuer = "http://www.okta.com/exk1other".into();
    let page = saml
        .assert_refused("issuer", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("not by the configured identity provider"));
}

#[tokio::test]
async fn a_missing_or_foreign_audience_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut missing = saml.spec("a@example.com");
    missing.audience = None;
    saml.assert_refused("audience_missing", saml.post_spec(&missing).await, 1)
        .await;
    let mut foreign = saml.spec("a@example.com");
    foreign.audience = Some("https://other-app.example.com/saml".into());
    let page = saml
        .assert_refused("audience", saml.post_spec(&foreign).await, 1)
        .await;
    assert!(page.contains("meant for another service"));
}

#[tokio::test]
async fn a_wrong_or_missing_destination_and_a_wrong_recipient_are_refused() {
    let saml = Saml::start(true, true).await;
    let mut wrong = saml.spec("d@example.com");
    wrong.destination = Some("https://evil.example.com/acs".into());
    saml.assert_refused("destination", saml.post_spec(&wrong).await, 1)
        .await;
    let mut missing = saml.spec("d@example.com");
    missing.destination = None;
    saml.assert_refused("destination", saml.post_spec(&missing).await, 1)
        .await;
    let mut recipient = saml.spec("d@example.com");
    recipient.recipient = "https://evil.example.com/acs".into();
    let page = saml
        .assert_refused("recipient", saml.post_spec(&recipient).await, 1)
        .await;
    assert!(page.contains("recipient"));
}

#[tokio::test]
async fn a_signed_assertion_missing_what_must_be_checked_is_refused() {
    let saml = Saml::start(true, true).await;
    let acs = saml.acs_url.clone();
    let issuer = format!("<saml:Issuer>{}</saml:Issuer>", saml.idp.entity_id);
    // Every case starts from one spec, so that its times (to the second) are the ones the
    // edits below were cut from.
    let base = saml.spec("missing@example.com");
    let confirmation_data = {
        let xml = base.assertion_xml(&saml.idp, false);
        let start = xml.find("<saml:SubjectConfirmationData").unwrap();
        let end = start + xml[start..].find("/>").unwrap() + 2;
        xml[start..end].to_string()
    };
    let other_audience = "<saml:AudienceRestriction><saml:Audience>https://other.example</saml:Audience></saml:AudienceRestriction>";
    let cases: Vec<(&str, (String, String))> = vec![
        ("issuer", (issuer, String::new())),
        (
            "recipient",
            (format!(r#" Recipient="{acs}""#), String::new()),
        ),
        ("not_bearer", (confirmation_data.clone(), String::new())),
        (
            "no_validity",
            (
                confirmation_data.clone(),
                confirmation_data
                    .split(' ')
                    .filter(|part| !part.starts_with("NotOnOrAfter="))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
        (
            "no_validity",
            (r#"" NotOnOrAfter=""#.into(), r#"" Valid=""#.into()),
        ),
        (
            "audience",
            (
                "</saml:Conditions>".into(),
                format!("{other_audience}</saml:Conditions>"),
            ),
        ),
    ];
    for (reason, edit) in cases {
        let mut spec = base.clone();
        spec.assertion_id = saml.spec("missing@example.com").assertion_id;
        spec.assertion_edits.push(edit.clone());
        let page = saml
            .assert_refused(reason, saml.post_spec(&spec).await, 1)
            .await;
        assert!(
            page.contains("data-testid=\"sso-error\""),
            "{edit:?}: {page}"
        );
    }
}

#[tokio::test]
async fn a_subject_confirmation_that_is_not_bearer_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("hok@example.com");
    spec.bearer = false;
    saml.assert_refused("not_bearer", saml.post_spec(&spec).await, 1)
        .await;
}

#[tokio::test]
async fn assertions_outside_their_validity_beyond_three_minutes_are_refused() {
    let saml = Saml::start(true, true).await;
    let now = chrono::Utc::now();
    let mut early = saml.spec("t@example.com");
    early.not_before = now + chrono::TimeDelta::minutes(4);
    saml.assert_refused("not_yet_valid", saml.post_spec(&early).await, 1)
        .await;
    let mut late = saml.spec("t@example.com");
    late.not_on_or_after = now - chrono::TimeDelta::minutes(4);
    saml.assert_refused("expired", saml.post_spec(&late).await, 1)
        .await;
    let mut confirmation = saml.spec("t@example.com");
    confirmation.confirmation_not_on_or_after = now - chrono::TimeDelta::minutes(4);
    saml.assert_refused("expired", saml.post_spec(&confirmation).await, 1)
        .await;
    let later =
        (now + chrono::TimeDelta::minutes(4)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut confirmed_later = saml.spec("t@example.com");
    confirmed_later.assertion_edits.push((
        "<saml:SubjectConfirmationData ".into(),
        format!(r#"<saml:SubjectConfirmationData NotBefore="{later}" "#),
    ));
    saml.assert_refused("not_yet_valid", saml.post_spec(&confirmed_later).await, 1)
        .await;
    let mut issued_later = saml.spec("t@example.com");
    issued_later.issued = now + chrono::TimeDelta::minutes(4);
    let page = saml
        .assert_refused("issued_in_future", saml.post_spec(&issued_later).await, 1)
        .await;
    assert!(page.contains("check the clocks"), "{page}");
    let mut undated = saml.spec("t@example.com");
    let issued = undated
        .issued
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    undated
        .assertion_edits
        .push((format!(r#" IssueInstant="{issued}""#), String::new()));
    let page = saml
        .assert_refused("malformed", saml.post_spec(&undated).await, 1)
        .await;
    assert!(page.contains("the assertion has no IssueInstant"), "{page}");

    // Within three minutes either way, each of them is accepted.
    let soon =
        (now + chrono::TimeDelta::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut within = saml.spec("t@example.com");
    within.issued = now + chrono::TimeDelta::minutes(2);
    within.assertion_edits.push((
        "<saml:SubjectConfirmationData ".into(),
        format!(r#"<saml:SubjectConfirmationData NotBefore="{soon}" "#),
    ));
    assert!(has_session_cookie(&saml.post_spec(&within).await));
}

#[tokio::test]
async fn an_assertion_that_does_not_say_the_person_was_authenticated_or_is_stale_is_refused() {
    use portal::db::entities::{saml_assertion_seen, session};
    let saml = Saml::start(true, true).await;
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // SAML profiles 4.1.4.2: a bearer assertion says how Okta authenticated the person.
    let mut unauthenticated = saml.spec("t@example.com");
    let statement = format!(
        r#"<saml:AuthnStatement AuthnInstant="{}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
        at(unauthenticated.issued)
    );
    unauthenticated
        .assertion_edits
        .push((statement, String::new()));
    saml.assert_refused(
        "no_authn_statement",
        saml.post_spec(&unauthenticated).await,
        1,
    )
    .await;

    // The session Okta granted has ended, beyond the three minutes of skew.
    let mut ended = saml.spec("t@example.com");
    ended.assertion_edits.push((
        "<saml:AuthnStatement ".into(),
        format!(
            r#"<saml:AuthnStatement SessionNotOnOrAfter="{}" "#,
            at(now - chrono::TimeDelta::minutes(4))
        ),
    ));
    let page = saml
        .assert_refused("session_ended", saml.post_spec(&ended).await, 1)
        .await;
    assert!(page.contains("SessionNotOnOrAfter"), "{page}");

    // Issued more than ten minutes and the skew ago, however long it says it is good for.
    let mut kept = saml.spec("t@example.com");
    kept.issued = now - chrono::TimeDelta::minutes(14);
    kept.not_before = kept.issued;
    kept.not_on_or_after = now + chrono::TimeDelta::days(1);
    kept.confirmation_not_on_or_after = now + chrono::TimeDelta::days(1);
    saml.assert_refused("too_old", saml.post_spec(&kept).await, 1)
        .await;

    // Twelve minutes old and good for a day, with a session Okta ends in half an hour: taken.
    // Portal's session ends with Okta's (and the skew), and the replay cache keeps the id only
    // while an assertion that old could be taken at all.
    let mut fresh_enough = saml.spec("t@example.com");
    fresh_enough.issued = now - chrono::TimeDelta::minutes(12);
    fresh_enough.not_before = fresh_enough.issued;
    fresh_enough.not_on_or_after = now + chrono::TimeDelta::days(1);
    fresh_enough.confirmation_not_on_or_after = now + chrono::TimeDelta::days(1);
    let okta_session_ends = now + chrono::TimeDelta::minutes(30);
    fresh_enough.assertion_edits.push((
        "<saml:AuthnStatement ".into(),
        format!(
            r#"<saml:AuthnStatement SessionNotOnOrAfter="{}" "#,
            at(okta_session_ends)
        ),
    ));
    assert!(has_session_cookie(&saml.post_spec(&fresh_enough).await));
    let sessions = session::Entity::find()
        .all(&saml.app.portal.db)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let ends = sessions[0].expires_at;
    let expected = okta_session_ends + chrono::TimeDelta::minutes(3);
    assert!(
        (ends - expected).num_seconds().abs() <= 1,
        "the session ends at {ends}, not with Okta's at {expected}"
    );
    let seen = saml_assertion_seen::Entity::find_by_id(fresh_enough.assertion_id.clone())
        .one(&saml.app.portal.db)
        .await
        .unwrap()
        .expect("the assertion's id is kept against replay");
    assert!(
        seen.expires_at <= now + chrono::TimeDelta::minutes(2),
        "kept until {}",
        seen.expires_at
    );
}

#[tokio::test]
async fn an_unknown_or_reused_in_response_to_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut unknown = saml.spec("r@example.com");
    unknown.in_response_to = Some("_never-sent".into());
    saml.assert_refused("unknown_request", saml.post_spec(&unknown).await, 1)
        .await;

    let (request_id, _) = saml.start_login("/").await;
    let mut first = saml.spec("r@example.com");
    first.in_response_to = Some(request_id.clone());
    assert!(has_session_cookie(&saml.post_spec(&first).await));
    let sessions = saml.app.session_count().await;
    let mut second = saml.spec("r@example.com");
    second.in_response_to = Some(request_id);
    let response = saml.post_spec(&second).await;
    assert!(response.status().is_client_error());
    assert!(!has_session_cookie(&response));
    assert_eq!(saml.app.session_count().await, sessions);
}

/// A response that names its request on the Response only, as some identity providers send it:
/// the Response signed, its assertion without an InResponseTo of its own.
fn answer_on_the_response(saml: &Saml, email: &str, request_id: &str) -> String {
    let mut spec = saml.spec(email);
    spec.signed = Signed::Response;
    let assertion = spec.assertion_xml(&saml.idp, false);
    spec.in_response_to = Some(request_id.into());
    saml.idp.sign(&spec.wrap(&saml.idp, &assertion, true))
}

#[tokio::test]
async fn an_in_response_to_on_the_response_alone_must_name_an_outstanding_request() {
    let saml = Saml::start(true, true).await;
    let unknown = answer_on_the_response(&saml, "outer@example.com", "_never-sent");
    saml.assert_refused("unknown_request", saml.post_xml(&unknown).await, 1)
        .await;

    let (request_id, _) = saml.start_login("/settings/iam/users").await;
    let answer = answer_on_the_response(&saml, "outer@example.com", &request_id);
    let response = saml.post_xml(&answer).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/settings/iam/users",
        "the request's page"
    );
    assert!(has_session_cookie(&response));
    // The request is used up: a second answer to it, even a fresh one, is refused.
    let again = answer_on_the_response(&saml, "outer@example.com", &request_id);
    let person = saml.account("outer@example.com").await.unwrap();
    portal::auth::session::end_all_for(&saml.app.portal.db, person.id)
        .await
        .unwrap();
    saml.assert_refused("unknown_request", saml.post_xml(&again).await, 2)
        .await;
}

#[tokio::test]
async fn an_in_response_to_outside_what_is_signed_is_refused() {
    // IdP-initiated sign-in off: only answers to this portal's own requests are let in.
    let saml = Saml::start(true, false).await;
    let (request_id, _) = saml.start_login("/").await;
    // A genuinely signed assertion that answers nothing, and the request named on the unsigned
    // Response around it, as someone would who wanted it taken as an answer.
    let signed = saml.spec("tile@example.com").xml(&saml.idp);
    let named = signed.replacen(
        "<samlp:Response ",
        &format!("<samlp:Response InResponseTo=\"{request_id}\" "),
        1,
    );
    assert_ne!(named, signed);
    saml.assert_refused("in_response_to_unsigned", saml.post_xml(&named).await, 1)
        .await;
    // The request is still outstanding: a signed answer to it signs in.
    let mut answer = saml.spec("tile@example.com");
    answer.in_response_to = Some(request_id);
    let response = saml.post_spec(&answer).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn an_answer_to_an_expired_request_is_refused() {
    use portal::db::entities::saml_request;
    let saml = Saml::start(true, true).await;
    let (request_id, _) = saml.start_login("/").await;
    let mut request: saml_request::ActiveModel =
        saml_request::Entity::find_by_id(request_id.clone())
            .one(&saml.app.portal.db)
            .await
            .unwrap()
            .expect("the request is outstanding")
            .into();
    request.expires_at = Set(chrono::Utc::now() - chrono::TimeDelta::seconds(1));
    request.update(&saml.app.portal.db).await.unwrap();
    let mut spec = saml.spec("late@example.com");
    spec.in_response_to = Some(request_id);
    let page = saml
        .assert_refused("unknown_request", saml.post_spec(&spec).await, 1)
        .await;
    assert!(page.contains("Start the sign-in again"), "{page}");
}

/// Under https: starts an SP-initiated sign-in in a browser that holds `cookie` (its binding
/// cookie, if any) and returns the request's id and the binding cookie Portal sets.
async fn start_bound_login(app: &TestApp, cookie: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/sso/saml/login"));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("__Host-portal_saml={cookie}"));
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let id = authn_request_id(response.headers()[header::LOCATION].to_str().unwrap());
    let set = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("__Host-portal_saml="))
        .expect("a binding cookie under https");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=None",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let value = set["__Host-portal_saml=".len()..]
        .split(';')
        .next()
        .unwrap();
    (id, value.to_string())
}

#[tokio::test]
async fn under_https_an_answer_to_a_request_is_taken_only_from_the_browser_sent_to_okta() {
    let app = TestApp::spawn_with(&[("public_url", "https://portal.example")]).await;
    let idp = TestIdp::new(IDP);
    app.configure_saml(&idp, true, false).await;
    let saml = Saml {
        app,
        idp,
        sp_entity_id: "https://portal.example/sso/saml/metadata".into(),
        acs_url: "https://portal.example/sso/saml/acs".into(),
    };
    let answer = |request_id: &str| {
        let mut spec = saml.spec("bound@example.com");
        spec.in_response_to = Some(request_id.into());
        spec.encoded(&saml.idp)
    };
    let post = |encoded: String, cookie: Option<String>| {
        let mut request = browser()
            .post(saml.app.url("/sso/saml/acs"))
            .form(&[("SAMLResponse", encoded)]);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, format!("__Host-portal_saml={cookie}"));
        }
        request.send()
    };

    let (request, mine) = start_bound_login(&saml.app, None).await;
    // A second sign-in in the same browser keeps its cookie, so that both tabs can finish.
    let (_, again) = start_bound_login(&saml.app, Some(&mine)).await;
    assert_eq!(again, mine);
    let (_, theirs) = start_bound_login(&saml.app, None).await;
    assert_ne!(theirs, mine);

    // Okta's answer to my request, posted from a browser without my cookie or with another's:
    // login CSRF, someone else signed in as me.
    let encoded = answer(&request);
    for cookie in [None, Some(theirs)] {
        let response = post(encoded.clone(), cookie).await.unwrap();
        let page = saml
            .assert_refused("request_other_browser", response, 1)
            .await;
        assert!(page.contains("started in another browser"), "{page}");
    }
    // From my browser, it signs me in; the request is used up.
    let response = post(encoded.clone(), Some(mine.clone())).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    assert!(saml.account("bound@example.com").await.is_some());
}

#[tokio::test]
async fn an_unsolicited_sign_in_never_returns_to_another_site() {
    let saml = Saml::start(true, true).await;
    for (relay_state, expected) in [
        ("//evil.example/phish", "/"),
        ("https://evil.example/phish", "/"),
        ("/\\evil.example", "/"),
        ("/settings/iam/audit", "/settings/iam/audit"),
    ] {
        let encoded = saml.spec("relay@example.com").encoded(&saml.idp);
        let response = saml.post(&encoded, Some(relay_state)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{relay_state}");
        assert_eq!(location(&response), expected, "RelayState {relay_state}");
    }
}

#[tokio::test]
async fn an_unsolicited_response_is_refused_while_idp_initiated_sign_in_is_off() {
    let saml = Saml::start(true, false).await;
    let page = saml
        .assert_refused(
            "unsolicited",
            saml.post_spec(&saml.spec("tile@example.com")).await,
            1,
        )
        .await;
    assert!(page.contains("Okta dashboard"));
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let saml = Saml::start(true, true).await;
    let encoded = saml.spec("replay@example.com").encoded(&saml.idp);
    assert!(has_session_cookie(&saml.post(&encoded, None).await));
    let sessions = saml.app.session_count().await;
    let response = saml.post(&encoded, None).await;
    assert!(response.status().is_client_error());
    assert!(!has_session_cookie(&response));
    assert!(response.text().await.unwrap().contains("already used"));
    assert_eq!(saml.app.session_count().await, sessions);
}

#[tokio::test]
async fn a_refused_assertion_and_its_request_are_spent_so_turning_jit_on_revives_neither() {
    let saml = Saml::start(false, true).await;
    let (request_id, _) = saml.start_login("/").await;
    let mut answer = saml.spec("early@example.com");
    answer.in_response_to = Some(request_id);
    let answer = answer.encoded(&saml.idp);
    let unsolicited = saml.spec("early@example.com").encoded(&saml.idp);
    for encoded in [&answer, &unsolicited] {
        saml.assert_refused("no_account", saml.post(encoded, None).await, 1)
            .await;
    }

    saml.app.configure_saml(&saml.idp, true, true).await;
    saml.assert_refused("unknown_request", saml.post(&answer, None).await, 1)
        .await;
    saml.assert_refused("replayed", saml.post(&unsolicited, None).await, 1)
        .await;
    assert!(saml.account("early@example.com").await.is_none());
    // A new sign-in at Okta brings a new assertion, and with it the account.
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("early@example.com")).await
    ));
}

// ---- refused: signature wrapping and comment injection --------------------------------------

#[tokio::test]
async fn a_second_unsigned_assertion_beside_the_signed_one_is_refused() {
    let saml = Saml::start(true, true).await;
    let good = saml.spec("victim@example.com").xml(&saml.idp);
    let mut evil = saml.spec("attacker@example.com");
    evil.assertion_id = "_evil".into();
    let evil_assertion = evil.assertion_xml(&saml.idp, false);
    // XSW: the forged assertion first, the genuinely signed one after it.
    for xml in [
        good.replacen(
            "<saml:Assertion",
            &format!("{evil_assertion}<saml:Assertion"),
            1,
        ),
        good.replacen(
            "</samlp:Response>",
            &format!("{evil_assertion}</samlp:Response>"),
            1,
        ),
    ] {
        let page = saml
            .assert_refused("assertion_count", saml.post_xml(&xml).await, 1)
            .await;
        assert!(page.contains("exactly one assertion"), "{page}");
    }
}

#[tokio::test]
async fn a_response_declared_in_another_encoding_than_utf8_is_refused() {
    let saml = Saml::start(true, true).await;
    let body = saml.spec("utf7@example.com").xml(&saml.idp);
    let utf7 = format!(r#"<?xml version="1.0" encoding="UTF-7"?>{body}"#);
    let page = saml
        .assert_refused("malformed", saml.post_xml(&utf7).await, 1)
        .await;
    assert!(page.contains("only UTF-8 is read"), "{page}");
    let utf8 = format!(r#"<?xml version="1.0" encoding="utf-8"?>{body}"#);
    let response = saml.post_xml(&utf8).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn a_forged_assertion_nested_in_the_signed_one_or_around_it_is_refused() {
    let saml = Saml::start(true, true).await;
    let good = saml.spec("victim@example.com").xml(&saml.idp);
    let mut evil = saml.spec("attacker@example.com");
    evil.assertion_id = "_evil".into();
    let evil_assertion = evil.assertion_xml(&saml.idp, false);
    // Inside the signature's own element, which the enveloped-signature transform leaves out
    // of the digest: the signature still verifies.
    let in_signature = good.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{evil_assertion}</ds:Object></ds:Signature>"),
        1,
    );
    // In the signed assertion's Advice, and the signed assertion in a forged one's Advice.
    let in_advice = good.replacen(
        "</saml:Assertion>",
        &format!("<saml:Advice>{evil_assertion}</saml:Advice></saml:Assertion>"),
        1,
    );
    let start = good.find("<saml:Assertion").unwrap();
    let end = good.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let around = format!(
        "{}{}{}",
        &good[..start],
        evil_assertion.replacen(
            "</saml:Assertion>",
            &format!(
                "<saml:Advice>{}</saml:Advice></saml:Assertion>",
                &good[start..end]
            ),
            1
        ),
        &good[end..]
    );
    for xml in [in_signature, in_advice, around] {
        let page = saml
            .assert_refused("assertion_count", saml.post_xml(&xml).await, 1)
            .await;
        assert!(page.contains("exactly one assertion"), "{page}");
    }
}

#[tokio::test]
async fn a_signed_response_wrapped_in_a_forged_one_or_with_its_assertion_swapped_is_refused() {
    let saml = Saml::start(true, true).await;
    let mut spec = saml.spec("victim@example.com");
    spec.signed = Signed::Response;
    let signed = spec.xml(&saml.idp);
    let good = &signed[signed.find("<samlp:Response").unwrap()..];
    let mut evil = saml.spec("attacker@example.com");
    evil.assertion_id = "_evil".into();
    evil.response_id = "_evil_response".into();
    let evil_assertion = evil.assertion_xml(&saml.idp, false);
    // XSW1: a forged Response around the genuinely signed one, tucked in its Extensions.
    let forged = evil.wrap(
        &saml.idp,
        &format!("<samlp:Extensions>{good}</samlp:Extensions>{evil_assertion}"),
        false,
    );
    saml.assert_refused("assertion_count", saml.post_xml(&forged).await, 1)
        .await;
    // The signed Response kept whole, its assertion swapped for the forged one.
    let start = good.find("<saml:Assertion").unwrap();
    let end = good.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let swapped = format!("{}{evil_assertion}{}", &good[..start], &good[end..]);
    saml.assert_refused("bad_signature", saml.post_xml(&swapped).await, 1)
        .await;
}

#[tokio::test]
async fn a_signed_assertion_moved_out_of_place_is_refused() {
    let saml = Saml::start(true, true).await;
    let good = saml.spec("victim@example.com").xml(&saml.idp);
    let start = good.find("<saml:Assertion").unwrap();
    let end = good.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let signed_assertion = &good[start..end];
    let mut evil = saml.spec("attacker@example.com");
    evil.assertion_id = "_evil".into();
    let evil_assertion = evil.assertion_xml(&saml.idp, false);
    // XSW: the signed assertion hidden in an Extensions element, the forged one in its place.
    let wrapped = good.replacen(
        signed_assertion,
        &format!("<samlp:Extensions>{signed_assertion}</samlp:Extensions>{evil_assertion}"),
        1,
    );
    saml.assert_refused("assertion_count", saml.post_xml(&wrapped).await, 1)
        .await;
}

#[tokio::test]
async fn a_signature_whose_reference_points_elsewhere_is_refused() {
    let saml = Saml::start(true, true).await;
    let spec = saml.spec("victim@example.com");
    let good = spec.xml(&saml.idp);
    let moved = good.replacen(
        &format!("URI=\"#{}\"", spec.assertion_id),
        "URI=\"#_elsewhere\"",
        1,
    );
    saml.assert_refused("reference_mismatch", saml.post_xml(&moved).await, 1)
        .await;
}

#[tokio::test]
async fn a_tampered_signed_assertion_is_refused() {
    let saml = Saml::start(true, true).await;
    let good = saml.spec("victim@example.com").xml(&saml.idp);
    let tampered = good.replacen("victim@example.com", "attacker@example.com", 1);
    saml.assert_refused("bad_signature", saml.post_xml(&tampered).await, 1)
        .await;
}

#[tokio::test]
async fn a_comment_inside_the_name_id_cannot_shorten_it_to_someone_elses_email() {
    let saml = Saml::start(true, true).await;
    let victim = new_account("victim@example.com")
        .insert(&saml.app.portal.db)
        .await
        .unwrap();
    // A reader that stopped at the comment would see the victim's address. xmlsec refuses a
    // signed NameID with a comment in it, whether the comment was added after signing (left
    // out of what exclusive canonicalisation signs) or signed by the identity provider; were
    // one accepted, `full_text` reads past comments (unit-tested in `verify`).
    let after_signing = saml
        .spec("victim@example.com.evil.example")
        .xml(&saml.idp)
        .replacen(
            "victim@example.com.evil.example<",
            "victim@example.com<!---->.evil.example<",
            1,
        );
    assert!(after_signing.contains("<!---->"));
    let mut signed_with_it = saml.spec("victim@example.com.evil.example");
    signed_with_it.name_id = "victim@example.com<!---->.evil.example".into();
    let signed_with_it = signed_with_it.xml(&saml.idp);
    assert!(signed_with_it.contains("<!---->"));
    for xml in [after_signing, signed_with_it] {
        saml.assert_refused("bad_signature", saml.post_xml(&xml).await, 2)
            .await;
    }
    let victim_now = portal::db::entities::user::Entity::find_by_id(victim.id)
        .one(&saml.app.portal.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(victim_now, victim, "the victim's account is untouched");
}

// ---- configuration --------------------------------------------------------------------------

#[tokio::test]
async fn pasted_idp_metadata_configures_saml() {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new("http://www.okta.com/exk1meta");
    let token = app.admin_token().await;
    let doc = json!({
        "login_method": "sso",
        "sso": { "protocol": "saml", "saml": { "metadata_xml": idp.metadata_xml("https://example.okta.com/app/exk1meta/sso/saml") } },
        "provisioning": { "method": "sso_jit" }
    });
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let stored = app.identity_document().await;
    assert_eq!(
        stored["sso"]["saml"]["idp_entity_id"],
        "http://www.okta.com/exk1meta"
    );
    assert_eq!(
        stored["sso"]["saml"]["idp_sso_url"],
        "https://example.okta.com/app/exk1meta/sso/saml"
    );
    assert_eq!(
        stored["sso"]["saml"]["allow_idp_initiated"], true,
        "on by default"
    );
    let pem = stored["sso"]["saml"]["idp_certificates"][0]
        .as_str()
        .unwrap();
    assert_eq!(
        openssl::x509::X509::from_pem(pem.as_bytes())
            .unwrap()
            .to_der()
            .unwrap(),
        idp.cert.to_der().unwrap()
    );
}

#[tokio::test]
async fn idp_metadata_is_fetched_once_from_its_url_on_save() {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new("http://www.okta.com/exk1url");
    let xml = idp.metadata_xml("https://example.okta.com/app/exk1url/sso/saml");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/app/exk1url/sso/saml/metadata",
        listener.local_addr().unwrap()
    );
    let served = axum::Router::new().route(
        "/app/exk1url/sso/saml/metadata",
        axum::routing::get(move || async move { xml }),
    );
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    let token = app.admin_token().await;
    let doc = json!({
        "login_method": "password",
        "sso": { "protocol": "saml", "saml": { "metadata_url": url } },
        "provisioning": { "method": "manual" }
    });
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(
        app.identity_document().await["sso"]["saml"]["idp_entity_id"],
        "http://www.okta.com/exk1url"
    );
}

#[tokio::test]
async fn metadata_that_does_not_parse_or_cannot_be_fetched_is_refused_and_the_previous_configuration_stays(
) {
    let saml = Saml::start(true, true).await;
    let before = saml.app.identity_document().await;
    let token = saml.app.admin_token().await;
    let cases = [
        (
            json!({ "metadata_xml": "<not-metadata/>" }),
            "sso.saml.metadata_xml",
        ),
        (
            json!({ "metadata_xml": "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>" }),
            "sso.saml.metadata_xml",
        ),
        (
            json!({ "metadata_url": "http://127.0.0.1:9/metadata" }),
            "sso.saml.metadata_url",
        ),
        // Plain http off this machine: the certificates would travel where anyone could swap them.
        (
            json!({ "metadata_url": "http://example.okta.com/app/exk1/sso/saml/metadata" }),
            "sso.saml.metadata_url",
        ),
    ];
    let mut messages = Vec::new();
    for (saml_doc, field) in cases {
        let doc = json!({ "login_method": "sso", "sso": { "protocol": "saml", "saml": saml_doc }, "provisioning": { "method": "sso_jit" } });
        let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let answer = response.json::<Value>().await.unwrap();
        assert_eq!(answer["field"], field);
        messages.push(answer.to_string());
    }
    assert!(
        messages[2].contains("could not be fetched") && messages[2].contains("onnect"),
        "the cause is named: {}",
        messages[2]
    );
    assert!(messages[3].contains("must use https"), "{}", messages[3]);
    assert_eq!(saml.app.identity_document().await, before);
    // And sign-in still works with the configuration in force.
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("still@example.com")).await
    ));
}

#[tokio::test]
async fn metadata_longer_than_portal_reads_is_refused_without_a_length_announced() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let saml = Saml::start(true, true).await;
    let before = saml.app.identity_document().await;
    // Good metadata, then a comment past 1 MiB, sent in chunks with no Content-Length.
    let xml = saml
        .idp
        .metadata_xml("https://example.okta.com/app/exk1/sso/saml");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut chunk = |bytes: &[u8]| {
            answer.extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
            answer.extend_from_slice(bytes);
            answer.extend_from_slice(b"\r\n");
        };
        chunk(xml.as_bytes());
        chunk(b"<!--");
        let filler = vec![b'x'; 64 * 1024];
        for _ in 0..17 {
            chunk(&filler);
        }
        chunk(b"-->");
        answer.extend_from_slice(b"0\r\n\r\n");
        let _ = socket.write_all(&answer).await;
    });
    let token = saml.app.admin_token().await;
    let doc = json!({ "login_method": "sso", "sso": { "protocol": "saml", "saml": { "metadata_url": url } }, "provisioning": { "method": "sso_jit" } });
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer = response.json::<Value>().await.unwrap();
    assert_eq!(answer["field"], "sso.saml.metadata_url");
    assert!(answer.to_string().contains("larger than 1 MiB"), "{answer}");
    assert_eq!(saml.app.identity_document().await, before);
}

#[tokio::test]
async fn metadata_without_a_signing_certificate_or_with_an_expired_one_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let idp = TestIdp::new("http://www.okta.com/exk1nocert");
    let no_cert = idp
        .metadata_xml("https://example.okta.com/sso")
        .replace(
            &idp.metadata_xml("x")
                .split("<md:KeyDescriptor")
                .nth(1)
                .map(|rest| {
                    format!(
                        "<md:KeyDescriptor{}",
                        rest.split("</md:KeyDescriptor>").next().unwrap()
                    )
                })
                .unwrap(),
            "",
        )
        .replace("</md:KeyDescriptor>", "");
    let doc = json!({ "login_method": "password", "sso": { "protocol": "saml", "saml": { "metadata_xml": no_cert } }, "provisioning": { "method": "manual" } });
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("no signing certificate"));

    let mut expired = saml_document("manual");
    expired["sso"]["saml"]["idp_certificates"] = json!([expired_certificate_pem()]);
    let response = app.api_put(&token, "/api/v1/identity", &expired).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "sso.saml.idp_certificates[0]");
    assert!(
        error["message"].as_str().unwrap().contains("expired"),
        "{error}"
    );
    // The same certificate in pasted metadata is refused under the field the admin filled in.
    use base64::Engine;
    let b64 = |der: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(der);
    let expired_der = openssl::x509::X509::from_pem(expired_certificate_pem().as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let idp = TestIdp::new("http://www.okta.com/exk1stale");
    let metadata = idp.metadata_xml("https://example.okta.com/app/x/sso/saml");
    let stale = metadata.replace(&b64(idp.cert.to_der().unwrap()), &b64(expired_der));
    assert_ne!(stale, metadata);
    let doc = json!({ "login_method": "password", "sso": { "protocol": "saml", "saml": { "metadata_xml": stale } }, "provisioning": { "method": "manual" } });
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "sso.saml.metadata_xml");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("in the metadata, the certificate"),
        "{error}"
    );
    assert_eq!(
        app.identity_document().await["sso"]["protocol"],
        Value::Null
    );
}

#[tokio::test]
async fn a_certificate_that_expired_after_it_was_saved_does_not_stop_turning_jit_off() {
    use portal::db::entities::identity_config;
    let saml = Saml::start(true, true).await;
    let db = &saml.app.portal.db;
    // Time passes: the certificate in force is now past its end.
    let row = identity_config::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut settings: Value = serde_json::from_str(row.saml.as_deref().unwrap()).unwrap();
    settings["idp_certificates"] = json!([expired_certificate_pem()]);
    let mut row: identity_config::ActiveModel = row.into();
    row.saml = Set(Some(settings.to_string()));
    row.update(db).await.unwrap();

    let token = saml.app.admin_token().await;
    let mut doc = saml.app.identity_document().await;
    doc["provisioning"]["method"] = json!("manual");
    let response = saml.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(
        saml.app.identity_document().await["provisioning"]["method"],
        "manual"
    );
    // SAML settings saved anew are checked anew.
    let mut changed = saml.app.identity_document().await;
    changed["sso"]["saml"]["allow_idp_initiated"] = json!(false);
    let response = saml.app.api_put(&token, "/api/v1/identity", &changed).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        saml.app.identity_document().await["sso"]["saml"]["allow_idp_initiated"],
        true
    );
}

#[tokio::test]
async fn two_certificates_allow_a_rollover() {
    let saml = Saml::start(true, true).await;
    let next = TestIdp::new(IDP);
    let token = saml.app.admin_token().await;
    let mut doc = saml.app.identity_document().await;
    doc["sso"]["saml"]["idp_certificates"] = json!([saml.idp.cert_pem(), next.cert_pem()]);
    assert_eq!(
        saml.app
            .api_put(&token, "/api/v1/identity", &doc)
            .await
            .status(),
        StatusCode::OK
    );
    assert!(has_session_cookie(
        &saml.post_spec(&saml.spec("old@example.com")).await
    ));
    let spec = saml.spec("new@example.com");
    assert!(has_session_cookie(
        &saml.post(&spec.encoded(&next), None).await
    ));
}

#[tokio::test]
async fn sp_metadata_names_the_entity_id_and_acs_url_to_give_okta() {
    let saml = Saml::start(true, true).await;
    let response = browser().get(&saml.sp_entity_id).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.unwrap();
    let descriptor: samael::metadata::EntityDescriptor = xml.parse().unwrap();
    assert_eq!(
        descriptor.entity_id.as_deref(),
        Some(saml.sp_entity_id.as_str())
    );
    assert!(xml.contains(&format!("Location=\"{}\"", saml.acs_url)));
    assert!(xml.contains("nameid-format:emailAddress"));
}

// ---- people ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_users_api_lists_jit_people_and_removing_one_ends_their_sessions() {
    let saml = Saml::start(true, true).await;
    let response = saml.post_spec(&saml.spec("leaver@example.com")).await;
    let cookie = session_cookie_value(&response).unwrap();
    let token = saml.app.admin_token().await;
    let users: Value = saml
        .app
        .api_get(&token, "/api/v1/users")
        .await
        .json()
        .await
        .unwrap();
    let leaver = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "leaver@example.com")
        .unwrap()
        .clone();
    assert_eq!(leaver["source"], "sso_jit");
    assert_eq!(leaver["jit_provisioned"], true);
    assert_eq!(leaver["roles"], json!(["user"]));
    assert_eq!(leaver["pools"], json!(["default"]));

    let viewer = saml
        .app
        .person_with_role("viewer@example.com", portal::domain::Role::Viewer)
        .await;
    assert_eq!(
        saml.app.api_get(&viewer, "/api/v1/users").await.status(),
        StatusCode::OK
    );
    let forbidden = reqwest::Client::new()
        .delete(saml.app.url(&format!("/api/v1/users/{}", leaver["id"])))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let removed = reqwest::Client::new()
        .delete(saml.app.url(&format!("/api/v1/users/{}", leaver["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert!(saml.account("leaver@example.com").await.is_none());
    let old_session = saml
        .app
        .me_with_cookie(&format!("portal_session={cookie}"))
        .await;
    assert_eq!(old_session.status(), StatusCode::UNAUTHORIZED);
    assert!(saml.app.audited("account.removed", "success").await);
}

#[tokio::test]
async fn an_admin_cannot_remove_themselves_and_unknown_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me: Value = app
        .api_get(&token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let own = client
        .delete(app.url(&format!("/api/v1/users/{}", me["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = client
        .delete(app.url("/api/v1/users/99999"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.user_count().await, 1);
}
