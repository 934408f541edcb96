//! OpenID Connect sign-in through `/sso/oidc/login` and `/sso/oidc/callback` against a local
//! provider: the accepted paths, and each case of the OpenID Foundation's relying-party list for
//! the code flow, plus state, code and linking rules. Every rejection asserts that no session
//! and no account came of it.

mod support;

use std::time::Duration;

use reqwest::{header, Client, Response, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use support::oidc::*;
use support::*;

struct Oidc {
    app: TestApp,
    op: TestOp,
}

/// One person's browser: its own cookies, no redirects followed.
struct Browser {
    client: Client,
}

impl Oidc {
    async fn start(jit: bool) -> Oidc {
        Self::start_with(jit, &[], |_| {}).await
    }

    /// A portal with `overrides`, and a provider prepared by `prepare` before the admin saves it.
    async fn start_with(
        jit: bool,
        overrides: &[(&str, &str)],
        prepare: impl FnOnce(&TestOp),
    ) -> Oidc {
        let app = TestApp::spawn_with(overrides).await;
        let op = TestOp::start().await;
        prepare(&op);
        app.configure_oidc(&op, jit).await;
        Oidc { app, op }
    }

    fn browser(&self) -> Browser {
        Browser { client: browser() }
    }

    /// Starts a sign-in in `browser` and returns where Portal sends it (the authorize URL).
    async fn begin(&self, browser: &Browser) -> String {
        let response = browser
            .client
            .get(self.app.url("/sso/oidc/login"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        location(&response)
    }

    /// Opens `/sso/oidc/login` in a browser of its own and returns Portal's answer.
    async fn open_sign_in(&self) -> Response {
        self.browser()
            .client
            .get(self.app.url("/sso/oidc/login"))
            .send()
            .await
            .unwrap()
    }

    async fn callback(&self, browser: &Browser, url: &str) -> Response {
        browser.client.get(url).send().await.unwrap()
    }

    /// The whole round trip for `person`, the provider answering as `spec` says.
    async fn sign_in(&self, person: &Person, spec: TokenSpec) -> Response {
        let browser = self.browser();
        let authorize = self.begin(&browser).await;
        let callback = self.op.authorize(&authorize, person, spec);
        self.callback(&browser, &callback).await
    }

    /// Asserts a refused callback: the status, a page with a correlation id, no session, no
    /// account beyond `users_before`, and an audit event with the reason. Returns the page.
    async fn assert_refused(
        &self,
        response: Response,
        status: StatusCode,
        reason: &str,
        users_before: u64,
    ) -> String {
        assert_eq!(response.status(), status);
        assert!(
            !has_session_cookie(&response),
            "a refused sign-in starts no session"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"data-testid="correlation-id""#), "{page}");
        assert_eq!(
            self.app.user_count().await,
            users_before,
            "no account is created"
        );
        assert_eq!(self.app.session_count().await, 0, "no session is stored");
        let reasons = self.failure_reasons().await;
        assert!(
            reasons.iter().any(|r| r == reason),
            "audit reasons {reasons:?} lack {reason}"
        );
        page
    }

    async fn failure_reasons(&self) -> Vec<String> {
        self.app.audit_reasons("sign_in.oidc").await
    }

    async fn account(&self, email: &str) -> Option<portal::db::entities::user::Model> {
        portal::people::find_by_email(
            &self.app.portal.db,
            &portal::domain::Email::parse(email).unwrap(),
        )
        .await
        .unwrap()
    }
}

fn location(response: &Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

fn ada() -> Person {
    Person::new("ada.lovelace@example.test")
}

#[tokio::test]
async fn a_first_sign_in_asks_for_code_pkce_state_nonce_and_creates_the_account_just_in_time() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let query: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["redirect_uri"], oidc.app.url("/sso/oidc/callback"));
    assert_eq!(query["scope"], "openid email profile");
    assert_eq!(query["state"].len(), 22, "a random state of 128 bits");
    assert_eq!(query["code_challenge"].len(), 43, "an S256 challenge");

    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&browser, &callback).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert!(has_session_cookie(&response));

    let me: Value = browser
        .client
        .get(oidc.app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ada.lovelace@example.test");
    assert_eq!(me["roles"], json!(["user"]));
    let account = oidc.account("ada.lovelace@example.test").await.unwrap();
    assert!(account.jit_provisioned);
    assert_eq!(account.source, "sso_jit");
    assert_eq!(
        (account.first_name.as_str(), account.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(
        account.idp_provider.as_deref(),
        Some(format!("oidc:{}", oidc.op.issuer).as_str())
    );
    assert_eq!(account.idp_subject.as_deref(), Some(ada().sub.as_str()));
    assert_eq!(
        portal::people::pool_names(&oidc.app.portal.db, account.id)
            .await
            .unwrap(),
        vec!["default".to_string()]
    );
    assert!(oidc.app.audited("account.jit_created", "success").await);

    // She comes back: the same account, no second one.
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(oidc.app.user_count().await, 2);
    assert!(oidc.app.audited("sign_in.sso", "success").await);
}

#[tokio::test]
async fn a_sign_in_ends_the_session_the_browser_held_before() {
    let oidc = Oidc::start(true).await;
    // Ada signs in on a shared computer and walks away without signing out.
    let shared = oidc.browser();
    let authorize = oidc.begin(&shared).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&shared, &callback).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let adas_cookie = session_cookie_value(&response).unwrap();
    assert_eq!(oidc.app.session_count().await, 1);

    // Grace signs in on it: hers is the one session left, and Ada's cookie, wherever a copy of
    // it went, no longer works.
    let grace = Person::new("grace.hopper@example.test");
    let authorize = oidc.begin(&shared).await;
    let callback = oidc.op.authorize(&authorize, &grace, TokenSpec::default());
    assert_eq!(
        oidc.callback(&shared, &callback).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(oidc.app.session_count().await, 1);
    let now: Value = shared
        .client
        .get(oidc.app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["email"], "grace.hopper@example.test");
    let copy = oidc
        .app
        .me_with_cookie(&format!("portal_session={adas_cookie}"))
        .await;
    assert_eq!(copy.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_es256_token_is_accepted() {
    let oidc = Oidc::start(true).await;
    let key = oidc.op.add_key(OpKey::ec("ec-1"), true);
    let response = oidc
        .sign_in(
            &ada(),
            TokenSpec {
                signing: Signing::Key(key),
                ..TokenSpec::default()
            },
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(oidc.account("ada.lovelace@example.test").await.is_some());
}

/// An ES256 token bent one way is refused, and nobody is created.
async fn refused_es256_token(bend: impl FnOnce(&mut TokenSpec), reason: &str) {
    let oidc = Oidc::start(true).await;
    let key = oidc.op.add_key(OpKey::ec("ec-1"), true);
    let mut spec = TokenSpec {
        signing: Signing::Key(key),
        ..TokenSpec::default()
    };
    bend(&mut spec);
    let response = oidc.sign_in(&ada(), spec).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, reason, 1)
        .await;
}

#[tokio::test]
async fn an_es256_token_with_a_bad_signature_is_refused() {
    refused_es256_token(|spec| spec.tamper = true, "bad_signature").await;
}

#[tokio::test]
async fn an_es256_signed_token_that_claims_rs256_is_refused() {
    refused_es256_token(
        |spec| spec.edit = std::sync::Arc::new(|header, _| header["alg"] = "RS256".into()),
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn an_rs256_signed_token_that_claims_es256_is_refused() {
    let oidc = Oidc::start(true).await;
    // An EC key is published beside the RSA one, so that a header saying ES256 finds one.
    oidc.op.add_key(OpKey::ec("ec-1"), true);
    let claims_es256 = TokenSpec::edit(|header, _| header["alg"] = "ES256".into());
    let response = oidc.sign_in(&ada(), claims_es256).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "bad_signature", 1)
        .await;
    let names_the_ec_key = TokenSpec::edit(|header, _| {
        header["alg"] = "ES256".into();
        header["kid"] = "ec-1".into();
    });
    let response = oidc.sign_in(&ada(), names_the_ec_key).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "bad_signature", 1)
        .await;
}

#[tokio::test]
async fn client_secret_post_authenticates_in_the_body() {
    let oidc = Oidc::start(true).await;
    oidc.op.expect_auth_method("client_secret_post");
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    oidc.assert_refused(response, StatusCode::BAD_GATEWAY, "client_refused", 1)
        .await;

    let token = oidc.app.admin_token().await;
    let mut doc = oidc_document(&oidc.op, true);
    doc["sso"]["oidc"]["token_auth_method"] = json!("client_secret_post");
    let saved = oidc.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn profile_claims_missing_from_the_id_token_come_from_userinfo() {
    let oidc = Oidc::start(true).await;
    let spec = TokenSpec {
        profile_in_id_token: false,
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), spec).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let account = oidc.account("ada.lovelace@example.test").await.unwrap();
    assert_eq!(
        (account.first_name.as_str(), account.last_name.as_str()),
        ("Ada", "Lovelace")
    );
}

#[tokio::test]
async fn userinfo_about_another_subject_is_refused() {
    let oidc = Oidc::start(true).await;
    oidc.op.userinfo_says_sub("00u-someone-else");
    let spec = TokenSpec {
        profile_in_id_token: false,
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), spec).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "userinfo_subject", 1)
        .await;
}

/// Each bent ID token is refused with its reason.
async fn refused_token(spec: TokenSpec, reason: &str) {
    let oidc = Oidc::start(true).await;
    let response = oidc.sign_in(&ada(), spec).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, reason, 1)
        .await;
}

#[tokio::test]
async fn an_unsigned_token_alg_none_is_refused() {
    refused_token(
        TokenSpec {
            signing: Signing::Unsigned,
            ..TokenSpec::default()
        },
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_client_secret_is_refused() {
    refused_token(
        TokenSpec {
            signing: Signing::HmacWithClientSecret,
            ..TokenSpec::default()
        },
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    refused_token(
        TokenSpec {
            tamper: true,
            ..TokenSpec::default()
        },
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_by_an_unpublished_key_is_refused_even_with_the_key_embedded() {
    let oidc = Oidc::start(true).await;
    let attacker = OpKey::rsa("key-1");
    let jwk = attacker.jwk(true);
    let jku = oidc.op.attacker_jwks_url();
    let spec = TokenSpec {
        signing: Signing::Foreign(attacker),
        // jwk, jku and x5u in the header are ignored: only the provider's JWKS counts.
        edit: std::sync::Arc::new(move |header, _| {
            header["jwk"] = jwk.clone();
            header["jku"] = json!(jku.clone());
            header["x5u"] = json!(jku.clone());
        }),
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), spec).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "bad_signature", 1)
        .await;
    assert_eq!(
        oidc.op.attacker_jwks_fetches(),
        0,
        "a key set named by the token is never fetched"
    );
}

#[tokio::test]
async fn a_missing_audience_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims.as_object_mut().unwrap().remove("aud");
        }),
        "wrong_audience",
    )
    .await;
}

#[tokio::test]
async fn another_audience_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| claims["aud"] = json!("0oa-another-app")),
        "wrong_audience",
    )
    .await;
}

#[tokio::test]
async fn several_audiences_need_our_client_as_authorized_party() {
    refused_token(
        TokenSpec::edit(|_, claims| claims["aud"] = json!([CLIENT_ID, "0oa-another-app"])),
        "wrong_audience",
    )
    .await;
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims["aud"] = json!([CLIENT_ID, "0oa-another-app"]);
            claims["azp"] = json!("0oa-another-app");
        }),
        "wrong_audience",
    )
    .await;

    let oidc = Oidc::start(true).await;
    let spec = TokenSpec::edit(|_, claims| {
        claims["aud"] = json!([CLIENT_ID, "0oa-another-app"]);
        claims["azp"] = json!(CLIENT_ID);
    });
    assert_eq!(
        oidc.sign_in(&ada(), spec).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_authorized_party_other_than_our_client_is_refused_with_one_audience_too() {
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims["aud"] = json!(CLIENT_ID);
            claims["azp"] = json!("0oa-another-app");
        }),
        "wrong_audience",
    )
    .await;
}

#[tokio::test]
async fn another_issuer_in_the_token_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| claims["iss"] = json!("https://evil.example")),
        "wrong_issuer",
    )
    .await;
}

#[tokio::test]
async fn a_missing_iat_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims.as_object_mut().unwrap().remove("iat");
        }),
        "invalid_token_response",
    )
    .await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_beyond_the_skew_is_refused() {
    let later = chrono::Utc::now().timestamp() + 600;
    refused_token(
        TokenSpec::edit(move |_, claims| claims["iat"] = json!(later)),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn a_token_not_to_be_accepted_yet_beyond_the_skew_is_refused() {
    let now = chrono::Utc::now().timestamp();
    refused_token(
        TokenSpec::edit(move |_, claims| claims["nbf"] = json!(now + 240)),
        "not_yet_valid",
    )
    .await;
    refused_token(
        TokenSpec::edit(move |_, claims| claims["nbf"] = json!("tomorrow")),
        "invalid_id_token",
    )
    .await;

    let oidc = Oidc::start(true).await;
    let spec = TokenSpec::edit(move |_, claims| claims["nbf"] = json!(now + 60));
    assert_eq!(
        oidc.sign_in(&ada(), spec).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_token_issued_a_minute_ahead_is_within_the_skew() {
    let oidc = Oidc::start(true).await;
    let ahead = chrono::Utc::now().timestamp() + 60;
    let spec = TokenSpec::edit(move |_, claims| claims["iat"] = json!(ahead));
    assert_eq!(
        oidc.sign_in(&ada(), spec).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn expiry_allows_three_minutes_of_skew_and_no_more() {
    let now = chrono::Utc::now().timestamp();
    refused_token(
        TokenSpec::edit(move |_, claims| claims["exp"] = json!(now - 240)),
        "expired",
    )
    .await;

    let oidc = Oidc::start(true).await;
    let spec = TokenSpec::edit(move |_, claims| claims["exp"] = json!(now - 60));
    assert_eq!(
        oidc.sign_in(&ada(), spec).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_missing_sub_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims.as_object_mut().unwrap().remove("sub");
        }),
        "invalid_token_response",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_or_missing_nonce_is_refused() {
    refused_token(
        TokenSpec::edit(|_, claims| claims["nonce"] = json!("not-the-nonce")),
        "bad_nonce",
    )
    .await;
    refused_token(
        TokenSpec::edit(|_, claims| {
            claims.as_object_mut().unwrap().remove("nonce");
        }),
        "bad_nonce",
    )
    .await;
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_when_the_jwks_holds_one_key() {
    let oidc = Oidc::start_with(true, &[], |op| op.publish(&[(0, false)])).await;
    let spec = TokenSpec {
        with_kid: false,
        ..TokenSpec::default()
    };
    assert_eq!(
        oidc.sign_in(&ada(), spec).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_token_without_kid_is_refused_when_the_jwks_holds_several_keys() {
    let oidc = Oidc::start_with(true, &[], |op| {
        op.add_key(OpKey::rsa("key-2"), false);
        op.publish(&[(0, false), (1, false)]);
    })
    .await;
    let spec = TokenSpec {
        with_kid: false,
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), spec).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "bad_signature", 1)
        .await;
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_and_accepted() {
    let oidc = Oidc::start(true).await;
    let fetched = oidc.op.jwks_fetches();
    let new_key = oidc.op.add_key(OpKey::rsa("key-2"), false);
    oidc.op.publish(&[(new_key, true)]);
    let spec = TokenSpec {
        signing: Signing::Key(new_key),
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), spec.clone()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        oidc.op.jwks_fetches(),
        fetched + 1,
        "one fetch for the new kid"
    );
    let response = oidc.sign_in(&ada(), spec).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(oidc.op.jwks_fetches(), fetched + 1, "the new key is kept");
}

/// Moves tokio's clock on by `by`: the clock Portal's cache of the provider reads. The tokens'
/// own times (the wall clock) stay where they are.
async fn let_time_pass(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

#[tokio::test]
async fn a_key_the_provider_withdrew_stops_verifying_within_the_hour() {
    let oidc = Oidc::start(true).await;
    let new_key = oidc.op.add_key(OpKey::rsa("key-2"), false);
    oidc.op.publish(&[(new_key, true)]);
    let withdrawn = TokenSpec::default();
    let response = oidc.sign_in(&ada(), withdrawn.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "what the provider published at the last discovery stands for up to an hour"
    );
    let sessions = oidc.app.session_count().await;

    let asked = oidc.op.discovery_requests();
    let_time_pass(portal::sso::oidc::PROVIDER_MAX_AGE).await;
    let response = oidc.sign_in(&ada(), withdrawn).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&response));
    assert_eq!(
        oidc.app.session_count().await,
        sessions,
        "no session is stored"
    );
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"bad_signature".to_string()));
    assert_eq!(oidc.op.discovery_requests(), asked + 1, "asked again");
    let current = TokenSpec {
        signing: Signing::Key(new_key),
        ..TokenSpec::default()
    };
    let response = oidc.sign_in(&ada(), current).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn while_the_provider_is_away_what_it_published_last_stands_for_a_day_and_no_longer() {
    let oidc = Oidc::start(true).await;
    // Away: its discovery document fails Portal's checks, as any failure would.
    oidc.op.discovery_claims_issuer("https://evil.example");
    let_time_pass(portal::sso::oidc::PROVIDER_MAX_AGE).await;
    let asked = oidc.op.discovery_requests();
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a provider away for a while does not stop sign-in"
    );
    assert_eq!(oidc.op.discovery_requests(), asked + 1, "asked again");
    let users = oidc.app.user_count().await;
    let sessions = oidc.app.session_count().await;

    let_time_pass(portal::sso::oidc::PROVIDER_STALE_LIMIT - portal::sso::oidc::PROVIDER_MAX_AGE)
        .await;
    let states = || {
        use sea_orm::PaginatorTrait;
        portal::db::entities::oidc_login::Entity::find().count(&oidc.app.portal.db)
    };
    let (states_before, reasons_before) = (states().await.unwrap(), oidc.failure_reasons().await);
    let response = oidc.open_sign_in().await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response.headers().get(header::LOCATION).is_none(),
        "the browser is not sent to the provider"
    );
    assert!(!has_session_cookie(&response));
    assert_eq!(oidc.app.user_count().await, users);
    assert_eq!(oidc.app.session_count().await, sessions);
    assert_eq!(
        states().await.unwrap(),
        states_before,
        "no sign-in's state is kept"
    );
    let reasons = oidc.failure_reasons().await;
    assert_eq!(
        reasons.len(),
        reasons_before.len() + 1,
        "audited once: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "provider_unreachable"),
        "{reasons:?}"
    );

    // Back, it is asked once the failure's hold is over, and sign-in works again.
    oidc.op.discovery_claims_issuer(&oidc.op.issuer.clone());
    let_time_pass(Duration::from_millis(5_100)).await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

/// The provider goes away for `away`, and is slow to say so: each discovery fails a second after
/// it began.
async fn away_and_slow_to_say_so(oidc: &Oidc, away: Duration) {
    oidc.op.discovery_claims_issuer("https://evil.example");
    oidc.op.delay_discovery(Duration::from_secs(1));
    let_time_pass(away).await;
}

#[tokio::test]
async fn a_failed_discovery_is_held_for_five_seconds_from_when_it_failed() {
    let oidc = Oidc::start(true).await;
    away_and_slow_to_say_so(&oidc, portal::sso::oidc::PROVIDER_STALE_LIMIT).await;
    let hold = Duration::from_secs(5);
    let almost_the_hold = hold - Duration::from_millis(900);

    // Once by the refresh of what it published last, then by a discovery from nothing.
    for way in ["refresh", "discovery"] {
        let asked = oidc.op.discovery_requests();
        let response = oidc.open_sign_in().await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{way}");
        assert_eq!(oidc.op.discovery_requests(), asked + 1, "{way}: asked");

        // 4.1 s after it failed, 5.1 s after it was asked: still held, without asking.
        let_time_pass(almost_the_hold).await;
        let response = oidc.open_sign_in().await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{way}");
        assert_eq!(
            oidc.op.discovery_requests(),
            asked + 1,
            "{way}: the failure is held from when it was known"
        );
        let_time_pass(hold - almost_the_hold + Duration::from_millis(100)).await;
    }
    assert_eq!(oidc.app.user_count().await, 1, "no account is created");

    // Back, it is asked once the hold is over, and sign-in works again.
    oidc.op.discovery_claims_issuer(&oidc.op.issuer.clone());
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_failed_refresh_is_tried_again_a_minute_from_when_it_failed() {
    let oidc = Oidc::start(true).await;
    // Away for less than a day: what it published last still stands.
    away_and_slow_to_say_so(&oidc, portal::sso::oidc::PROVIDER_MAX_AGE).await;
    let asked = oidc.op.discovery_requests();
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "what it published last stands"
    );
    assert_eq!(oidc.op.discovery_requests(), asked + 1, "asked once");

    // 59.1 s after the refresh failed, 60.1 s after it was asked: not asked again.
    let_time_pass(Duration::from_millis(59_100)).await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        oidc.op.discovery_requests(),
        asked + 1,
        "the minute runs from when the refresh failed"
    );

    let_time_pass(Duration::from_secs(1)).await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(oidc.op.discovery_requests(), asked + 2, "asked again");
}

#[tokio::test]
async fn unknown_key_ids_refetch_the_jwks_at_a_bounded_rate() {
    let oidc = Oidc::start(true).await;
    let fetched = oidc.op.jwks_fetches();
    let spec = TokenSpec {
        signing: Signing::Foreign(OpKey::rsa("rogue")),
        ..TokenSpec::default()
    };
    for _ in 0..4 {
        let response = oidc.sign_in(&ada(), spec.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        oidc.op.jwks_fetches(),
        fetched + 1,
        "one fetch for the first unknown kid; a flood of them does not hammer the provider"
    );
    assert_eq!(oidc.app.user_count().await, 1);
    assert_eq!(oidc.app.session_count().await, 0, "no session is stored");
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let without_state = callback
        .split('&')
        .filter(|part| !part.starts_with("state="))
        .collect::<Vec<_>>()
        .join("&");
    let response = oidc.callback(&browser, &without_state).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "state_missing", 1)
        .await;
    assert_eq!(oidc.op.token_requests(), 0, "the code is never exchanged");
}

#[tokio::test]
async fn a_state_this_portal_never_issued_is_refused() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let (before, after) = callback.split_once("state=").unwrap();
    let rest = after.split_once('&').map(|(_, r)| r).unwrap_or("");
    let forged = format!("{before}state=forged-state-value&{rest}");
    let response = oidc.callback(&browser, &forged).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "unknown_state", 1)
        .await;
    assert_eq!(oidc.op.token_requests(), 0);
}

#[tokio::test]
async fn a_state_started_in_another_browser_is_refused() {
    let oidc = Oidc::start(true).await;
    let victim = oidc.browser();
    let attacker = oidc.browser();
    let authorize = oidc.begin(&attacker).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&victim, &callback).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "state_other_browser", 1)
        .await;
    assert_eq!(oidc.op.token_requests(), 0);
}

#[tokio::test]
async fn a_state_of_another_browsers_sign_in_is_refused_even_with_a_binding_cookie() {
    let oidc = Oidc::start(true).await;
    let victim = oidc.browser();
    let attacker = oidc.browser();
    oidc.begin(&victim).await; // the victim has a binding cookie of their own
    let authorize = oidc.begin(&attacker).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&victim, &callback).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "state_other_browser", 1)
        .await;
}

#[tokio::test]
async fn a_callback_naming_a_parameter_twice_is_refused() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let doubled = format!("{callback}&state=another-state");
    let response = oidc.callback(&browser, &doubled).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "malformed_callback", 1)
        .await;
    assert_eq!(oidc.op.token_requests(), 0);
}

#[tokio::test]
async fn the_return_path_stays_on_this_portal() {
    let oidc = Oidc::start(true).await;
    for (asked, landed) in [
        ("/settings/iam/users", "/settings/iam/users"),
        ("/%09/evil.example", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/%5Cevil.example", "/"),
    ] {
        let browser = oidc.browser();
        let response = browser
            .client
            .get(oidc.app.url(&format!("/sso/oidc/login?return_to={asked}")))
            .send()
            .await
            .unwrap();
        let callback = oidc
            .op
            .authorize(&location(&response), &ada(), TokenSpec::default());
        let response = oidc.callback(&browser, &callback).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), landed, "return_to={asked}");
    }
}

#[tokio::test]
async fn the_binding_cookie_is_http_only_and_short_lived() {
    let oidc = Oidc::start(true).await;
    let response = oidc.open_sign_in().await;
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("portal_oidc_browser="))
        .expect("a binding cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Max-Age=600"), "{cookie}");
    let https = Oidc::start_with(true, &[("public_url", "https://portal.example")], |_| {}).await;
    let response = browser()
        .get(https.app.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("__Host-portal_oidc="))
        .expect("a __Host- binding cookie under https");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    assert_eq!(
        oidc.callback(&browser, &callback).await.status(),
        StatusCode::SEE_OTHER
    );
    let sessions = oidc.app.session_count().await;
    let users = oidc.app.user_count().await;

    let replay = browser.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&replay));
    assert_eq!(
        oidc.app.session_count().await,
        sessions,
        "no second session"
    );
    assert_eq!(oidc.app.user_count().await, users, "no second account");
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"unknown_state".to_string()));
}

#[tokio::test]
async fn an_expired_sign_in_is_refused() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    for row in portal::db::entities::oidc_login::Entity::find()
        .all(&oidc.app.portal.db)
        .await
        .unwrap()
    {
        let mut row: portal::db::entities::oidc_login::ActiveModel = row.into();
        row.expires_at = Set(chrono::Utc::now() - chrono::TimeDelta::seconds(1));
        row.update(&oidc.app.portal.db).await.unwrap();
    }
    let response = oidc.callback(&browser, &callback).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "unknown_state", 1)
        .await;
}

#[tokio::test]
async fn a_replayed_code_is_refused_by_the_provider_and_by_portal() {
    let oidc = Oidc::start(true).await;
    let first = oidc.browser();
    let authorize = oidc.begin(&first).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    assert_eq!(
        oidc.callback(&first, &callback).await.status(),
        StatusCode::SEE_OTHER
    );
    let used_code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();

    // A new sign-in in another browser, answered with the used code.
    let second = oidc.browser();
    let authorize = oidc.begin(&second).await;
    let fresh = oidc.op.authorize(
        &authorize,
        &Person::new("eve@example.test"),
        TokenSpec::default(),
    );
    let fresh_code = fresh
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let replay = fresh.replace(fresh_code, &used_code);
    let users = oidc.app.user_count().await;
    let sessions = oidc.app.session_count().await;
    let response = oidc.callback(&second, &replay).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&response));
    assert_eq!(oidc.app.user_count().await, users);
    assert_eq!(oidc.app.session_count().await, sessions);
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"code_refused".to_string()));
}

#[tokio::test]
async fn the_rfc9207_issuer_parameter_must_match() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let mixed_up = callback.replace(
        &urlencode(&oidc.op.issuer),
        &urlencode("https://other-idp.example"),
    );
    let response = oidc.callback(&browser, &mixed_up).await;
    oidc.assert_refused(response, StatusCode::BAD_REQUEST, "wrong_issuer", 1)
        .await;
    assert_eq!(
        oidc.op.token_requests(),
        0,
        "the code is not sent to anyone"
    );
}

/// `callback` without its RFC 9207 `iss` parameter.
fn without_iss(callback: &str) -> String {
    assert!(callback.contains("&iss="), "{callback}");
    let without = callback
        .split('&')
        .filter(|part| !part.starts_with("iss="))
        .collect::<Vec<_>>()
        .join("&");
    assert!(!without.contains("iss="), "{without}");
    without
}

#[tokio::test]
async fn a_callback_without_the_rfc9207_issuer_parameter_is_refused_when_the_provider_promises_it()
{
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&browser, &without_iss(&callback)).await;
    let page = oidc
        .assert_refused(response, StatusCode::BAD_REQUEST, "issuer_missing", 1)
        .await;
    assert!(page.contains("names no issuer"), "{page}");
    assert_eq!(
        oidc.op.token_requests(),
        0,
        "the code is not sent to anyone"
    );
    assert!(oidc.account("ada.lovelace@example.test").await.is_none());
}

#[tokio::test]
async fn a_callback_without_the_rfc9207_issuer_parameter_is_accepted_when_the_provider_does_not_promise_it(
) {
    let oidc = Oidc::start_with(true, &[], TestOp::stop_promising_iss).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let response = oidc.callback(&browser, &without_iss(&callback)).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "RFC 9207's iss is required only of a provider that promises it"
    );
    assert!(has_session_cookie(&response));
    assert!(oidc.account("ada.lovelace@example.test").await.is_some());

    // Sent anyway, it must still be the configured issuer.
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let mixed_up = callback.replace(
        &urlencode(&oidc.op.issuer),
        &urlencode("https://other-idp.example"),
    );
    let response = oidc.callback(&browser, &mixed_up).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&response));
}

/// The state Portal put in an authorize URL.
fn state_of(authorize: &str) -> String {
    url::Url::parse(authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn access_denied_at_the_provider_shows_a_page_and_uses_up_the_state() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let state = state_of(&authorize);
    let denied = oidc.app.url(&format!(
        "/sso/oidc/callback?error=access_denied&error_description=User+is+not+assigned&state={}",
        urlencode(&state)
    ));
    // RFC 9207: an error response names its issuer too, as this provider promises.
    let unnamed = oidc.callback(&browser, &denied).await;
    assert_eq!(unnamed.status(), StatusCode::BAD_REQUEST);
    assert!(!has_session_cookie(&unnamed));
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"issuer_missing".to_string()));
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let state = state_of(&authorize);
    let denied = oidc.app.url(&format!(
        "/sso/oidc/callback?error=access_denied&error_description=User+is+not+assigned&state={}&iss={}",
        urlencode(&state),
        urlencode(&oidc.op.issuer)
    ));
    let response = oidc.callback(&browser, &denied).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !has_session_cookie(&response),
        "a refused sign-in starts no session"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("assign you the Portal app in Okta"), "{page}");
    // Behind this browser's own sign-in, Okta's description is shown for the administrator.
    assert!(page.contains("User is not assigned"), "{page}");
    assert_eq!(oidc.app.user_count().await, 1, "no account is created");
    assert_eq!(oidc.app.session_count().await, 0, "no session is stored");
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"provider_refused".to_string()));
    let again = oidc.callback(&browser, &denied).await;
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "the state was used up"
    );
    assert!(!has_session_cookie(&again));
    assert_eq!(oidc.app.user_count().await, 1);
    assert_eq!(oidc.app.session_count().await, 0);
}

#[tokio::test]
async fn markup_in_the_providers_error_description_is_shown_as_text() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let denied = oidc.app.url(&format!(
        "/sso/oidc/callback?error=access_denied&error_description={}&state={}&iss={}",
        urlencode(r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#),
        urlencode(&state_of(&authorize)),
        urlencode(&oidc.op.issuer)
    ));
    let response = oidc.callback(&browser, &denied).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&response));
    let page = response.text().await.unwrap();
    assert!(
        page.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        ),
        "shown, as text: {page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert_eq!(oidc.app.user_count().await, 1, "no account is created");
    assert_eq!(oidc.app.session_count().await, 0, "no session is stored");
}

#[tokio::test]
async fn access_denied_without_state_still_gets_its_page() {
    let oidc = Oidc::start(true).await;
    let long = "x".repeat(5000);
    let response = browser()
        .get(oidc.app.url(&format!(
            "/sso/oidc/callback?error=access_denied&error_description={long}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !has_session_cookie(&response),
        "a refused sign-in starts no session"
    );
    let page = response.text().await.unwrap();
    // Without a sign-in of this browser behind it, anyone could have written the description:
    // it is not shown as Portal's words.
    assert!(
        !page.contains("xxxxxxxx"),
        "the description is shown: {page}"
    );
    assert!(
        page.contains("The provider answered access_denied"),
        "{page}"
    );
    assert!(page.contains(r#"data-testid="correlation-id""#), "{page}");
    assert_eq!(oidc.app.user_count().await, 1, "no account is created");
    assert_eq!(oidc.app.session_count().await, 0, "no session is stored");
    let reasons = oidc.failure_reasons().await;
    assert!(
        reasons.iter().any(|r| r == "provider_refused"),
        "audit reasons {reasons:?} lack provider_refused"
    );

    // Nor is an error code of the sender's own words: only codes the standards register.
    let response = browser()
        .get(
            oidc.app
                .url("/sso/oidc/callback?error=Your+account+is+locked,+call+555-0100"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("555-0100"),
        "the sender's words are shown: {page}"
    );
    assert!(
        page.contains("The provider answered an error code no standard registers"),
        "{page}"
    );
    assert_eq!(oidc.app.user_count().await, 1, "no account is created");
}

#[tokio::test]
async fn a_token_endpoint_answering_an_error_page_is_reported_as_unreachable() {
    let oidc = Oidc::start(true).await;
    oidc.op
        .token_endpoint_answers(503, "<html><body>Service Unavailable</body></html>");
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    oidc.assert_refused(response, StatusCode::BAD_GATEWAY, "provider_unreachable", 1)
        .await;
}

#[tokio::test]
async fn a_token_endpoint_server_error_is_reported_as_unreachable() {
    let oidc = Oidc::start(true).await;
    oidc.op
        .token_endpoint_answers(500, r#"{"error":"server_error"}"#);
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    oidc.assert_refused(response, StatusCode::BAD_GATEWAY, "provider_unreachable", 1)
        .await;
}

#[tokio::test]
async fn a_token_response_without_an_id_token_is_refused() {
    let oidc = Oidc::start(true).await;
    oidc.op.omit_id_token();
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    oidc.assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_token_response",
        1,
    )
    .await;
}

#[tokio::test]
async fn no_code_state_token_or_secret_reaches_the_audit_log() {
    let oidc = Oidc::start(true).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(
        &authorize,
        &ada(),
        TokenSpec {
            tamper: true,
            ..TokenSpec::default()
        },
    );
    let query: std::collections::HashMap<String, String> = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        oidc.callback(&browser, &callback).await.status(),
        StatusCode::BAD_REQUEST
    );
    let replay = oidc.callback(&browser, &callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let log = portal::db::entities::audit_event::Entity::find()
        .all(&oidc.app.portal.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e.actor, e.target, e.details, e.correlation_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        log.contains("bad_signature") && log.contains("unknown_state"),
        "{log}"
    );
    for secret in [&query["code"], &query["state"], &CLIENT_SECRET.to_string()] {
        assert!(
            !log.contains(secret.as_str()),
            "the audit log holds {secret}"
        );
    }
}

#[tokio::test]
async fn a_linked_account_keeps_its_email_when_the_new_one_is_not_verified() {
    let oidc = Oidc::start(true).await;
    assert_eq!(
        oidc.sign_in(&ada(), TokenSpec::default()).await.status(),
        StatusCode::SEE_OTHER
    );
    let mut moved = ada();
    moved.email = "ada@elsewhere.test".into();
    moved.email_verified = false;
    assert_eq!(
        oidc.sign_in(&moved, TokenSpec::default()).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(oidc.account("ada.lovelace@example.test").await.is_some());
    assert!(oidc.account("ada@elsewhere.test").await.is_none());
    moved.email_verified = true;
    assert_eq!(
        oidc.sign_in(&moved, TokenSpec::default()).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(oidc.account("ada@elsewhere.test").await.is_some());
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_gets_a_page_saying_to_retry() {
    let oidc = Oidc::start_with(true, &[], |op| {
        op.token_endpoint_at("http://127.0.0.1:9/token")
    })
    .await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    let page = oidc
        .assert_refused(response, StatusCode::BAD_GATEWAY, "provider_unreachable", 1)
        .await;
    assert!(page.contains("Try again in a moment"), "{page}");
    // Where Portal's network is, and what answers there, is for the administrator: the page
    // says only that Okta could not be reached, the audit log says why.
    assert!(!page.contains("127.0.0.1:9"), "{page}");
    let causes = oidc.app.audit_details("sign_in.oidc", "cause").await;
    assert!(
        causes.iter().any(|cause| cause.contains("127.0.0.1:9")),
        "{causes:?}"
    );
}

#[tokio::test]
async fn a_provider_whose_discovery_fails_at_sign_in_is_reported_and_audited() {
    let Oidc { app, op } = Oidc::start(true).await;
    // After a restart the provider is discovered again at the first sign-in; now it names
    // another issuer.
    op.discovery_claims_issuer("https://evil.example");
    let oidc = Oidc {
        app: app.restart_with(&[]).await,
        op,
    };
    let response = oidc.open_sign_in().await;
    assert!(
        response.headers().get(header::LOCATION).is_none(),
        "the browser is not sent to the provider"
    );
    oidc.assert_refused(response, StatusCode::BAD_GATEWAY, "provider_unreachable", 1)
        .await;

    // The failure stands for a few seconds: the next sign-ins get the same page at once,
    // without asking the provider again.
    let asked = oidc.op.discovery_requests();
    for _ in 0..3 {
        let response = oidc.open_sign_in().await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    }
    assert_eq!(oidc.op.discovery_requests(), asked);
    // Then the provider, itself again, is asked and sign-in works.
    oidc.op.discovery_claims_issuer(&oidc.op.issuer.clone());
    let_time_pass(Duration::from_millis(5_100)).await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(oidc.op.discovery_requests(), asked + 1);
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out() {
    let oidc = Oidc::start_with(true, &[("idp_timeout_seconds", "1")], |_| {}).await;
    oidc.op.delay_token_endpoint(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Portal gave up at its timeout"
    );
    oidc.assert_refused(response, StatusCode::GATEWAY_TIMEOUT, "provider_timeout", 1)
        .await;
}

#[tokio::test]
async fn a_code_goes_only_to_the_provider_and_client_its_sign_in_started_with() {
    let oidc = Oidc::start(true).await;
    // The admin gives Portal another client at the same provider while Ada is at Okta.
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let mut doc = oidc_document(&oidc.op, true);
    doc["sso"]["oidc"]["client_id"] = json!("0oa-the-new-client");
    oidc.app.save_identity(&doc).await;
    let asked = oidc.op.token_requests();
    let response = oidc.callback(&browser, &callback).await;
    let page = oidc
        .assert_refused(response, StatusCode::CONFLICT, "settings_changed", 1)
        .await;
    assert!(
        page.contains("replaced the OpenID Connect provider or client"),
        "{page}"
    );
    assert_eq!(oidc.op.token_requests(), asked, "the code was sent nowhere");

    // A sign-in started by a release before the binding (no client named) finishes as before.
    oidc.app.save_identity(&oidc_document(&oidc.op, true)).await;
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    sea_orm::ConnectionTrait::execute_unprepared(
        &oidc.app.portal.db,
        "UPDATE oidc_logins SET client_key = ''",
    )
    .await
    .unwrap();
    let response = oidc.callback(&browser, &callback).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));

    // Settings that keep the provider and the client keep a sign-in under way.
    let browser = oidc.browser();
    let authorize = oidc.begin(&browser).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let mut doc = oidc_document(&oidc.op, true);
    doc["sso"]["oidc"]["token_auth_method"] = json!("client_secret_post");
    oidc.app.save_identity(&doc).await;
    oidc.op.expect_auth_method("client_secret_post");
    let response = oidc.callback(&browser, &callback).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn a_new_person_whose_address_okta_has_not_confirmed_gets_no_account() {
    let oidc = Oidc::start(true).await;
    // Registered at the provider with someone else's address, which it has not confirmed.
    let mut squatter = Person::new("grace.hopper@example.test");
    squatter.email_verified = false;
    let response = oidc.sign_in(&squatter, TokenSpec::default()).await;
    let page = oidc
        .assert_refused(response, StatusCode::FORBIDDEN, "email_not_verified", 1)
        .await;
    assert!(page.contains("Confirm the address in Okta"), "{page}");
    assert!(oidc.account("grace.hopper@example.test").await.is_none());

    // A provider that says nothing of the address is not saying no: the account is made.
    let spec = TokenSpec::edit(|_, claims| {
        claims.as_object_mut().unwrap().remove("email_verified");
    });
    let response = oidc
        .sign_in(&Person::new("grace.hopper@example.test"), spec)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let made = oidc.account("grace.hopper@example.test").await.unwrap();
    assert!(made.jit_provisioned);
}

#[tokio::test]
async fn an_unverified_email_is_not_linked_to_an_existing_account() {
    let oidc = Oidc::start(true).await;
    new_account("grace.hopper@example.test")
        .insert(&oidc.app.portal.db)
        .await
        .unwrap();
    let mut grace = Person::new("grace.hopper@example.test");
    grace.email_verified = false;
    let response = oidc.sign_in(&grace, TokenSpec::default()).await;
    oidc.assert_refused(response, StatusCode::FORBIDDEN, "email_not_verified", 2)
        .await;
    let account = oidc.account("grace.hopper@example.test").await.unwrap();
    assert_eq!(account.idp_subject, None, "the account stays unlinked");

    // An absent email_verified claim is not a yes either.
    let spec = TokenSpec::edit(|_, claims| {
        claims.as_object_mut().unwrap().remove("email_verified");
    });
    let response = oidc
        .sign_in(&Person::new("grace.hopper@example.test"), spec)
        .await;
    oidc.assert_refused(response, StatusCode::FORBIDDEN, "email_not_verified", 2)
        .await;

    // Nor is a no from UserInfo, when the ID token leaves the address to it.
    let spec = TokenSpec::edit(|_, claims| {
        let claims = claims.as_object_mut().unwrap();
        claims.remove("email");
        claims.remove("email_verified");
    });
    let response = oidc.sign_in(&grace, spec).await;
    oidc.assert_refused(response, StatusCode::FORBIDDEN, "email_not_verified", 2)
        .await;
    let account = oidc.account("grace.hopper@example.test").await.unwrap();
    assert_eq!(account.idp_subject, None, "the account stays unlinked");

    // The same address in other capitals is the same address, and still needs the yes.
    let mut shouting = Person::new("grace.hopper@example.test");
    shouting.email = "Grace.Hopper@EXAMPLE.test".into();
    shouting.email_verified = false;
    let response = oidc.sign_in(&shouting, TokenSpec::default()).await;
    oidc.assert_refused(response, StatusCode::FORBIDDEN, "email_not_verified", 2)
        .await;

    // Verified, it links.
    let response = oidc
        .sign_in(
            &Person::new("grace.hopper@example.test"),
            TokenSpec::default(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let account = oidc.account("grace.hopper@example.test").await.unwrap();
    assert_eq!(
        account.idp_subject.as_deref(),
        Some(Person::new("grace.hopper@example.test").sub.as_str())
    );
    assert!(
        !account.jit_provisioned,
        "a linked account keeps its origin"
    );
    assert!(oidc.app.audited("account.linked", "success").await);
}

#[tokio::test]
async fn the_break_glass_admin_is_not_linked_by_a_verified_email() {
    let oidc = Oidc::start(true).await;
    let users_before = oidc.app.user_count().await;
    let before = oidc.account(ADMIN_EMAIL).await.unwrap();

    // Unverified, the address gets the answer any unverified address gets: nothing about
    // what kind of account holds it.
    let mut unverified = Person::new(ADMIN_EMAIL);
    unverified.email_verified = false;
    let response = oidc.sign_in(&unverified, TokenSpec::default()).await;
    let page = oidc
        .assert_refused(
            response,
            StatusCode::FORBIDDEN,
            "email_not_verified",
            users_before,
        )
        .await;
    assert!(!page.contains("password"), "{page}");

    let admin_at_okta = Person::new(ADMIN_EMAIL);
    assert!(admin_at_okta.email_verified);
    let response = oidc.sign_in(&admin_at_okta, TokenSpec::default()).await;
    oidc.assert_refused(
        response,
        StatusCode::FORBIDDEN,
        "local_password_account",
        users_before,
    )
    .await;
    assert_eq!(
        oidc.account(ADMIN_EMAIL).await.unwrap(),
        before,
        "unchanged"
    );
}

#[tokio::test]
async fn with_jit_off_a_new_person_is_refused_and_nothing_is_created() {
    let oidc = Oidc::start(false).await;
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    let page = oidc
        .assert_refused(response, StatusCode::FORBIDDEN, "no_account", 1)
        .await;
    assert!(
        page.contains("Ask an administrator to add you, or to turn on SSO JIT."),
        "{page}"
    );
}

#[tokio::test]
async fn no_email_from_the_provider_is_refused_naming_the_scope_not_saml_attributes() {
    let oidc = Oidc::start(true).await;
    // Neither the ID token nor UserInfo carries an address.
    let nobody = Person {
        email: String::new(),
        ..Person::new("no.email@example.test")
    };
    let spec = TokenSpec::edit(|_, claims| {
        claims.as_object_mut().unwrap().remove("email");
    });
    let response = oidc.sign_in(&nobody, spec).await;
    let page = oidc
        .assert_refused(response, StatusCode::FORBIDDEN, "no_email", 1)
        .await;
    assert!(
        page.contains(
            "Ask an administrator to check that the Portal app in Okta grants the email scope."
        ),
        "{page}"
    );
    assert!(page.contains("claim 'email'"), "{page}");
    assert!(!page.contains("attribute statements"), "{page}");
}

#[tokio::test]
async fn an_email_claim_that_is_not_an_address_is_refused_saying_so() {
    let oidc = Oidc::start(true).await;
    let spec = TokenSpec::edit(|_, claims| {
        claims["email"] = json!("ada");
    });
    let response = oidc.sign_in(&ada(), spec).await;
    let page = oidc
        .assert_refused(response, StatusCode::FORBIDDEN, "not_an_email", 1)
        .await;
    assert!(page.contains("is not an email address"), "{page}");
    assert!(!page.contains("grants the email scope"), "{page}");
}

#[tokio::test]
async fn the_sign_in_page_offers_okta_over_oidc() {
    let oidc = Oidc::start(true).await;
    let info: Value = oidc.app.portal_login_page().await;
    assert_eq!(info["sso_start"], "/sso/oidc/login");
}

#[tokio::test]
async fn sign_in_is_not_offered_when_oidc_is_not_configured() {
    let app = TestApp::spawn().await;
    let response = browser()
        .get(app.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = browser()
        .get(app.url("/sso/oidc/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.user_count().await, 1);
}

// Configuration: discovery is fetched and checked on save; a refusal keeps what is in force.

async fn refused_configuration(app: &TestApp, doc: &Value, field: &str) -> String {
    let token = app.admin_token().await;
    let before = app.identity_document().await;
    let response = app.api_put(&token, "/api/v1/identity", doc).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], field, "{body}");
    assert_eq!(
        app.identity_document().await,
        before,
        "the configuration in force is unchanged"
    );
    body["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_discovery_document_of_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    op.discovery_claims_issuer("https://evil.example");
    let message =
        refused_configuration(&app, &oidc_document(&op, true), "sso.oidc.discovery_url").await;
    assert!(message.contains("does not belong"), "{message}");
}

#[tokio::test]
async fn a_refused_discovery_keeps_the_working_oidc_configuration_in_force() {
    let oidc = Oidc::start(true).await;
    let impostor = TestOp::start().await;
    impostor.discovery_claims_issuer("https://evil.example");
    let message = refused_configuration(
        &oidc.app,
        &oidc_document(&impostor, true),
        "sso.oidc.discovery_url",
    )
    .await;
    assert!(message.contains("does not belong"), "{message}");

    let doc = oidc.app.identity_document().await;
    assert_eq!(doc["sso"]["protocol"], "oidc");
    assert_eq!(
        doc["sso"]["oidc"]["discovery_url"],
        json!(oidc.op.discovery_url()),
        "the discovery URL in force is the original one"
    );
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "sign-in still goes to the provider in force"
    );
    assert!(has_session_cookie(&response));
    assert!(oidc.account("ada.lovelace@example.test").await.is_some());
    assert_eq!(
        impostor.token_requests(),
        0,
        "no code reaches the refused provider"
    );
}

#[tokio::test]
async fn a_jwks_that_does_not_load_is_refused() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    op.jwks_answers(500);
    refused_configuration(&app, &oidc_document(&op, true), "sso.oidc.discovery_url").await;
}

#[tokio::test]
async fn a_discovery_url_that_does_not_answer_or_has_the_wrong_shape_is_refused() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    let mut doc = oidc_document(&op, true);
    doc["sso"]["oidc"]["discovery_url"] =
        json!("http://127.0.0.1:9/.well-known/openid-configuration");
    let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
    assert!(message.contains("could not be reached"), "{message}");
    doc["sso"]["oidc"]["discovery_url"] = json!(op.issuer.clone());
    let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
    assert!(
        message.contains(".well-known/openid-configuration"),
        "{message}"
    );
    // An issuer with a query or a fragment would have Portal ask for another document than
    // the discovery one.
    for url in [
        format!("{}/any?x=/.well-known/openid-configuration", op.issuer),
        format!("{}/any#/.well-known/openid-configuration", op.issuer),
    ] {
        doc["sso"]["oidc"]["discovery_url"] = json!(url);
        let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
        assert!(
            message.contains("a query (?) or a fragment (#)"),
            "{url}: {message}"
        );
    }
    assert!(app.audited("identity_config.update", "failure").await);
}

#[tokio::test]
async fn a_provider_answer_longer_than_portal_reads_is_refused() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    let doc = oidc_document(&op, true);
    // Just under the limit, with the rest of the document, it is read.
    op.pad_discovery(portal::sso::MAX_PROVIDER_ANSWER - 4096);
    app.save_identity(&doc).await;
    op.pad_discovery(portal::sso::MAX_PROVIDER_ANSWER);
    let mut other = doc.clone();
    other["sso"]["oidc"]["client_id"] = json!("0oa-another-client");
    let message = refused_configuration(&app, &other, "sso.oidc.discovery_url").await;
    assert!(
        message.contains("longer than the 1024 KiB Portal reads"),
        "{message}"
    );
    let saved = app.portal.identity_config().await.unwrap();
    assert_eq!(
        saved.oidc().unwrap().client_id,
        CLIENT_ID,
        "the configuration in force stays"
    );
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    let mut doc = oidc_document(&op, true);
    doc["sso"]["oidc"]["discovery_url"] =
        json!("http://idp.example.com/.well-known/openid-configuration");
    let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
    assert!(message.contains("must use https"), "{message}");

    // A provider on loopback whose discovery document sends the browser or the code elsewhere
    // over plain http.
    let doc = oidc_document(&op, true);
    op.token_endpoint_at("http://idp.example.com/token");
    let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
    assert!(
        message.contains("'http://idp.example.com/token' must use https"),
        "{message}"
    );
    op.token_endpoint_at(&format!("{}/token", op.issuer));
    op.authorization_endpoint_at("http://idp.example.com/authorize");
    let message = refused_configuration(&app, &doc, "sso.oidc.discovery_url").await;
    assert!(
        message.contains("'http://idp.example.com/authorize' must use https"),
        "{message}"
    );
}

#[tokio::test]
async fn turning_jit_off_does_not_depend_on_the_provider_answering() {
    let oidc = Oidc::start(true).await;
    oidc.op.jwks_answers(500);
    oidc.op.discovery_claims_issuer("https://moved.example");
    let token = oidc.app.admin_token().await;
    let mut doc = oidc.app.identity_document().await;
    doc["provisioning"]["method"] = json!("manual");
    let response = oidc.app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test]
async fn the_client_secret_is_write_only_and_kept_only_for_the_same_provider() {
    let oidc = Oidc::start(true).await;
    let stored = oidc.app.identity_document().await;
    assert_eq!(stored["sso"]["oidc"]["client_secret_set"], true);
    assert!(
        stored["sso"]["oidc"].get("client_secret").is_none(),
        "{stored}"
    );
    assert!(!stored.to_string().contains(CLIENT_SECRET));

    // Sent back as fetched (no secret): kept.
    let token = oidc.app.admin_token().await;
    let response = oidc.app.api_put(&token, "/api/v1/identity", &stored).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        oidc.sign_in(&ada(), TokenSpec::default()).await.status(),
        StatusCode::SEE_OTHER
    );

    // Another provider without a secret: refused, the secret never travels there.
    let other = TestOp::start().await;
    let mut doc = stored.clone();
    doc["sso"]["oidc"]["discovery_url"] = json!(other.discovery_url());
    refused_configuration(&oidc.app, &doc, "sso.oidc.client_secret").await;
}

/// Signs `email` in over SAML to `idp`, which `app` trusts; the person's session cookie is set.
async fn saml_sign_in(app: &TestApp, idp: &support::saml::TestIdp, email: &str) {
    let spec = support::saml::ResponseSpec::new(
        idp,
        &app.url("/sso/saml/metadata"),
        &app.url("/sso/saml/acs"),
        email,
    );
    let response = browser()
        .post(app.url("/sso/saml/acs"))
        .form(&[("SAMLResponse", spec.encoded(idp))])
        .send()
        .await
        .unwrap();
    assert!(has_session_cookie(&response), "{}", response.status());
}

#[tokio::test]
async fn after_a_move_from_saml_to_oidc_people_keep_their_accounts() {
    // Release 1.53 signed people in over SAML; 1.54 moves the same Okta org to OIDC.
    let oidc = Oidc::start(true).await;
    let saml_idp = support::saml::TestIdp::new("http://www.okta.com/exk1moving");
    oidc.app.configure_saml(&saml_idp, true, true).await;
    saml_sign_in(&oidc.app, &saml_idp, "grace.hopper@example.test").await;
    saml_sign_in(&oidc.app, &saml_idp, "alan.turing@example.test").await;
    let grace_before = oidc.account("grace.hopper@example.test").await.unwrap();
    let token = oidc.app.admin_token().await;
    let response = oidc
        .app
        .api_put(&token, "/api/v1/identity", &oidc_document(&oidc.op, true))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let users = oidc.app.user_count().await;

    // The provider vouches for Grace's address: her account moves to it, roles and all.
    let response = oidc
        .sign_in(
            &Person::new("grace.hopper@example.test"),
            TokenSpec::default(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    assert_eq!(oidc.app.user_count().await, users, "no second account");
    let grace = oidc.account("grace.hopper@example.test").await.unwrap();
    assert_eq!(grace.id, grace_before.id);
    assert_eq!(grace.idp_provider, Some(format!("oidc:{}", oidc.op.issuer)));
    assert!(grace.jit_provisioned, "still flagged as JIT-provisioned");
    let moved = portal::db::entities::audit_event::Entity::find()
        .filter(portal::db::entities::audit_event::Column::Action.eq("account.linked"))
        .one(&oidc.app.portal.db)
        .await
        .unwrap()
        .expect("the move is audited");
    let details: Value = serde_json::from_str(&moved.details).unwrap();
    assert_eq!(
        details["previous_provider"],
        "saml:http://www.okta.com/exk1moving"
    );

    // Not vouched for, Alan's address is not moved, and his account stays as it was.
    let mut alan = Person::new("alan.turing@example.test");
    alan.email_verified = false;
    let alan_before = oidc.account("alan.turing@example.test").await.unwrap();
    let response = oidc.sign_in(&alan, TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&response));
    assert_eq!(
        oidc.account("alan.turing@example.test").await.unwrap(),
        alan_before
    );

    // Someone else at this same provider holding Grace's address is still a conflict.
    let mut impostor = Person::new("grace.hopper@example.test");
    impostor.sub = "00u-someone-else".into();
    let sessions = oidc.app.session_count().await;
    let response = oidc.sign_in(&impostor, TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&response));
    assert_eq!(oidc.app.session_count().await, sessions);
    assert_eq!(oidc.app.user_count().await, users);
    assert!(oidc
        .failure_reasons()
        .await
        .contains(&"identity_conflict".to_string()));
    assert_eq!(
        oidc.account("grace.hopper@example.test").await.unwrap(),
        grace
    );
}

#[tokio::test]
async fn configuring_oidc_replaces_saml_and_back() {
    let oidc = Oidc::start(true).await;
    let token = oidc.app.admin_token().await;
    let response = oidc
        .app
        .api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = oidc.app.identity_document().await;
    assert_eq!(doc["sso"]["protocol"], "saml");
    assert!(doc["sso"]["oidc"].is_null(), "{doc}");
    let response = oidc.open_sign_in().await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "OIDC sign-in ends with its configuration"
    );

    // And back: configuring OIDC again clears the SAML settings.
    let response = oidc
        .app
        .api_put(&token, "/api/v1/identity", &oidc_document(&oidc.op, true))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let doc = oidc.app.identity_document().await;
    assert_eq!(doc["sso"]["protocol"], "oidc");
    assert!(doc["sso"]["saml"].is_null(), "{doc}");
    let response = browser()
        .get(oidc.app.url("/sso/saml/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "SAML sign-in ends with its configuration"
    );
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn release_1_53_refuses_oidc_with_a_message() {
    let app = TestApp::spawn_with(&[("release", "1.53")]).await;
    let op = TestOp::start().await;
    let message = refused_configuration(&app, &oidc_document(&op, true), "sso.protocol").await;
    assert!(message.contains("1.54"), "{message}");
}

#[tokio::test]
async fn release_1_53_keeps_stored_oidc_settings_while_jit_is_turned_off_and_builds_nothing_on_them(
) {
    let Oidc { app, op } = Oidc::start(true).await;
    let app = app.restart_with(&[("release", "1.53")]).await;
    let token = app.admin_token().await;

    // Left on, JIT is named for what it is here: stored, and creating nobody.
    app.sign_in_as_admin().await;
    let html = app.page_html("/settings/iam/identity").await;
    assert!(
        html.contains("Release 1.53 signs in with SAML 2.0 only: configure SAML before turning SAML JIT on. Left on, it creates no accounts until then."),
        "{html}"
    );
    assert!(
        html.contains("0 of 3 done"),
        "nothing in force counts as done"
    );

    // Turning JIT off, everything else sent back as stored: saved, the OIDC settings kept.
    let mut doc = app.identity_document().await;
    doc["provisioning"]["method"] = json!("manual");
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved = app.identity_document().await;
    assert_eq!(saved["provisioning"]["method"], "manual");
    assert_eq!(saved["sso"]["protocol"], "oidc");
    assert_eq!(saved["sso"]["oidc"]["discovery_url"], op.discovery_url());
    assert_eq!(saved["sso"]["oidc"]["client_secret_set"], true);

    // Nothing new may rely on them: JIT on, and new OIDC settings, are refused with what to do.
    let mut jit_on = saved.clone();
    jit_on["provisioning"]["method"] = json!("sso_jit");
    let message = refused_configuration(&app, &jit_on, "provisioning.method").await;
    assert!(
        message.contains("configure SAML before turning SAML JIT on"),
        "{message}"
    );
    let mut other_client = saved.clone();
    other_client["sso"]["oidc"]["client_id"] = json!("another-client");
    let message = refused_configuration(&app, &other_client, "sso.protocol").await;
    assert!(message.contains("1.54"), "{message}");
    let mut new_secret = saved.clone();
    new_secret["sso"]["oidc"]["client_secret"] = json!("a-new-secret");
    let message = refused_configuration(&app, &new_secret, "sso.protocol").await;
    assert!(message.contains("1.54"), "{message}");
    // Password sign-in may be made the login method; SSO, once left, not again.
    let mut password = saved.clone();
    password["login_method"] = json!("password");
    let response = app.api_put(&token, "/api/v1/identity", &password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut sso_again = app.identity_document().await;
    assert_eq!(sso_again["login_method"], "password");
    sso_again["login_method"] = json!("sso");
    let message = refused_configuration(&app, &sso_again, "login_method").await;
    assert!(
        message.contains("configure SAML before making single sign-on the login method"),
        "{message}"
    );

    // Back on release 1.54 they are in force again, secret and all: JIT goes back on, and the
    // stored secret takes the next sign-in through the token request.
    let app = app.restart_with(&[]).await;
    let token = app.admin_token().await;
    // Read before the change to password sign-in: sent without its time, it replaces that.
    jit_on.as_object_mut().unwrap().remove("updated_at");
    let response = app.api_put(&token, "/api/v1/identity", &jit_on).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.identity_document().await["sso"]["oidc"]["client_secret_set"],
        true
    );
    let oidc = Oidc { app, op };
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn release_1_53_hides_openid_connect_and_turns_a_stored_oidc_configuration_off() {
    // Configured and working on release 1.54: a sign-in starts and reaches the provider.
    let oidc = Oidc::start(true).await;
    let begun_before = oidc.browser();
    let authorize = oidc.begin(&begun_before).await;
    let callback = oidc.op.authorize(&authorize, &ada(), TokenSpec::default());
    let Oidc { app, op } = oidc;
    let first_base = app.base.clone();
    assert!(callback.starts_with(&first_base), "{callback}");

    // The same database under a portal presenting release 1.53.
    let app = app.restart_with(&[("release", "1.53")]).await;

    let response = browser()
        .get(app.url("/sso/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "OIDC sign-in is off on 1.53"
    );
    assert!(!has_session_cookie(&response));

    // A sign-in begun before the downgrade does not finish on it.
    let late = callback.replacen(&first_base, &app.base, 1);
    let response = begun_before.client.get(&late).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!has_session_cookie(&response));
    assert_eq!(op.token_requests(), 0, "the code is never exchanged");
    assert_eq!(app.user_count().await, 1, "no account is created");
    assert_eq!(app.session_count().await, 0, "no session is stored");

    // The admin's page offers SAML only.
    app.sign_in_as_admin().await;
    let html = app.page_html("/settings/iam/identity").await;
    assert!(html.contains("SAML JIT"), "the 1.53 toggle label");
    assert!(
        !html.contains(r#"name="protocol-choice""#),
        "no protocol choice on 1.53"
    );
    assert!(
        !html.contains("oidc-discovery-url"),
        "no OpenID Connect form on 1.53"
    );
    // What is stored is named for what it is: kept, and not in force here.
    assert!(
        html.contains(
            "OpenID Connect settings are stored, but release 1.53 signs in with SAML 2.0 only"
        ),
        "{html}"
    );
    assert!(
        !html.contains(&format!("OpenID Connect with the issuer {}", op.issuer)),
        "not shown as the identity provider in force"
    );
    assert_eq!(app.user_count().await, 1, "no account is created");
}

/// The `oidc` column of the identity configuration, as the database holds it.
async fn stored_oidc_column(app: &TestApp) -> String {
    portal::db::entities::identity_config::Entity::find_by_id(1)
        .one(&app.portal.db)
        .await
        .unwrap()
        .unwrap()
        .oidc
        .unwrap()
}

#[tokio::test]
async fn the_client_secret_is_stored_sealed_and_a_restarted_server_still_signs_people_in() {
    let Oidc { app, op } = Oidc::start(true).await;
    let stored = stored_oidc_column(&app).await;
    assert!(!stored.contains(CLIENT_SECRET), "{stored}");
    let sealed: Value = serde_json::from_str(&stored).unwrap();
    assert!(
        sealed["client_secret_sealed"]
            .as_str()
            .is_some_and(|s| s.starts_with("v1.")),
        "{stored}"
    );
    // Empty, so that an earlier release reads the row as one without a secret rather than
    // failing on it.
    assert_eq!(sealed["client_secret"], "", "{stored}");
    // Neither does the API give it back.
    let token = app.admin_token().await;
    let document = app
        .api_get(&token, "/api/v1/identity")
        .await
        .text()
        .await
        .unwrap();
    assert!(!document.contains(CLIENT_SECRET), "{document}");

    // A new process with the same key file reads it: the token endpoint, which checks the
    // secret, lets the code be exchanged.
    let oidc = Oidc {
        app: app.restart_with(&[]).await,
        op,
    };
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    assert_eq!(oidc.op.token_requests(), 1);
}

#[tokio::test]
async fn a_server_with_another_secret_key_signs_nobody_in_and_says_to_enter_the_secret_again() {
    let Oidc { app, op } = Oidc::start(true).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let other_key = elsewhere.path().join("secret.key").display().to_string();
    let oidc = Oidc {
        app: app
            .restart_with(&[("secret_key_file", other_key.as_str())])
            .await,
        op,
    };
    let users_before = oidc.app.user_count().await;

    let page = oidc
        .assert_refused(
            oidc.open_sign_in().await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "client_secret_unreadable",
            users_before,
        )
        .await;
    assert!(
        page.contains("enters the OpenID Connect client secret again"),
        "{page}"
    );
    assert!(page.contains("PORTAL_SECRET_KEY_FILE"), "{page}");
    assert!(
        !page.contains("for a moment"),
        "waiting does not mend it: {page}"
    );
    // Which keys is for the admin, not for anyone who opens the sign-in page.
    let ours = oidc.app.portal.secret_key.id().to_string();
    assert!(!page.contains(&ours), "{page}");
    assert_eq!(oidc.op.token_requests(), 0, "no code is exchanged");

    // The admin is told on the document, and turning JIT off keeps the secret as stored.
    let token = oidc.app.admin_token().await;
    let read = |body: String| serde_json::from_str::<Value>(&body).unwrap();
    let document = read(
        oidc.app
            .api_get(&token, "/api/v1/identity")
            .await
            .text()
            .await
            .unwrap(),
    );
    let problem = document["sso"]["oidc"]["client_secret_unreadable"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        problem.contains("sealed with the secret key")
            && problem.contains("enter the client secret again"),
        "{document}"
    );
    assert_eq!(document["sso"]["oidc"]["client_secret_set"], true);
    oidc.app.sign_in_as_admin().await;
    let html = oidc.app.page_html("/settings/iam/identity").await;
    assert!(
        html.contains(
            "Portal cannot read the stored client secret: it was sealed with the secret key"
        ),
        "{html}"
    );
    let before = stored_oidc_column(&oidc.app).await;
    let mut without_secret = oidc_document(&oidc.op, false);
    without_secret["sso"]["oidc"]
        .as_object_mut()
        .unwrap()
        .remove("client_secret");
    let response = oidc
        .app
        .api_put(&token, "/api/v1/identity", &without_secret)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stored_oidc_column(&oidc.app).await, before);

    // Entered again, it is sealed with this server's key, and sign-in works.
    let response = oidc
        .app
        .api_put(&token, "/api/v1/identity", &oidc_document(&oidc.op, true))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let document = read(response.text().await.unwrap());
    assert!(
        document["sso"]["oidc"]
            .get("client_secret_unreadable")
            .is_none(),
        "{document}"
    );
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(oidc.app.user_count().await, users_before + 1);
}

#[tokio::test]
async fn a_client_secret_stored_in_clear_by_an_earlier_release_is_sealed_at_start_up() {
    use portal::db::entities::identity_config;
    let Oidc { app, op } = Oidc::start(true).await;
    let clear = json!({
        "discovery_url": op.discovery_url(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_auth_method": "client_secret_basic",
    })
    .to_string();
    let row = identity_config::Entity::find_by_id(1)
        .one(&app.portal.db)
        .await
        .unwrap()
        .unwrap();
    let updated_at = row.updated_at;
    let mut earlier: identity_config::ActiveModel = row.into();
    earlier.oidc = Set(Some(clear));
    earlier.update(&app.portal.db).await.unwrap();

    let oidc = Oidc {
        app: app.restart_with(&[]).await,
        op,
    };
    let stored = stored_oidc_column(&oidc.app).await;
    assert!(!stored.contains(CLIENT_SECRET), "{stored}");
    assert!(stored.contains("client_secret_sealed"), "{stored}");
    let row = identity_config::Entity::find_by_id(1)
        .one(&oidc.app.portal.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.updated_at, updated_at, "not an admin's change");
    let response = oidc.sign_in(&ada(), TokenSpec::default()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
}
