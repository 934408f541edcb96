//! What a sign-in sends to the database: its statements, and how many times it sends some.
//! The writes that follow the account's (session, audit event, a new account's pool and role)
//! travel together (`db::batch`): on SQLite as several statements in one text, on PostgreSQL as
//! one statement. A test binary of its own, whose tests run one at a time, so that the counters
//! they read from /metrics (one per process) count one portal's statements only.

mod support;

use reqwest::StatusCode;
use support::oidc::{Person, TestOp, TokenSpec};
use support::saml::{ResponseSpec, TestIdp};
use support::{browser, metrics, TestApp};

/// Held by each test for its whole run: the counters are the process's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _alone = ONE_AT_A_TIME.lock().await;
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

/// A started OpenID Connect sign-in: the browser, and the callback Okta sends it to.
type Started = (reqwest::Client, String);

/// Starts an OpenID Connect sign-in for `email`, and answers what the start cost the database.
async fn oidc_start(app: &TestApp, op: &TestOp, email: &str) -> (Started, (f64, f64)) {
    let browser = browser();
    let login = app.url("/sso/oidc/login");
    let person = Person::new(email);
    let before = counts(app).await;
    let callback = op
        .sign_in_from(&browser, &login, &person, TokenSpec::default())
        .await;
    let after = counts(app).await;
    (
        (browser, callback),
        (after.0 - before.0, after.1 - before.1),
    )
}

/// Follows the callback of a sign-in [`oidc_start`] began, and answers what it cost the database.
async fn oidc_callback(app: &TestApp, (browser, callback): Started) -> (f64, f64) {
    let before = counts(app).await;
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = counts(app).await;
    (after.0 - before.0, after.1 - before.1)
}

/// Gives the identity configuration another revision, as a save on another replica does.
async fn saved_elsewhere(app: &TestApp) {
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.portal.db,
        "UPDATE identity_config SET revision = revision + 1",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_oidc_sign_in_reads_no_configuration_it_has_seen() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    app.configure_oidc(&op, true).await;
    let sqlite = app.portal.db.get_database_backend() == sea_orm::DbBackend::Sqlite;

    // The start stores the sign-in's state, only while the configuration it was started on
    // (the one this portal saw when it was saved) is in force: one statement. The callback
    // takes the state, which also answers the configuration's revision; reads the accounts
    // bound to the subject or holding the email, creates the account; then writes the pool,
    // the role, the session and the audit event together.
    let people = ["ada@example.com", "grace@example.com", "edsger@example.com"];
    let (mut starts, mut callbacks) = (Vec::new(), Vec::new());
    for email in people {
        let (started, cost) = oidc_start(&app, &op, email).await;
        starts.push(cost);
        callbacks.push(oidc_callback(&app, started).await);
    }
    assert_most_cost(&starts, (1.0, 1.0), "OIDC start");
    let expected = if sqlite { (7.0, 4.0) } else { (4.0, 4.0) };
    assert_most_cost(&callbacks, expected, "first OIDC callback");

    // After a save this portal did not see (another replica's), made while the person was at
    // Okta, the callback reads the configuration again: one statement, one round trip more.
    let mut after_save = Vec::new();
    for email in [
        "barbara@example.com",
        "frances@example.com",
        "hedy@example.com",
    ] {
        let (started, _) = oidc_start(&app, &op, email).await;
        saved_elsewhere(&app).await;
        after_save.push(oidc_callback(&app, started).await);
    }
    let expected = (expected.0 + 1.0, expected.1 + 1.0);
    assert_most_cost(
        &after_save,
        expected,
        "OIDC callback after a save elsewhere",
    );

    // Made before the start, the start stores nothing under the copy it holds, reads the
    // configuration and stores the state under that: three statements.
    let mut starts = Vec::new();
    for email in [
        "alan@example.com",
        "donald@example.com",
        "leslie@example.com",
    ] {
        saved_elsewhere(&app).await;
        let (started, cost) = oidc_start(&app, &op, email).await;
        starts.push(cost);
        oidc_callback(&app, started).await;
    }
    assert_most_cost(&starts, (3.0, 3.0), "OIDC start after a save elsewhere");
}

/// Two of the three sign-ins cost `expected` (statements, round trips): the third may share its
/// window with the janitor's sweep.
fn assert_most_cost(costs: &[(f64, f64)], expected: (f64, f64), what: &str) {
    assert!(
        costs.iter().filter(|&&cost| cost == expected).count() >= 2,
        "(statements, round trips) of each {what}: {costs:?}, expected {expected:?}"
    );
}
