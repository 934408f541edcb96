//! A page reads what it shows once per request, however many times Leptos runs its components
//! while the page's Suspense settles. A test binary of its own, so that the statement counter it
//! reads from /metrics (one per process) counts this portal's statements only.

mod support;

use reqwest::StatusCode;
use support::{metrics, TestApp};

async fn statements(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    metrics::sample(&text, portal::metrics::DB_STATEMENTS)
        .expect("the statement counter is exposed")
}

#[tokio::test]
async fn the_identity_configuration_page_reads_its_rows_once_per_request() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    // The first page may refresh the session's last-seen time; the ones after it do not.
    assert_eq!(
        app.get("/settings/iam/identity").await.status(),
        StatusCode::OK
    );

    // Three windows of 20 pages. The janitor's first sweep (four statements, once at start-up,
    // then every ten minutes) may fall inside one of them.
    let mut windows = Vec::new();
    for _ in 0..3 {
        let before = statements(&app).await;
        for _ in 0..20 {
            let response = app.get("/settings/iam/identity").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("Identity Configuration"));
        }
        windows.push((statements(&app).await - before) / 20.0);
    }
    // The session with its person, their roles, the identity settings, the last SSO sign-in.
    assert!(
        windows.iter().filter(|&&per_page| per_page == 4.0).count() >= 2,
        "statements per page in each window: {windows:?}"
    );
    assert!(
        windows.iter().all(|&per_page| per_page <= 4.2),
        "statements per page in each window: {windows:?}"
    );
}
