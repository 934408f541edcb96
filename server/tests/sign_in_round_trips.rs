//! What a SAML sign-in sends to the database: its statements, and how many times it sends some.
//! The writes that follow the account's (session, audit event, a new account's pool and role)
//! travel together (`db::batch`): on SQLite as several statements in one text, on PostgreSQL as
//! one statement. A test binary of its own, so that the counters it reads
//! from /metrics (one per process) count this portal's statements only.

mod support;

use reqwest::StatusCode;
use support::saml::{ResponseSpec, TestIdp};
use support::{browser, metrics, TestApp};

/// Statements run and round trips made so far.
async fn counts(app: &TestApp) -> (f64, f64) {
    let text = app.get("/metrics").await.text().await.unwrap();
    let read = |name| metrics::sample(&text, name).expect("the counter is exposed");
    (
        read(portal::metrics::DB_STATEMENTS),
        read(portal::metrics::DB_ROUND_TRIPS),
    )
}

/// Signs `email` in through the ACS, and answers what that cost the database.
async fn sign_in(app: &TestApp, idp: &TestIdp, email: &str) -> (f64, f64) {
    let spec = ResponseSpec::new(
        idp,
        &format!("{}/sso/saml/metadata", app.base),
        &format!("{}/sso/saml/acs", app.base),
        email,
    );
    let before = counts(app).await;
    let response = browser()
        .post(format!("{}/sso/saml/acs", app.base))
        .form(&[("SAMLResponse", spec.encoded(idp))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = counts(app).await;
    (after.0 - before.0, after.1 - before.1)
}

#[tokio::test]
async fn a_sign_in_sends_its_writes_together() {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new("http://www.okta.com/exk1test");
    app.configure_saml(&idp, true, true).await;
    let sqlite = app.portal.db.get_database_backend() == sea_orm::DbBackend::Sqlite;

    // Recording the assertion id, reading the accounts bound to the subject or holding the
    // email, creating the account; then joining the default pool, granting the User role,
    // storing the session (under the identity configuration's revision) and writing the audit
    // event. The configuration itself is the one this portal saw when it was saved, not read
    // again.
    // Each window may also hold the janitor's sweep (at start-up, then every ten minutes), so
    // three people sign in and two of them must cost exactly this.
    let people = ["ada@example.com", "grace@example.com", "edsger@example.com"];
    let mut first = Vec::new();
    for email in people {
        first.push(sign_in(&app, &idp, email).await);
    }
    let expected = if sqlite { (7.0, 4.0) } else { (4.0, 4.0) };
    assert_most_cost(&first, expected, "first sign-in");
    // A returning person: their account's update, the session and the audit event together.
    let mut returning = Vec::new();
    for email in people {
        returning.push(sign_in(&app, &idp, email).await);
    }
    let expected = if sqlite { (5.0, 3.0) } else { (3.0, 3.0) };
    assert_most_cost(&returning, expected, "returning sign-in");
}

/// Two of the three sign-ins cost `expected` (statements, round trips): the third may share its
/// window with the janitor's sweep.
fn assert_most_cost(costs: &[(f64, f64)], expected: (f64, f64), what: &str) {
    assert!(
        costs.iter().filter(|&&cost| cost == expected).count() >= 2,
        "(statements, round trips) of each {what}: {costs:?}, expected {expected:?}"
    );
}
