//! The foundation as a user meets it: start-up, local sign-in, sessions, CSRF, the identity
//! configuration through the API and the pages, and the release-dependent JIT toggle.

mod support;

use app::model::AppError;
use portal::domain::Role;
use reqwest::{header, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn first_start_creates_the_configured_admin_once() {
    let app = TestApp::spawn().await;
    assert_eq!(app.user_count().await, 1);
    let app = app.restart_with(&[]).await;
    assert_eq!(
        app.user_count().await,
        1,
        "a second start must not create another admin"
    );
}

#[tokio::test]
async fn a_start_recovers_the_configured_admin_when_it_was_deactivated() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = TestApp::spawn().await;
    let email = portal::domain::Email::parse(ADMIN_EMAIL).unwrap();
    let admin = portal::people::find_by_email(&app.portal.db, &email)
        .await
        .unwrap()
        .unwrap();
    // No active admin left (as a database edit, or an admin with no other admin, would leave it).
    let mut deactivated: portal::db::entities::user::ActiveModel = admin.into();
    deactivated.active = Set(false);
    deactivated.update(&app.portal.db).await.unwrap();
    assert_eq!(
        app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let app = app.restart_with(&[]).await;
    assert_eq!(app.user_count().await, 1, "the same account, not another");
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["admin"]));
}

/// The failed password sign-ins in a row stored for `email`, and until when it is locked.
async fn failures(app: &TestApp, email: &str) -> (i32, Option<chrono::DateTime<chrono::Utc>>) {
    let key = portal::domain::Email::parse(email).unwrap().normalized();
    portal::db::entities::password_failure::Entity::find_by_id(key)
        .one(&app.portal.db)
        .await
        .unwrap()
        .map_or((0, None), |row| (row.failures, row.locked_until))
}

#[tokio::test]
async fn ten_wrong_passwords_in_a_row_lock_the_emails_password_sign_in_for_a_quarter_hour() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    // The limit per address off, so that only the count per email is at work; each attempt in
    // a browser of its own, so that no device cookie is (`auth::device`).
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "0")]).await;
    let wrong = async |email: &str| {
        let response = app
            .sign_in_in(&browser(), email, "not the admin password")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(!has_session_cookie(&response));
    };
    // A sign-in that works starts the count again.
    for _ in 0..9 {
        wrong(ADMIN_EMAIL).await;
    }
    assert_eq!(failures(&app, ADMIN_EMAIL).await, (9, None));
    assert!(has_session_cookie(
        &app.sign_in_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
    ));
    assert_eq!(failures(&app, ADMIN_EMAIL).await, (0, None));

    // Typed in another case, it is the same email. The tenth failure answers with the lock.
    for n in 0..9 {
        wrong(&if n % 2 == 0 {
            ADMIN_EMAIL.to_uppercase()
        } else {
            ADMIN_EMAIL.to_string()
        })
        .await;
    }
    let tenth = app
        .sign_in_in(&browser(), ADMIN_EMAIL, "not the admin password")
        .await;
    assert_eq!(tenth.status(), StatusCode::TOO_MANY_REQUESTS);
    let sessions = app.session_count().await;
    let locked = app
        .sign_in_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!has_session_cookie(&locked));
    assert_eq!(
        server_fn_error(locked).await,
        AppError::SignInLocked { minutes: 15 },
        "the right password too is refused, unchecked"
    );
    assert_eq!(app.session_count().await, sessions, "no session is stored");
    assert!(app
        .audit_reasons("sign_in.password")
        .await
        .contains(&"locked after repeated failed sign-ins".to_string()));

    // A quarter of an hour later.
    let (count, until) = failures(&app, ADMIN_EMAIL).await;
    assert_eq!(count, 0, "the count starts again with the lock");
    let from_now = until.expect("locked") - chrono::Utc::now();
    assert!(
        from_now > chrono::TimeDelta::minutes(14) && from_now <= chrono::TimeDelta::minutes(15),
        "{from_now}"
    );
    let key = portal::domain::Email::parse(ADMIN_EMAIL)
        .unwrap()
        .normalized();
    let row = portal::db::entities::password_failure::Entity::find_by_id(key)
        .one(&app.portal.db)
        .await
        .unwrap()
        .unwrap();
    let mut later: portal::db::entities::password_failure::ActiveModel = row.into();
    later.locked_until = Set(Some(chrono::Utc::now() - chrono::TimeDelta::seconds(1)));
    later.update(&app.portal.db).await.unwrap();
    assert!(has_session_cookie(
        &app.sign_in_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
    ));
    assert_eq!(failures(&app, ADMIN_EMAIL).await, (0, None));
}

#[tokio::test]
async fn guesses_from_elsewhere_do_not_lock_out_a_browser_that_signed_in_before() {
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "0")]).await;
    // The admin's own browser signs in once: it is a known device from now on.
    app.sign_in_as_admin().await;
    let attacker = browser();
    for _ in 0..10 {
        app.sign_in_in(&attacker, ADMIN_EMAIL, "a guessed password")
            .await;
    }
    for someone in [&attacker, &browser()] {
        let response = app.sign_in_in(someone, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(!has_session_cookie(&response));
    }

    // Her browser: her mistypes count for it alone, and the right password signs her in.
    for _ in 0..9 {
        let response = app.sign_in(ADMIN_EMAIL, "a mistyped password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    assert!(
        failures(&app, ADMIN_EMAIL).await.1.is_some(),
        "still locked for everyone else"
    );
    let response = app
        .sign_in_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // Ten in a row at her browser lock it too, the right password included.
    for _ in 0..10 {
        app.sign_in(ADMIN_EMAIL, "a mistyped password").await;
    }
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        server_fn_error(response).await,
        AppError::SignInLocked { minutes: 15 }
    );
}

#[tokio::test]
async fn a_device_cookie_counts_only_for_the_email_it_signed_in_with() {
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "0")]).await;
    app.sign_in_as_admin().await;
    // Someone locks another email; the admin's browser, trying that email, is someone too.
    let other = "someone.else@example.com";
    for _ in 0..10 {
        app.sign_in_in(&browser(), other, "a guessed password")
            .await;
    }
    let response = app.sign_in(other, "a guessed password").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        failures(&app, other).await.0,
        0,
        "locked, the count started again"
    );
}

#[tokio::test]
async fn the_lock_answers_an_email_without_an_account_as_it_answers_one_with() {
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "0")]).await;
    app.person_with_role("sso.only@example.com", Role::User)
        .await;
    let mut answers = Vec::new();
    for email in [ADMIN_EMAIL, "sso.only@example.com", "nobody@example.com"] {
        for _ in 0..9 {
            let response = app.sign_in(email, "a guessed password").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{email}");
        }
        for _ in 0..2 {
            let response = app.sign_in(email, "a guessed password").await;
            answers.push((response.status(), server_fn_error(response).await));
        }
    }
    let locked = (
        StatusCode::TOO_MANY_REQUESTS,
        AppError::SignInLocked { minutes: 15 },
    );
    assert_eq!(answers, vec![locked; 6]);
}

#[tokio::test]
async fn one_address_trying_passwords_fast_is_told_to_wait() {
    let app = TestApp::spawn().await;
    // Each a different email, so that no lock is at work; each costs a password check until
    // the address's burst of 20 is spent (and one more every two seconds after it).
    let mut n = 0;
    let limited = loop {
        let email = format!("nobody{n}@example.com");
        let response = app.sign_in(&email, "a guessed password").await;
        if response.status() != StatusCode::UNAUTHORIZED {
            break (email, response);
        }
        n += 1;
        assert!(n < 60, "no limit after {n} attempts");
    };
    assert!(n >= 20, "limited after {n} attempts, within the burst");
    let (email, response) = limited;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!has_session_cookie(&response));
    match server_fn_error(response).await {
        AppError::TooManyAttempts { seconds } => assert!((1..=2).contains(&seconds), "{seconds}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        failures(&app, &email).await,
        (0, None),
        "the password was not tried"
    );
}

/// The session cookie a sign-in set.
fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("portal_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn signing_in_ends_the_session_the_browser_held_before() {
    let app = TestApp::spawn().await;
    let before = session_cookie(&app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let after = session_cookie(&app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    assert_ne!(before, after);
    assert_eq!(app.session_count().await, 1);
    assert_eq!(
        app.me_with_cookie(&before).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me_with_cookie(&after).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn admin_signs_in_and_me_answers_who_they_are() {
    let app = TestApp::spawn().await;
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("portal_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http must not mark the cookie Secure"
    );

    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["pools"], json!([]));
    assert_eq!(me["jit_provisioned"], false);
    assert!(app.audited("sign_in.password", "success").await);
}

#[tokio::test]
async fn email_case_does_not_matter_at_sign_in() {
    let app = TestApp::spawn().await;
    let response = app.sign_in("ADMIN@Example.com", ADMIN_PASSWORD).await;
    assert!(has_session_cookie(&response));
}

#[tokio::test]
async fn every_answer_refuses_frames_and_caches_and_https_asks_for_https_again() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let token = app.admin_token().await;
    let api = app
        .client
        .get(app.url("/api/v1/identity"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let failed_sign_in = app
        .client
        .post(app.url("/sso/saml/acs"))
        .form(&[("SAMLResponse", "not a response")])
        .send()
        .await
        .unwrap();
    for (what, response) in [
        ("the sign-in page", app.get("/login").await),
        ("an admin page", app.get("/settings/iam/identity").await),
        ("the API", api),
        ("a page that is not there", app.get("/no-such-page").await),
        ("a refused sign-in", failed_sign_in),
    ] {
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}: {headers:?}"
        );
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("referrer-policy"), "same-origin", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
        assert_eq!(
            header("strict-transport-security"),
            "",
            "{what}: not over http"
        );
    }

    let https = TestApp::spawn_with(&[("public_url", "https://portal.example.com")]).await;
    let page = https.get("/login").await;
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn https_public_url_marks_the_session_cookie_secure() {
    let app = TestApp::spawn_with(&[("public_url", "https://portal.example.com")]).await;
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookies: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    // Under the `__Host-` prefix, which no other host of the site can set.
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portal_session="))
        .unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(
        !cookies.iter().any(|c| c.starts_with("portal_session=")),
        "{cookies:?}"
    );
    // The session is read from that cookie only: one of the name without the prefix, which
    // another host of the site could have set, names no session.
    let value = session_cookie_value(&response).unwrap();
    let prefixed = app
        .me_with_cookie(&format!("__Host-portal_session={value}"))
        .await;
    assert_eq!(prefixed.status(), StatusCode::OK);
    let planted = app.me_with_cookie(&format!("portal_session={value}")).await;
    assert_eq!(planted.status(), StatusCode::UNAUTHORIZED);
    // The device cookie too, under the `__Host-` prefix that no other host can set.
    let device = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portal_device="))
        .unwrap();
    assert!(
        device.contains("Secure") && device.contains("Path=/"),
        "{device}"
    );
    assert!(!device.contains("Domain"), "{device}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_starts_no_session() {
    let app = TestApp::spawn().await;
    let response = app.sign_in(ADMIN_EMAIL, "not the password at all").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!has_session_cookie(&response));
    assert_eq!(server_fn_error(response).await, AppError::BadCredentials);
    assert_eq!(app.session_count().await, 0);
    assert_eq!(app.me().await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.audited("sign_in.password", "failure").await);
}

#[tokio::test]
async fn what_is_typed_as_the_email_is_audited_only_when_it_is_an_address() {
    let app = TestApp::spawn().await;
    // A password typed into the email box, then the email typed into the password box.
    let response = app
        .sign_in("correct horse battery staple", ADMIN_EMAIL)
        .await;
    assert_eq!(server_fn_error(response).await, AppError::BadCredentials);
    let response = app.sign_in("nobody@example.com", "correct horse").await;
    assert_eq!(server_fn_error(response).await, AppError::BadCredentials);
    let events = portal::db::entities::audit_event::Entity::find()
        .all(&app.portal.db)
        .await
        .unwrap();
    let who: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.action == "sign_in.password")
        .map(|e| (e.actor.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            (portal::web::NOT_AN_ADDRESS, portal::web::NOT_AN_ADDRESS),
            ("nobody@example.com", "nobody@example.com")
        ]
    );
    let log = format!("{events:?}");
    assert!(!log.contains("battery"), "{log}");
}

#[tokio::test]
async fn an_unknown_email_is_refused_like_a_wrong_password() {
    let app = TestApp::spawn().await;
    let response = app.sign_in("nobody@example.com", ADMIN_PASSWORD).await;
    assert!(!has_session_cookie(&response));
    assert_eq!(server_fn_error(response).await, AppError::BadCredentials);
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn sign_in_without_its_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    app.login_csrf().await; // the cookie half is present
    let response = app.submit_sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, "").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!has_session_cookie(&response));
    assert_eq!(server_fn_error(response).await, AppError::CsrfRejected);
    let response = app
        .submit_sign_in(
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            "forged-token-forged-token-forged-token-forged",
        )
        .await;
    assert!(!has_session_cookie(&response));
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn sessions_are_stored_hashed() {
    let app = TestApp::spawn().await;
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let secret = session_cookie_value(&response).unwrap();
    assert!(secret.len() >= 43, "a 256-bit id, base64url");
    let rows = portal::db::entities::session::Entity::find()
        .all(&app.portal.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].id_hash, secret);
    assert_eq!(rows[0].id_hash, portal::auth::digest(&secret));
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let app = TestApp::spawn().await;
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let secret = session_cookie_value(&response).unwrap();
    let csrf = app.session_csrf().await;
    let response = app.sign_out(&csrf).await;
    assert!(
        response.status().is_success() || response.status().is_redirection(),
        "{}",
        response.status()
    );
    assert_eq!(app.session_count().await, 0);
    // The old cookie, replayed by someone who kept it, opens nothing.
    let replay = app
        .me_with_cookie(&format!("portal_session={secret}"))
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_without_the_csrf_token_keeps_the_session() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let response = app.sign_out("").await;
    assert_eq!(server_fn_error(response).await, AppError::CsrfRejected);
    assert_eq!(app.session_count().await, 1);
    assert_eq!(app.me().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idle_session_expires_with_a_clear_answer() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    app.set_all_sessions(
        "last_seen_at",
        chrono::Utc::now() - chrono::TimeDelta::hours(3),
    )
    .await;
    let response = app.me().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "session_expired"
    );
    assert_eq!(
        app.session_count().await,
        0,
        "the expired session is deleted"
    );
    // The page sends the person to sign in again, saying why.
    let page = app.get("/settings/iam/identity").await;
    assert!(page.status().is_redirection(), "{}", page.status());
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_even_when_in_use() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    assert_eq!(app.me().await.status(), StatusCode::OK);
    app.set_all_sessions(
        "expires_at",
        chrono::Utc::now() - chrono::TimeDelta::minutes(1),
    )
    .await;
    let response = app.me().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "session_expired"
    );
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn settings_pages_need_a_session_then_the_admin_role() {
    let app = TestApp::spawn().await;
    let anonymous = app.get("/settings/iam/identity").await;
    assert!(
        anonymous.status().is_redirection(),
        "{}",
        anonymous.status()
    );
    let location = anonymous.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/login?next=/settings/iam/identity"),
        "{location}"
    );

    // A person with the User role only.
    let account_token = app.person_with_role("user@example.com", Role::User).await;
    let _ = account_token;
    let email = portal::domain::Email::parse("user@example.com").unwrap();
    let person = portal::people::find_by_email(&app.portal.db, &email)
        .await
        .unwrap()
        .unwrap();
    let (cookie, _) =
        portal::auth::session::start(&app.portal.db, app.portal.session_policy(), person.id)
            .await
            .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = reqwest::Client::new()
        .get(app.url("/settings/iam/identity"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("You need the Admin role"));

    app.sign_in_as_admin().await;
    let html = app.page_html("/settings/iam/identity").await;
    for text in [
        "Identity and Access Management",
        "Identity Configuration",
        "Provisioning",
        "SSO JIT",
    ] {
        assert!(html.contains(text), "the page lacks {text:?}");
    }
    assert!(!html.contains("SAML JIT"));
}

#[tokio::test]
async fn pages_render_while_another_portal_in_the_process_finds_its_routes() {
    // Every portal of a process asks for the pages' routes as it starts (a replica, a restart).
    // Finding them holds back the data reads of any page that starts meanwhile, with a flag the
    // whole process shares; a page caught by it would never answer.
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let starting = std::thread::spawn({
        let stop = stop.clone();
        move || {
            // Finding the routes renders the app, whose reads spawn tasks: a runtime to spawn on.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _inside = runtime.enter();
            let mut found = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(!portal::startup::page_routes().is_empty());
                found += 1;
            }
            found
        }
    });
    let mut answers = Vec::new();
    for _ in 0..40 {
        let page = async {
            let page = app.get("/settings/iam/identity").await;
            (page.status(), page.text().await.unwrap())
        };
        let answer = match tokio::time::timeout(std::time::Duration::from_secs(10), page).await {
            Ok((StatusCode::OK, html)) if html.contains("Identity Configuration") => "the page",
            Ok(_) => "something else",
            Err(_) => "no answer in 10 s",
        };
        answers.push(answer);
        if answer != "the page" {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let found = starting.join().unwrap();
    assert!(
        found > 0,
        "the routes were never asked for while pages rendered"
    );
    assert_eq!(answers, ["the page"; 40], "the pages, in order");
}

#[tokio::test]
async fn release_1_53_labels_the_toggle_saml_jit() {
    let app = TestApp::spawn_with(&[("release", "1.53")]).await;
    app.sign_in_as_admin().await;
    // The toggle, and the Users list's source filter, name the method as this release does.
    for page in ["/settings/iam/identity", "/settings/iam/users"] {
        let html = app.get(page).await.text().await.unwrap();
        assert!(html.contains("SAML JIT"), "{page}");
        assert!(!html.contains("SSO JIT"), "{page}");
    }
}

#[tokio::test]
async fn the_identity_document_starts_with_passwords_and_manual_provisioning() {
    let app = TestApp::spawn().await;
    let doc = app.identity_document().await;
    assert_eq!(doc["login_method"], "password");
    assert_eq!(doc["sso"]["protocol"], Value::Null);
    assert_eq!(doc["provisioning"]["method"], "manual");
}

#[tokio::test]
async fn a_malformed_identity_document_is_refused_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let before = app.identity_document().await;
    let cases = [
        (
            json!({ "login_method": "password", "provisioning": { "method": "sometimes" } }),
            "provisioning.method",
        ),
        (
            json!({ "login_method": "magic", "provisioning": { "method": "manual" } }),
            "login_method",
        ),
        (
            json!({ "login_method": "password", "provisioning": { "method": "manual" }, "colour": "blue" }),
            "colour",
        ),
        (
            json!({ "login_method": "password", "sso": { "protocol": "saml" }, "provisioning": { "method": "manual" } }),
            "sso.saml",
        ),
    ];
    for (body, field) in cases {
        let response = app.api_put(&token, "/api/v1/identity", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid");
        assert_eq!(error["field"], field, "{error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert!(error["correlation_id"].as_str().is_some());
    }
    let not_json = reqwest::Client::new()
        .put(app.url("/api/v1/identity"))
        .bearer_auth(&token)
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.identity_document().await, before);
}

#[tokio::test]
async fn sso_jit_without_an_identity_provider_is_refused_with_set_up_sso_first() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let body = json!({ "login_method": "password", "provisioning": { "method": "sso_jit" } });
    let response = app.api_put(&token, "/api/v1/identity", &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "provisioning.method");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Set up single sign-on first"),
        "{error}"
    );
    assert_eq!(
        app.identity_document().await["provisioning"]["method"],
        "manual"
    );
    assert!(app.audited("identity_config.update", "failure").await);
}

#[tokio::test]
async fn an_admin_configures_saml_and_turns_sso_jit_on() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app
        .api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let doc = app.identity_document().await;
    assert_eq!(doc["login_method"], "sso");
    assert_eq!(doc["sso"]["protocol"], "saml");
    assert_eq!(
        doc["sso"]["saml"]["idp_entity_id"],
        "http://www.okta.com/exk1portal"
    );
    assert_eq!(doc["provisioning"]["method"], "sso_jit");
    assert_eq!(doc["updated_by"], ADMIN_EMAIL);
    assert!(doc["updated_at"].as_str().is_some());
    // The fetched document can be sent back as it is.
    let again = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(again.status(), StatusCode::OK);
}

/// A portal with SAML configured (SSO JIT off) through the API, and the admin's API token.
async fn with_saml_configured() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app
        .api_put(&token, "/api/v1/identity", &saml_document("manual"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    (app, token)
}

#[tokio::test]
async fn a_document_sent_back_after_someone_else_changed_the_configuration_is_refused() {
    let (app, token) = with_saml_configured().await;
    // Two admins read the same document; the first turns SSO JIT on.
    let mut first = app.identity_document().await;
    let mut second = first.clone();
    first["provisioning"]["method"] = json!("sso_jit");
    let response = app.api_put(&token, "/api/v1/identity", &first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let in_force = app.identity_document().await;

    // The second, from what they read, changes the entity id: it would turn JIT off again.
    second["sso"]["saml"]["idp_entity_id"] = json!("http://www.okta.com/exk2other");
    let response = app.api_put(&token, "/api/v1/identity", &second).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "conflict");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(ADMIN_EMAIL) && message.contains("GET it again"),
        "{message}"
    );
    assert_eq!(app.identity_document().await, in_force, "nothing changed");

    // A time that is not one is named; without one, the document replaces what is in force.
    second["updated_at"] = json!("yesterday");
    let response = app.api_put(&token, "/api/v1/identity", &second).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.json::<Value>().await.unwrap()["field"],
        "updated_at"
    );
    assert!(app.audited("identity_config.update", "failure").await);
    second.as_object_mut().unwrap().remove("updated_at");
    let response = app.api_put(&token, "/api/v1/identity", &second).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.identity_document().await["sso"]["saml"]["idp_entity_id"],
        "http://www.okta.com/exk2other"
    );
}

#[tokio::test]
async fn of_several_documents_sent_back_at_once_from_one_read_one_is_stored() {
    let (app, token) = with_saml_configured().await;
    let read = app.identity_document().await;
    // On PostgreSQL the saves run side by side; each must see the one that committed first.
    let mut saves = tokio::task::JoinSet::new();
    for n in 0..6 {
        let mut doc = read.clone();
        doc["sso"]["saml"]["idp_entity_id"] = json!(format!("http://www.okta.com/exk{n}"));
        let request = reqwest::Client::new()
            .put(app.url("/api/v1/identity"))
            .bearer_auth(&token)
            .json(&doc);
        saves.spawn(async move { request.send().await.unwrap().status() });
    }
    let mut statuses = saves.join_all().await;
    statuses.sort();
    assert_eq!(
        statuses,
        [vec![StatusCode::OK], vec![StatusCode::CONFLICT; 5]].concat()
    );
}

#[tokio::test]
async fn a_saml_certificate_that_is_not_pem_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let mut body = saml_document("manual");
    body["sso"]["saml"]["idp_certificates"] = json!(["MIIB...not a pem block"]);
    let response = app.api_put(&token, "/api/v1/identity", &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.json::<Value>().await.unwrap()["field"],
        "sso.saml.idp_certificates[0]"
    );
    assert_eq!(
        app.identity_document().await["sso"]["protocol"],
        Value::Null
    );
}

#[tokio::test]
async fn oidc_is_refused_on_release_1_53() {
    let app = TestApp::spawn_with(&[("release", "1.53")]).await;
    let token = app.admin_token().await;
    let body = json!({
        "login_method": "sso",
        "sso": { "protocol": "oidc", "oidc": {
            "discovery_url": "https://example.okta.com/oauth2/default/.well-known/openid-configuration",
            "client_id": "0oa1portal", "client_secret": "s3cret-s3cret" } },
        "provisioning": { "method": "manual" }
    });
    let response = app.api_put(&token, "/api/v1/identity", &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "sso.protocol");
    assert!(error["message"].as_str().unwrap().contains("1.54"));
}

#[tokio::test]
async fn sso_jit_is_refused_outside_the_enterprise_plan() {
    let app = TestApp::spawn_with(&[("plan", "team")]).await;
    let token = app.admin_token().await;
    let response = app
        .api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("Enterprise"),
        "{error}"
    );
    assert_eq!(
        app.identity_document().await["provisioning"]["method"],
        "manual"
    );

    // The page shows the toggle off and locked, and says why.
    app.sign_in_as_admin().await;
    let html = app.page_html("/settings/iam/identity").await;
    let at = html.find(r#"name="jit""#).expect("the SSO JIT toggle");
    let input = &html[html[..at].rfind("<input").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("disabled"), "{input}");
    assert!(!input.contains("checked"), "{input}");
    assert!(
        html.contains("SSO JIT is part of the Enterprise plan; this portal runs on the team plan."),
        "{html}"
    );
}

#[tokio::test]
async fn users_and_viewers_cannot_change_the_identity_configuration() {
    let app = TestApp::spawn().await;
    let before = app.identity_document().await;
    for (email, role) in [
        ("user@example.com", Role::User),
        ("viewer@example.com", Role::Viewer),
    ] {
        let token = app.person_with_role(email, role).await;
        let response = app
            .api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{email}");
    }
    let viewer = app
        .person_with_role("auditor@example.com", Role::Viewer)
        .await;
    assert_eq!(
        app.api_get(&viewer, "/api/v1/identity").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.identity_document().await, before);
}

#[tokio::test]
async fn an_unknown_or_revoked_token_is_refused() {
    let app = TestApp::spawn().await;
    let response = app.api_get("portal_not-a-real-token", "/api/v1/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
    let token = app.admin_token().await;
    assert_eq!(
        app.api_get(&token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
    let row = portal::db::entities::api_token::Entity::find()
        .all(&app.portal.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(portal::auth::token::revoke(&app.portal.db, row.id)
        .await
        .unwrap());
    assert_eq!(
        app.api_get(&token, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_cookie_authenticated_api_write_needs_the_csrf_header() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let response = app
        .client
        .put(app.url("/api/v1/identity"))
        .json(&saml_document("manual"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "csrf_rejected"
    );
    assert_eq!(
        app.identity_document().await["sso"]["protocol"],
        Value::Null
    );
    let csrf = app.session_csrf().await;
    let response = app
        .client
        .put(app.url("/api/v1/identity"))
        .header("x-csrf-token", csrf)
        .json(&saml_document("manual"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_provisioning_toggle_saves_through_the_page_with_its_csrf_token_only() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_eq!(
        app.api_put(&token, "/api/v1/identity", &saml_document("manual"))
            .await
            .status(),
        StatusCode::OK
    );
    app.sign_in_as_admin().await;

    let refused = app.save_provisioning("", true).await;
    assert_eq!(server_fn_error(refused).await, AppError::CsrfRejected);
    assert_eq!(
        app.identity_document().await["provisioning"]["method"],
        "manual"
    );

    let csrf = app.session_csrf().await;
    let saved = app.save_provisioning(&csrf, true).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let view = server_fn_answer::<app::model::IdentitySettings>(saved).await;
    assert_eq!(view["jit_enabled"], true);
    assert_eq!(view["updated_by"], ADMIN_EMAIL);
    assert_eq!(
        app.identity_document().await["provisioning"]["method"],
        "sso_jit"
    );
    // The SSO settings are untouched by the toggle.
    assert_eq!(app.identity_document().await["sso"]["protocol"], "saml");
}

#[tokio::test]
async fn the_toggle_refuses_jit_until_sso_is_set_up() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let csrf = app.session_csrf().await;
    let response = app.save_provisioning(&csrf, true).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, message) = server_fn_refusal(response).await;
    assert!(message.contains("Set up single sign-on first"), "{message}");
    assert_eq!(
        app.identity_document().await["provisioning"]["method"],
        "manual"
    );
}

#[tokio::test]
async fn jit_turned_on_under_1_53_stays_on_after_the_upgrade_to_1_54() {
    let app = TestApp::spawn_with(&[("release", "1.53")]).await;
    let token = app.admin_token().await;
    assert_eq!(
        app.api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
            .await
            .status(),
        StatusCode::OK
    );
    let app = app.restart_with(&[("release", "1.54")]).await;
    app.sign_in_as_admin().await;
    let csrf = app.session_csrf().await;
    let _ = csrf;
    let view = read_page::<app::api::GetIdentitySettings>(&app.client, &app.base).await;
    assert_eq!(view["jit_label"], "SSO JIT");
    assert_eq!(view["jit_enabled"], true);
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    use portal::db::entities::user;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = TestApp::spawn().await;
    let duplicate = user::ActiveModel {
        email: Set("Admin@EXAMPLE.com".into()),
        email_normalized: Set(portal::domain::Email::parse("Admin@EXAMPLE.com")
            .unwrap()
            .normalized()),
        first_name: Set("Second".into()),
        last_name: Set("Admin".into()),
        source: Set("manual".into()),
        jit_provisioned: Set(false),
        active: Set(true),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.portal.db)
    .await;
    assert!(
        duplicate.is_err(),
        "the database accepted a second account for the same email"
    );
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn there_is_exactly_one_default_agent_pool() {
    use portal::db::entities::agent_pool;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let defaults = agent_pool::Entity::find()
        .filter(agent_pool::Column::IsDefault.eq(true))
        .all(&app.portal.db)
        .await
        .unwrap();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0].name, "default");
    let second = agent_pool::ActiveModel {
        name: Set("another".into()),
        is_default: Set(true),
        agent_key_hash: Set("x".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.portal.db)
    .await;
    assert!(second.is_err(), "a second default pool was accepted");
}

/// The `portal` command with `args`, on `app`'s database.
fn portal_command(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env("PORTAL_DATABASE_URL", &app.database_url)
        .env_remove("PORTAL_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn portal_token_create_prints_a_working_token_for_an_admin_only() {
    let app = TestApp::spawn().await;
    let run = |email: &str| portal_command(&app, &["token", "create", "--email", email]);
    let output = run(ADMIN_EMAIL);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("portal_"));
    let me: Value = app
        .api_get(&token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);

    app.person_with_role("user@example.com", Role::User).await;
    let output = run("user@example.com");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an admin"));
}

#[tokio::test]
async fn portal_token_revoke_stops_the_token_and_puts_it_on_record() {
    let app = TestApp::spawn().await;
    let portal = |args: &[&str]| portal_command(&app, args);
    let created = portal(&["token", "create", "--email", ADMIN_EMAIL]);
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let said = String::from_utf8_lossy(&created.stderr).to_string();
    let id: String = said["Created API token ".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(
        app.api_get(&token, "/api/v1/me").await.status(),
        StatusCode::OK
    );

    let revoked = portal(&["token", "revoke", &id]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        app.api_get(&token, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(app.audited("api_token.revoke", "success").await);
    // Revoked once: a second revoke says so and records nothing more.
    let again = portal(&["token", "revoke", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no active API token"));
    let revokes = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _)| action == "api_token.revoke")
        .count();
    assert_eq!(revokes, 1);
}

#[tokio::test]
async fn portal_admin_reset_lets_an_operator_back_in_as_admin() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = TestApp::spawn_with(&[("sso_rate_per_second", "0")]).await;
    // A session held somewhere, then locked out every way at once: deactivated, Admin taken
    // away, password locked, for her browser and everywhere else.
    app.sign_in_as_admin().await;
    assert_eq!(app.session_count().await, 1);
    let elsewhere = browser();
    for _ in 0..10 {
        app.sign_in(ADMIN_EMAIL, "not the admin password").await;
        app.sign_in_in(&elsewhere, ADMIN_EMAIL, "not the admin password")
            .await;
    }
    assert!(failures(&app, ADMIN_EMAIL).await.1.is_some());
    assert_eq!(
        app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "her browser's own count locked it"
    );
    let email = portal::domain::Email::parse(ADMIN_EMAIL).unwrap();
    let admin = portal::people::find_by_email(&app.portal.db, &email)
        .await
        .unwrap()
        .unwrap();
    let mut out: portal::db::entities::user::ActiveModel = admin.clone().into();
    out.active = Set(false);
    out.update(&app.portal.db).await.unwrap();
    portal::db::entities::user_role::Entity::delete_many()
        .exec(&app.portal.db)
        .await
        .unwrap();

    let output = portal_command(&app, &["admin", "reset", "--email", ADMIN_EMAIL]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("shown only now"), "{stderr}");
    let password = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(password.len() >= 20, "a generated password");
    assert_eq!(app.session_count().await, 0, "its sessions ended");
    assert_eq!(
        failures(&app, ADMIN_EMAIL).await,
        (0, None),
        "the lock lifted"
    );

    assert_eq!(
        app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone, and her browser's lock with the rest"
    );
    let rows = portal::db::entities::password_failure::Entity::find()
        .all(&app.portal.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the failure just made: {rows:?}");
    assert_eq!(
        failures(&app, ADMIN_EMAIL).await,
        (1, None),
        "counted for the email: her browser's cookie was given for the old password"
    );
    let response = app.sign_in(ADMIN_EMAIL, &password).await;
    assert!(has_session_cookie(&response), "{}", response.status());
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(app.user_count().await, 1, "the same account");
    assert!(app.audited("account.admin_reset", "success").await);
}

#[tokio::test]
async fn the_janitor_removes_expired_sessions_and_keeps_live_ones() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let second = browser();
    let csrf = {
        read_page::<app::api::GetLoginPage>(&second, &app.base).await["csrf_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let response = second
        .post(app.url(<app::api::SignIn as leptos::server_fn::ServerFn>::PATH))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf", csrf.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert!(has_session_cookie(&response));
    assert_eq!(app.session_count().await, 2);
    // Nothing has expired yet.
    assert_eq!(
        portal::janitor::sweep(&app.portal.db, chrono::Utc::now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.session_count().await, 2);
    // Both sessions are past their absolute lifetime a day from now.
    let removed = portal::janitor::sweep(
        &app.portal.db,
        chrono::Utc::now() + chrono::TimeDelta::days(1),
    )
    .await
    .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn the_janitor_keeps_a_spent_assertion_the_clock_skew_past_its_expiry() {
    use portal::db::entities::saml_assertion_seen;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = TestApp::spawn().await;
    let expired_at = chrono::Utc::now();
    saml_assertion_seen::ActiveModel {
        assertion_id: Set("_spent".into()),
        expires_at: Set(expired_at),
    }
    .insert(&app.portal.db)
    .await
    .unwrap();
    let remembered = async || {
        saml_assertion_seen::Entity::find_by_id("_spent".to_string())
            .one(&app.portal.db)
            .await
            .unwrap()
            .is_some()
    };
    // A replica whose clock is up to three minutes behind may still be taking it.
    let sweep = async |at| portal::janitor::sweep(&app.portal.db, at).await.unwrap();
    sweep(expired_at + chrono::TimeDelta::minutes(2)).await;
    assert!(remembered().await, "forgotten within the skew");
    sweep(expired_at + chrono::TimeDelta::minutes(3) + chrono::TimeDelta::seconds(1)).await;
    assert!(!remembered().await, "kept past the skew");
}

#[tokio::test]
async fn the_login_method_becomes_sso_only_once_an_identity_provider_is_configured() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let csrf = app.session_csrf().await;
    let path = <app::api::SaveLoginMethod as leptos::server_fn::ServerFn>::PATH;
    let save = |method: &'static str| {
        app.client
            .post(app.url(path))
            .form(&[("csrf", csrf.as_str()), ("method", method)])
            .send()
    };
    let refused = save("sso").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, message) = server_fn_refusal(refused).await;
    assert!(
        message.contains("until an identity provider is configured"),
        "{message}"
    );
    assert_eq!(app.identity_document().await["login_method"], "password");

    let token = app.admin_token().await;
    assert_eq!(
        app.api_put(&token, "/api/v1/identity", &saml_document("manual"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(save("password").await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.identity_document().await["login_method"], "password");
    assert_eq!(save("sso").await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.identity_document().await["login_method"], "sso");

    // The sign-in page now leads with Okta, and the local form stays reachable (break-glass).
    let page = read_page::<app::api::GetLoginPage>(&browser(), &app.base).await;
    assert_eq!(page["sso_start"], "/sso/saml/login");
    assert_eq!(page["sso_is_login_method"], true);
    let mut app = app;
    app.client = browser();
    let response = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        has_session_cookie(&response),
        "local admin sign-in must keep working under SSO"
    );
}

#[tokio::test]
async fn the_demo_switch_puts_its_identity_document_in_force_as_the_api_would() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("identity.json");
    std::fs::write(&file, saml_document("sso_jit").to_string()).unwrap();

    let identity = portal::demo::apply(&app.portal, &file).await.unwrap();
    assert!(identity
        .summary()
        .unwrap()
        .contains("http://www.okta.com/exk1portal"));
    let document = app.identity_document().await;
    assert_eq!(document["sso"]["protocol"], "saml");
    assert_eq!(document["provisioning"]["method"], "sso_jit");
    assert_eq!(document["updated_by"], ADMIN_EMAIL);
    assert!(app.audited("identity_config.update", "success").await);
}

#[tokio::test]
async fn a_demo_document_that_is_refused_says_why_and_leaves_the_configuration_in_force() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, saml_document("sso_jit").to_string()).unwrap();
    portal::demo::apply(&app.portal, &good).await.unwrap();
    let in_force = app.identity_document().await;

    let missing = dir.path().join("missing.json");
    let error = portal::demo::apply(&app.portal, &missing)
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("missing.json"), "{error:#}");

    let garbled = dir.path().join("garbled.json");
    std::fs::write(&garbled, "{\"login_method\": \"sso\"").unwrap();
    let error = portal::demo::apply(&app.portal, &garbled)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("is not an identity document"),
        "{error:#}"
    );

    let mut bad = saml_document("sso_jit");
    bad["sso"]["saml"]["idp_certificates"] = json!(["not a certificate"]);
    let refused = dir.path().join("refused.json");
    std::fs::write(&refused, bad.to_string()).unwrap();
    let error = portal::demo::apply(&app.portal, &refused)
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("was refused"), "{error:#}");

    assert_eq!(app.identity_document().await, in_force);
}

#[tokio::test]
async fn every_sqlite_connection_of_the_pool_runs_wal_with_normal_durability() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let (_dir, db) = migrated_sqlite_file().await;
    // Transactions held open at once each hold a connection of their own: as many as the pool
    // opens.
    let connections = db
        .get_sqlite_connection_pool()
        .options()
        .get_max_connections();
    let mut open = Vec::new();
    for _ in 0..connections {
        open.push(db.begin().await.unwrap());
    }
    for txn in &open {
        let pragma = |name: &str| {
            Statement::from_string(sea_orm::DbBackend::Sqlite, format!("PRAGMA {name}"))
        };
        let synchronous = txn
            .query_one_raw(pragma("synchronous"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(synchronous.try_get_by_index::<i32>(0).unwrap(), 1, "NORMAL");
        let journal = txn
            .query_one_raw(pragma("journal_mode"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(journal.try_get_by_index::<String>(0).unwrap(), "wal");
        let keys = txn
            .query_one_raw(pragma("foreign_keys"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys.try_get_by_index::<i32>(0).unwrap(), 1);
    }
}

#[tokio::test]
async fn a_write_ahead_log_grown_past_its_limit_is_emptied_and_nothing_is_lost() {
    use portal::db::wal;
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let (dir, db) = migrated_sqlite_file().await;
    let log = dir.path().join("portal.db-wal");
    let sql = |sql: &str| Statement::from_string(sea_orm::DbBackend::Sqlite, sql.to_string());
    write_filler(&db, 0).await;

    // A reader that stays in the log while 8 MB are written: SQLite's own checkpoint cannot start
    // the log again, so it grows, as it does when sign-ins never pause. It reads through a
    // connection of its own, as another replica would (the pool may have only one).
    let other = portal::db::connect(&sqlite_url(&dir)).await.unwrap();
    let reader = other.begin().await.unwrap();
    reader
        .query_one_raw(sql("SELECT count(*) FROM filler"))
        .await
        .unwrap();
    write_filler(&db, 256).await;
    reader.rollback().await.unwrap();
    let grown = std::fs::metadata(&log).unwrap().len();
    assert!(grown > 8 << 20, "the log grew to {grown} bytes");

    assert_eq!(
        wal::truncate_if_over(&db, grown).await.unwrap(),
        None,
        "a log at its limit is left alone"
    );
    assert_eq!(std::fs::metadata(&log).unwrap().len(), grown);

    let checkpoint = wal::truncate_if_over(&db, 1 << 20).await.unwrap();
    assert_eq!(
        checkpoint,
        Some(wal::Checkpoint {
            bytes_before: grown,
            busy: false
        })
    );
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "emptied");
    assert_eq!(number(&db, "SELECT count(*) FROM filler").await, 256);
}

/// The number in the first column of the one row that `sql` answers.
async fn number(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

/// Creates the table `filler` if need be, and writes `rows` rows of 32 KB into it, each in a
/// transaction of its own.
async fn write_filler(db: &sea_orm::DatabaseConnection, rows: usize) {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = |sql: &str| Statement::from_string(sea_orm::DbBackend::Sqlite, sql.to_string());
    db.execute_raw(sql(
        "CREATE TABLE IF NOT EXISTS filler (bytes BLOB NOT NULL)",
    ))
    .await
    .unwrap();
    for _ in 0..rows {
        db.execute_raw(sql("INSERT INTO filler VALUES (randomblob(32768))"))
            .await
            .unwrap();
    }
}

/// Writes 300 rows of 32 KB (some 2,700 pages of the log, far past SQLite's default of 1,000 for
/// its automatic checkpoint), and gives the size of the database file afterwards.
async fn fill_the_log(db: &sea_orm::DatabaseConnection, file: &std::path::Path) -> u64 {
    write_filler(db, 300).await;
    std::fs::metadata(file).unwrap().len()
}

#[tokio::test]
async fn a_commit_leaves_the_log_to_the_checkpointer_which_copies_it_back() {
    use portal::db::wal;
    let (dir, db) = migrated_sqlite_file().await;
    let file = dir.path().join("portal.db");

    let before = fill_the_log(&db, &file).await;
    assert!(
        before < 4 << 20,
        "the commits copied the log back themselves: the file has {before} bytes"
    );

    let checkpointer = wal::Checkpointer::open(&db)
        .await
        .unwrap()
        .expect("a SQLite file");
    let copied = checkpointer.copy_back().await.unwrap();
    assert!(copied.log_pages > 2_000, "{copied:?}");
    assert_eq!(copied.copied_pages, copied.log_pages, "all of it copied");
    let after = std::fs::metadata(&file).unwrap().len();
    assert!(after > 9 << 20, "the file has {after} bytes");
    assert_eq!(number(&db, "SELECT count(*) FROM filler").await, 300);
    // The backstop that SQLite's own checkpoint is left at, on every connection of the pool.
    assert_eq!(
        number(&db, "PRAGMA wal_autocheckpoint").await,
        i64::from(wal::BACKSTOP_PAGES)
    );
}

#[tokio::test]
async fn a_running_portal_copies_its_log_back_in_the_background() {
    let (dir, db) = migrated_sqlite_file().await;
    let file = dir.path().join("portal.db");
    portal::db::wal::spawn(db.clone()).await.unwrap();
    fill_the_log(&db, &file).await;
    eventually(
        std::time::Duration::from_secs(10),
        portal::db::wal::EVERY,
        async || match std::fs::metadata(&file).unwrap().len() {
            size if size > 9 << 20 => Ok(()),
            size => Err(format!("the file has {size} bytes")),
        },
    )
    .await;
}

#[tokio::test]
async fn only_a_sqlite_file_has_a_checkpointer() {
    use portal::db::wal::Checkpointer;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let db = portal::db::connect(&url).await.unwrap();
    let checkpointer = Checkpointer::open(&db).await.unwrap();
    assert_eq!(checkpointer.is_some(), url.starts_with("sqlite:"), "{url}");

    let memory = portal::db::connect("sqlite::memory:").await.unwrap();
    assert!(Checkpointer::open(&memory).await.unwrap().is_none());
}

#[tokio::test]
async fn a_persons_roles_are_read_through_indexes_without_scanning_a_table() {
    use sea_orm::{ConnectionTrait, QueryTrait, Statement};
    let (_dir, db) = migrated_sqlite_file().await;
    let roles = portal::people::effective_roles_query(7).build(sea_orm::DbBackend::Sqlite);
    let plan = db
        .query_all_raw(Statement {
            sql: format!("EXPLAIN QUERY PLAN {}", roles.sql),
            ..roles
        })
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "detail").unwrap())
        .collect::<Vec<_>>();
    // Every signed-in request reads them; a scan grows with the people (20,000 pool members
    // after a storm of first sign-ins).
    assert!(
        plan.iter()
            .any(|step| step.contains("pool_members_by_user")),
        "{plan:#?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn a_key_file_that_holds_no_key_stops_start_up_before_the_database_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(&key, "not a key\n").unwrap();
    let config = portal::config::Config::with_overrides(&[
        ("addr", "127.0.0.1:0"),
        ("database_url", &sqlite_url(&dir)),
        ("secret_key_file", &key.display().to_string()),
    ])
    .unwrap();
    let error = portal::startup::Application::build(config)
        .await
        .err()
        .expect("start-up is refused")
        .to_string();
    assert!(error.contains("PORTAL_SECRET_KEY_FILE"), "{error}");
    assert!(error.contains("does not hold a secret key"), "{error}");
    assert!(
        !dir.path().join("portal.db").exists(),
        "no database is made"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "not a key\n");
}

#[tokio::test]
async fn replicas_starting_at_once_on_one_database_migrate_once_and_make_one_admin() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("secret.key").display().to_string();
    let start = |url: String| {
        let key = key.clone();
        async move {
            let config = portal::config::Config::with_overrides(&[
                ("addr", "127.0.0.1:0"),
                ("database_url", &url),
                ("admin_email", ADMIN_EMAIL),
                ("secret_key_file", &key),
            ])
            .unwrap();
            portal::startup::Application::build(config).await
        }
    };
    let (a, b, c, d) = tokio::join!(
        start(url.clone()),
        start(url.clone()),
        start(url.clone()),
        start(url.clone())
    );
    let replicas = [a, b, c, d];
    let mut created = 0;
    for replica in &replicas {
        let replica = replica.as_ref().expect("every replica starts");
        if let portal::people::FirstAdmin::Created {
            generated_password, ..
        } = replica.first_admin()
        {
            assert!(generated_password.is_some());
            created += 1;
        }
    }
    assert_eq!(
        created, 1,
        "one replica made the admin, the others found it"
    );
    // And one made the secret key, which the others read: nothing else is left beside it.
    let names: Vec<_> = std::fs::read_dir(keys.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["secret.key"]);
    let ids: std::collections::BTreeSet<_> = replicas
        .iter()
        .map(|replica| {
            replica
                .as_ref()
                .unwrap()
                .portal()
                .secret_key
                .id()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let db = &replicas[0].as_ref().unwrap().portal().db;
    assert_eq!(number(db, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        number(db, "SELECT COUNT(*) FROM user_roles").await,
        1,
        "the admin holds the Admin role once"
    );
    use migrations::MigratorTrait;
    assert_eq!(
        number(db, "SELECT COUNT(*) FROM seaql_migrations").await,
        migrations::Migrator::migrations().len() as i64
    );
}

/// Each of `tables`' rows as text, sorted, through SQLite's `quote` of every column.
async fn sqlite_rows(db: &sea_orm::DatabaseConnection, tables: &[&str]) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let mut rows = Vec::new();
    for table in tables {
        let columns = db
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "SELECT group_concat('quote(\"' || name || '\")', ' || '','' || ') \
                 FROM pragma_table_info(?)",
                [(*table).into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<String>(0)
            .unwrap();
        for row in db
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                format!("SELECT '{table}: ' || {columns} FROM \"{table}\" ORDER BY 1"),
            ))
            .await
            .unwrap()
        {
            rows.push(row.try_get_by_index::<String>(0).unwrap());
        }
    }
    rows
}

/// Which way to migrate, and how many steps (all when `None`).
enum Step {
    Up(Option<u32>),
    Down(Option<u32>),
}

/// Migrates in a transaction, as at start-up: one connection sees SQLite's tables rebuilt.
async fn migrate(db: &sea_orm::DatabaseConnection, step: Step) {
    use migrations::MigratorTrait;
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    match step {
        Step::Up(steps) => migrations::Migrator::up(&txn, steps).await.unwrap(),
        Step::Down(steps) => migrations::Migrator::down(&txn, steps).await.unwrap(),
    }
    txn.commit().await.unwrap();
}

/// The names of `tables` that SQLite stores by their key (`WITHOUT ROWID`), and of every index
/// on them, each sorted.
async fn sqlite_layout(
    db: &sea_orm::DatabaseConnection,
    tables: &[&str],
) -> (Vec<String>, Vec<String>) {
    use sea_orm::{ConnectionTrait, Statement};
    let names = async |condition: &str| {
        db.query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            format!("SELECT name, tbl_name FROM sqlite_master WHERE {condition} ORDER BY name"),
        ))
        .await
        .unwrap()
        .into_iter()
        .filter(|row| tables.contains(&row.try_get::<String>("", "tbl_name").unwrap().as_str()))
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect::<Vec<_>>()
    };
    let by_key = names("type = 'table' AND sql LIKE '%WITHOUT ROWID'").await;
    (by_key, names("type = 'index'").await)
}

#[tokio::test]
async fn sqlite_stores_the_tables_keyed_by_text_or_two_ids_by_their_key_and_keeps_their_rows() {
    use sea_orm::ConnectionTrait;
    const BY_KEY: [&str; 7] = [
        "oidc_logins",
        "pool_members",
        "pool_roles",
        "saml_assertions_seen",
        "saml_requests",
        "sessions",
        "user_roles",
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = portal::db::connect(&sqlite_url(&dir)).await.unwrap();
    // The schema as the release before left it, with a person signed in through SSO and a
    // sign-in of each protocol under way.
    migrate(&db, Step::Up(Some(2))).await;
    let (by_key, indexes_before) = sqlite_layout(&db, &BY_KEY).await;
    assert_eq!(by_key, Vec::<String>::new());
    let at = "'2026-12-01 09:00:00+00:00'";
    for sql in [
        format!(
            "INSERT INTO users (id, email, email_normalized, first_name, last_name, source, \
             jit_provisioned, active, created_at) VALUES (7, 'Ada@example.com', \
             'ada@example.com', 'Ada', 'Lovelace', 'sso_jit', true, true, {at})"
        ),
        "INSERT INTO pool_members (pool_id, user_id) SELECT id, 7 FROM agent_pools".into(),
        "INSERT INTO user_roles (user_id, role_id) SELECT 7, id FROM roles WHERE \"key\" = 'user'"
            .into(),
        "INSERT INTO pool_roles (pool_id, role_id) SELECT p.id, r.id FROM agent_pools p, roles r \
         WHERE r.\"key\" = 'viewer'"
            .into(),
        format!(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
             expires_at) VALUES ('5e55', 7, 'c5rf', {at}, {at}, {at})"
        ),
        format!(
            "INSERT INTO saml_requests (id, relay_state, expires_at) VALUES ('id-1', '/', {at})"
        ),
        format!("INSERT INTO saml_assertions_seen (assertion_id, expires_at) VALUES ('a-1', {at})"),
        format!(
            "INSERT INTO oidc_logins (state_hash, browser_hash, nonce, pkce_verifier, return_to, \
             expires_at) VALUES ('57a7e', 'b', 'n', 'p', '/users', {at})"
        ),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    let rows = sqlite_rows(&db, &BY_KEY).await;
    assert_eq!(rows.len(), BY_KEY.len(), "{rows:#?}");
    // And a session of a person removed by hand with foreign keys off (the `sqlite3` tool's
    // default): it can never be read, and is not copied.
    db.execute_unprepared(&format!(
        "PRAGMA foreign_keys = OFF; \
         INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
         expires_at) VALUES ('dead', 99, 'c5rf', {at}, {at}, {at}); \
         PRAGMA foreign_keys = ON"
    ))
    .await
    .unwrap();
    assert_eq!(sqlite_rows(&db, &["sessions"]).await.len(), 2);

    // The rebuild, and nothing after it.
    migrate(&db, Step::Up(Some(1))).await;
    // The primary keys' second B-trees (`sqlite_autoindex_…`) are gone; the declared indexes are
    // there again.
    let declared = ["pool_members_by_user", "sessions_by_user"].map(String::from);
    assert!(indexes_before.len() > declared.len(), "{indexes_before:?}");
    assert_eq!(
        sqlite_layout(&db, &BY_KEY).await,
        (BY_KEY.map(String::from).to_vec(), declared.to_vec())
    );
    assert_eq!(sqlite_rows(&db, &BY_KEY).await, rows);
    let integrity = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA foreign_key_check",
        ))
        .await
        .unwrap();
    assert!(integrity.is_none(), "a row refers to nothing");

    // Undone, the tables are as they were, rows and all.
    migrate(&db, Step::Down(Some(1))).await;
    assert_eq!(
        sqlite_layout(&db, &BY_KEY).await,
        (Vec::new(), indexes_before)
    );
    assert_eq!(sqlite_rows(&db, &BY_KEY).await, rows);

    // The rebuilt tables keep their foreign keys: removing the person removes what was theirs.
    // A SAML request made before its browser was bound stays unbound ('' for its browser).
    migrate(&db, Step::Up(None)).await;
    let unbound = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT browser_hash FROM saml_requests WHERE id = 'id-1'",
        ))
        .await
        .unwrap()
        .expect("the request is kept");
    assert_eq!(unbound.try_get::<String>("", "browser_hash").unwrap(), "");
    db.execute_unprepared("DELETE FROM users WHERE id = 7")
        .await
        .unwrap();
    let left = sqlite_rows(&db, &["sessions", "pool_members", "user_roles"]).await;
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test]
async fn the_front_end_is_asked_for_again_at_every_page_load() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/portal.wasm"), b"\0asm this release").unwrap();
    let app = TestApp::spawn_with(&[("site_root", site.path().to_str().unwrap())]).await;

    let first = app.get("/pkg/portal.wasm").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
    let modified = first.headers()[header::LAST_MODIFIED].clone();
    assert_eq!(first.bytes().await.unwrap().as_ref(), b"\0asm this release");
    // Unchanged, it costs a 304 and no body.
    let again = app
        .client
        .get(app.url("/pkg/portal.wasm"))
        .header(header::IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::CACHE_CONTROL], "no-cache");
}

#[tokio::test]
async fn the_upgrade_tells_addresses_apart_by_ascii_case_only() {
    use migrations::MigratorTrait;
    use sea_orm::ActiveValue::Set;
    let dir = tempfile::tempdir().unwrap();
    let db = portal::db::connect(&fresh_database_url(&dir).await)
        .await
        .unwrap();
    let before_the_change = migrations::Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261205_000001_emails_ascii_case")
        .unwrap();
    migrate(&db, Step::Up(Some(before_the_change as u32))).await;
    // As the release before stored them: lower-cased by Unicode's rules, which made the first
    // one `kevin@example.com`.
    let addresses = [
        "\u{212A}evin@example.com",
        "\u{D6}LAF@Example.com",
        "Ada@Example.com",
    ];
    for email in addresses {
        let mut account = new_account(email);
        account.email_normalized = Set(email.to_lowercase());
        // Only the id comes back: the account's later columns are not there yet.
        portal::db::entities::user::Entity::insert(account)
            .exec(&db)
            .await
            .unwrap();
    }
    migrate(&db, Step::Up(None)).await;

    let find = async |email: &str| {
        let email = portal::domain::Email::parse(email).unwrap();
        portal::people::find_by_email(&db, &email)
            .await
            .unwrap()
            .map(|account| account.email)
    };
    assert_eq!(find("kevin@example.com").await, None);
    for email in addresses {
        assert_eq!(find(email).await.as_deref(), Some(email));
    }
    assert_eq!(
        find("ada@example.com").await.as_deref(),
        Some("Ada@Example.com")
    );
    assert_eq!(
        find("\u{D6}laf@example.com").await.as_deref(),
        Some("\u{D6}LAF@Example.com")
    );
}

#[tokio::test]
async fn a_change_made_beside_portal_draws_a_revision_that_a_restore_does_not_repeat() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let db = portal::db::connect_and_migrate(&fresh_database_url(&dir).await)
        .await
        .unwrap();
    let revision = async || number(&db, "SELECT revision FROM identity_config WHERE id = 1").await;
    let run = async |sql: String| db.execute_unprepared(&sql).await.unwrap();
    let backup = revision().await;

    // An operator's SQL (or a replica of an earlier release) turns SSO JIT on; then the database
    // is restored from the backup, and the same change is made again.
    run("UPDATE identity_config SET provisioning_method = 'sso_jit' WHERE id = 1".into()).await;
    let first = revision().await;
    run(format!(
        "UPDATE identity_config SET provisioning_method = 'manual', revision = {backup} WHERE id = 1"
    ))
    .await;
    assert_eq!(
        revision().await,
        backup,
        "a restore keeps the number it restores"
    );
    run("UPDATE identity_config SET provisioning_method = 'sso_jit' WHERE id = 1".into()).await;
    let second = revision().await;
    assert_ne!(first, backup);
    assert_ne!(second, backup);
    assert_ne!(
        second, first,
        "the change after the restore is not numbered as the one before it"
    );
    assert!(first > 0 && second > 0, "{first} {second}");

    // Who saved it and when is not what the configuration says.
    run("UPDATE identity_config SET updated_at = NULL, updated_by_email = 'ops@example.com' WHERE id = 1".into())
        .await;
    assert_eq!(revision().await, second);

    // Undone, the trigger counts again; redone, it draws.
    use migrations::MigratorTrait;
    let all = migrations::Migrator::migrations();
    let drawn = all
        .iter()
        .position(|m| m.name() == "m20261205_000004_identity_config_revision_drawn")
        .unwrap();
    migrate(&db, Step::Down(Some((all.len() - drawn) as u32))).await;
    run("UPDATE identity_config SET provisioning_method = 'manual' WHERE id = 1".into()).await;
    assert_eq!(revision().await, second + 1);
    migrate(&db, Step::Up(None)).await;
    run("UPDATE identity_config SET provisioning_method = 'sso_jit' WHERE id = 1".into()).await;
    assert_ne!(revision().await, second + 2);
}
