//! `TestApp`: the real portal on port 0 with a fresh database per test, SQLite by default or
//! PostgreSQL when `PORTAL_TEST_POSTGRES_URL` is set, and named actions that tests read like a
//! person's steps.
#![allow(dead_code)]

pub mod metrics;
pub mod oidc;
pub mod saml;

use app::api::{GetLoginPage, SaveProvisioning, SignIn, SignOut};
use leptos::server_fn::ServerFn;
use portal::{config::Config, state::Portal};
use reqwest::{header, Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::Value;

/// What the browser accepts from a page's server function: postcard.
pub const SERVER_FN_ACCEPT: &str =
    <leptos::server_fn::codec::PostcardEncoding as leptos::server_fn::ContentType>::CONTENT_TYPE;

/// A page's server function answers in postcard, as the browser reads it: this decodes its
/// answer, a `T`, and shows it as JSON, so that a test picks fields by name.
pub async fn server_fn_answer<T>(response: Response) -> Value
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let status = response.status();
    if !status.is_success() {
        panic!(
            "an answer was expected, not {status}: {:?}",
            server_fn_error(response).await
        );
    }
    let answer: T = postcard::from_bytes(&response.bytes().await.unwrap())
        .expect("a server function's answer in postcard");
    serde_json::to_value(&answer).unwrap()
}

/// A page's data as the page reads it: server function `F` of the Portal at `base`, called by
/// `client` with no arguments; answered, decoded and shown as [`server_fn_answer`] does.
pub async fn read_page<F>(client: &Client, base: &str) -> Value
where
    F: ServerFn,
    F::Output: serde::de::DeserializeOwned + serde::Serialize,
{
    let response = client
        .post(format!("{base}{}", F::PATH))
        .form(&[("", "")])
        .send()
        .await
        .unwrap();
    server_fn_answer::<F::Output>(response).await
}

/// A page's server function refused a field: the field, and the message shown under it.
pub async fn server_fn_refusal(response: Response) -> (String, String) {
    match server_fn_error(response).await {
        app::model::AppError::Invalid { field, message } => (field, message),
        other => panic!("a refused field was expected, not {other:?}"),
    }
}

/// A page's server function refused: its error, decoded as the browser decodes it.
pub async fn server_fn_error(response: Response) -> app::model::AppError {
    let status = response.status();
    assert!(!status.is_success(), "a refusal was expected, not {status}");
    postcard::from_bytes(&response.bytes().await.unwrap()).expect("an AppError in postcard")
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "a long admin password";

pub struct TestApp {
    pub base: String,
    pub portal: Portal,
    pub database_url: String,
    /// The key the OIDC client secret is sealed with: in the test's folder unless the test
    /// names another (a replica names its first server's).
    pub secret_key_file: String,
    /// A browser: keeps cookies, does not follow redirects.
    pub client: Client,
    _dir: tempfile::TempDir,
}

/// A fresh, empty database: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn fresh_database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("portal_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let admin = Database::connect(&server)
                .await
                .expect("PORTAL_TEST_POSTGRES_URL must reach PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (base, _) = server.rsplit_once('/').expect("a URL with a database name");
            format!("{base}/{name}")
        }
        _ => sqlite_url(dir),
    }
}

/// The URL of `portal.db` in `dir`.
pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/portal.db", dir.path().display())
}

/// A migrated SQLite file of its own, whatever the backend under test: for what only SQLite
/// has (its pragmas, its write-ahead log, its query plans). The file is `portal.db` in the
/// directory, which lives as long as the returned `TempDir`.
pub async fn migrated_sqlite_file() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let db = portal::db::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    (dir, db)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts a portal with these configuration overrides on top of the test defaults.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database_url(&dir).await;
        Self::spawn_on(dir, database_url, overrides).await
    }

    pub async fn spawn_on(
        dir: tempfile::TempDir,
        database_url: String,
        overrides: &[(&str, &str)],
    ) -> TestApp {
        let secret_key_file = overrides
            .iter()
            .find(|(key, _)| *key == "secret_key_file")
            .map(|(_, path)| path.to_string())
            .unwrap_or_else(|| dir.path().join("secret.key").display().to_string());
        let mut pairs: Vec<(&str, &str)> = vec![
            ("addr", "127.0.0.1:0"),
            ("database_url", &database_url),
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
            ("secret_key_file", &secret_key_file),
        ];
        pairs.extend_from_slice(overrides);
        let config = Config::with_overrides(&pairs).expect("test configuration");
        let app = portal::startup::Application::build(config)
            .await
            .expect("the portal starts");
        let base = format!("http://{}", app.local_addr());
        let portal = app.portal().clone();
        tokio::spawn(app.run());
        TestApp {
            base,
            portal,
            database_url,
            secret_key_file,
            client: browser(),
            _dir: dir,
        }
    }

    /// Starts a second portal on the same database, as after an upgrade or on another replica.
    pub async fn restart_with(self, overrides: &[(&str, &str)]) -> TestApp {
        let TestApp {
            database_url, _dir, ..
        } = self;
        Self::spawn_on(_dir, database_url, overrides).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Opens `/login`'s data as the page does, which sets the sign-in CSRF cookie, and returns
    /// the form's token.
    pub async fn login_csrf(&self) -> String {
        self.login_csrf_in(&self.client).await
    }

    async fn login_csrf_in(&self, browser: &Client) -> String {
        let body = read_page::<GetLoginPage>(browser, &self.base).await;
        body["csrf_token"].as_str().unwrap().to_string()
    }

    /// The sign-in page's data, as the page reads it.
    pub async fn portal_login_page(&self) -> Value {
        read_page::<GetLoginPage>(&browser(), &self.base).await
    }

    /// Submits the sign-in form with a valid form token.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.sign_in_in(&self.client, email, password).await
    }

    /// [`sign_in`](Self::sign_in) in another browser: with its own cookies (a device cookie
    /// or none), as someone elsewhere.
    pub async fn sign_in_in(&self, browser: &Client, email: &str, password: &str) -> Response {
        let csrf = self.login_csrf_in(browser).await;
        self.submit_in(browser, email, password, &csrf).await
    }

    pub async fn submit_sign_in(&self, email: &str, password: &str, csrf: &str) -> Response {
        self.submit_in(&self.client, email, password, csrf).await
    }

    async fn submit_in(
        &self,
        browser: &Client,
        email: &str,
        password: &str,
        csrf: &str,
    ) -> Response {
        browser
            .post(self.url(SignIn::PATH))
            .header(header::ACCEPT, SERVER_FN_ACCEPT)
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The HTML of the page at `path`, answered 200 to this client.
    pub async fn page_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    pub async fn sign_in_as_admin(&self) {
        let response = self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert!(
            has_session_cookie(&response),
            "admin sign-in set no session cookie: {}",
            response.status()
        );
    }

    pub async fn sign_out(&self, csrf: &str) -> Response {
        self.client
            .post(self.url(SignOut::PATH))
            .header(header::ACCEPT, SERVER_FN_ACCEPT)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self) -> Response {
        self.get("/api/v1/me").await
    }

    /// What `/api/v1/me` answers a fresh browser that presents only `cookie` (the whole
    /// `Cookie` header, `portal_session=…`), as someone who kept a copy of it would.
    pub async fn me_with_cookie(&self, cookie: &str) -> Response {
        reqwest::Client::new()
            .get(self.url("/api/v1/me"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    /// The signed-in session's CSRF token, as the page frame receives it.
    pub async fn session_csrf(&self) -> String {
        let body = read_page::<app::api::GetShell>(&self.client, &self.base).await;
        body["me"]["csrf_token"].as_str().unwrap().to_string()
    }

    pub async fn save_provisioning(&self, csrf: &str, jit: bool) -> Response {
        let mut form = vec![("csrf", csrf)];
        if jit {
            form.push(("jit", "on"));
        }
        self.client
            .post(self.url(SaveProvisioning::PATH))
            .header(header::ACCEPT, SERVER_FN_ACCEPT)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_get(&self, token: &str, path: &str) -> Response {
        Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_put(&self, token: &str, path: &str, body: &Value) -> Response {
        Client::new()
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_patch(&self, token: &str, path: &str, body: &Value) -> Response {
        Client::new()
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// An API token for the first admin.
    pub async fn admin_token(&self) -> String {
        let email = portal::domain::Email::parse(ADMIN_EMAIL).unwrap();
        let admin = portal::people::find_by_email(&self.portal.db, &email)
            .await
            .unwrap()
            .unwrap();
        portal::auth::token::create(&self.portal.db, admin.id, "test")
            .await
            .unwrap()
            .0
    }

    /// Creates a local account with one direct role and returns an API token for it.
    pub async fn person_with_role(&self, email: &str, role: portal::domain::Role) -> String {
        use portal::db::entities::user_role;
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let account = new_account(email).insert(&self.portal.db).await.unwrap();
        let role_id = portal::people::role_id(&self.portal.db, role)
            .await
            .unwrap();
        user_role::ActiveModel {
            user_id: Set(account.id),
            role_id: Set(role_id),
        }
        .insert(&self.portal.db)
        .await
        .unwrap();
        portal::auth::token::create(&self.portal.db, account.id, "test")
            .await
            .unwrap()
            .0
    }

    pub async fn identity_document(&self) -> Value {
        let token = self.admin_token().await;
        let response = self.api_get(&token, "/api/v1/identity").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Moves a time column of every session, as if time had passed.
    pub async fn set_all_sessions(&self, column: &str, at: chrono::DateTime<chrono::Utc>) {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let backend = self.portal.db.get_database_backend();
        let placeholder = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let sql = format!("UPDATE sessions SET {column} = {placeholder}");
        self.portal
            .db
            .execute_raw(Statement::from_sql_and_values(backend, sql, [at.into()]))
            .await
            .unwrap();
    }

    pub async fn user_count(&self) -> u64 {
        portal::db::entities::user::Entity::find()
            .count(&self.portal.db)
            .await
            .unwrap()
    }

    pub async fn session_count(&self) -> u64 {
        portal::db::entities::session::Entity::find()
            .count(&self.portal.db)
            .await
            .unwrap()
    }

    /// Whether the audit log holds an event with this action and outcome.
    pub async fn audited(&self, action: &str, outcome: &str) -> bool {
        self.audit_actions()
            .await
            .iter()
            .any(|(a, o)| a == action && o == outcome)
    }

    /// The reasons the audit log gives for the events of `action`, oldest first.
    pub async fn audit_reasons(&self, action: &str) -> Vec<String> {
        self.audit_details(action, "reason").await
    }

    /// The `field` of the details of the events of `action`, oldest first; empty where absent.
    pub async fn audit_details(&self, action: &str, field: &str) -> Vec<String> {
        use sea_orm::{ColumnTrait, QueryFilter};
        portal::db::entities::audit_event::Entity::find()
            .filter(portal::db::entities::audit_event::Column::Action.eq(action))
            .all(&self.portal.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let details: Value = serde_json::from_str(&e.details).unwrap();
                details[field].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    pub async fn audit_actions(&self) -> Vec<(String, String)> {
        portal::db::entities::audit_event::Entity::find()
            .all(&self.portal.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.outcome))
            .collect()
    }

    /// The length of the longest audit event's details, in bytes.
    pub async fn audit_details_longest(&self) -> usize {
        portal::db::entities::audit_event::Entity::find()
            .all(&self.portal.db)
            .await
            .unwrap()
            .iter()
            .map(|e| e.details.len())
            .max()
            .unwrap_or(0)
    }
}

impl TestApp {
    /// Posts `spec`, signed by `idp`, to this portal's ACS from a fresh browser.
    pub async fn post_saml_response(
        &self,
        idp: &saml::TestIdp,
        spec: &saml::ResponseSpec,
    ) -> Response {
        browser()
            .post(self.url("/sso/saml/acs"))
            .form(&[("SAMLResponse", spec.encoded(idp))])
            .send()
            .await
            .unwrap()
    }

    /// Configures SAML with `idp`, SSO JIT on or off, as an admin does through the API.
    pub async fn configure_saml(&self, idp: &saml::TestIdp, jit: bool, allow_idp_initiated: bool) {
        self.save_identity(&saml_document_trusting(idp, jit, allow_idp_initiated))
            .await;
    }

    /// Single sign-on with `op` over OpenID Connect, SSO JIT on or off.
    pub async fn configure_oidc(&self, op: &oidc::TestOp, jit: bool) {
        self.save_identity(&oidc::oidc_document(op, jit)).await;
    }

    /// Saves `document` as the identity configuration, as an admin does through the API.
    pub async fn save_identity(&self, document: &Value) {
        let token = self.admin_token().await;
        let response = self.api_put(&token, "/api/v1/identity", document).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }
}

/// An unsaved local account with no roles.
pub fn new_account(email: &str) -> portal::db::entities::user::ActiveModel {
    use sea_orm::ActiveValue::Set;
    portal::db::entities::user::ActiveModel {
        email: Set(email.into()),
        email_normalized: Set(portal::domain::Email::parse(email).unwrap().normalized()),
        first_name: Set("Test".into()),
        last_name: Set("Person".into()),
        source: Set("manual".into()),
        jit_provisioned: Set(false),
        active: Set(true),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
}

/// Looks again every `every` until `look` answers `Ok`, and hands back its answer. `look` says
/// with `Err` what it sees meanwhile; after `limit` the test fails with the last of those. For
/// what another thread or process does in its own time: a server starting, a file filling up.
pub async fn eventually<T>(
    limit: std::time::Duration,
    every: std::time::Duration,
    mut look: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match look().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                std::time::Instant::now() < deadline,
                "still not there after {limit:?}: {seen}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Whether `response` sets a session cookie, under either of its names (`__Host-` under https).
pub fn has_session_cookie(response: &Response) -> bool {
    session_cookie_value(response).is_some()
}

pub fn session_cookie_value(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let text = v.to_str().ok()?;
            let text = text.strip_prefix("__Host-").unwrap_or(text);
            let rest = text.strip_prefix("portal_session=")?;
            let value = rest.split(';').next()?;
            (!value.is_empty()).then(|| value.to_string())
        })
}

/// A self-signed RSA certificate (CN=portal-test-idp.example, ten years) in PEM.
pub const TEST_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIDJTCCAg2gAwIBAgIUaKmL9jVwDrHHoJ77EkRLwqCji+QwDQYJKoZIhvcNAQEL\nBQAwIjEgMB4GA1UEAwwXcG9ydGFsLXRlc3QtaWRwLmV4YW1wbGUwHhcNMjYxMTI4\nMTkyMzQzWhcNMzYxMTI1MTkyMzQzWjAiMSAwHgYDVQQDDBdwb3J0YWwtdGVzdC1p\nZHAuZXhhbXBsZTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAMokdzQF\n0WxGEiivIcAkgYD+OdT704fAYBB2rFcJf96QYKro7PgqcvtGiaPnnkXj97E076KX\nyNnYtF0Xv7eHNnWfs0UExFWg0GZ0XZnT8C7hx+AiDxctIrdhG8EfFpoKltHnMxJU\nVhliVbEeIAtHVXuAAKzOq+nVDw4X56u3WTssv4hovPvcKitHGfzbwHK3TKG1WrvD\nL5k9MW5BCtQwKHnxr0radi3Tbiu0nWg+1xhSy30LrdNg91GL7m6TCCcuobldzdsX\n2IiZE6vSWtieuSS6y+B2PR6+1q6DlSOhV8vAjpxIDA1rbEqa5xE6zEyrNnsLt9c8\nJ19Qyzb0wc2/qPUCAwEAAaNTMFEwHQYDVR0OBBYEFP6NfEKep4+Q8czdbgVg/RqG\nZFUMMB8GA1UdIwQYMBaAFP6NfEKep4+Q8czdbgVg/RqGZFUMMA8GA1UdEwEB/wQF\nMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAEoRLdUxMWROyC+7KOuimW/sZCH3Wspl\nIprThWbmlgTgoBu/sTvn+iw9pP6ngjQdXCByZstbmm+xdwKIPhhVM7bncyqDS/Yg\nOniQ1TSOW3RpcKCynEyclwdIiCWDuYLGaOx/WkZyBFjSB0E53Hg8KN9k+8H1xvn7\n+anymTJNl+w9ybAY9ZueGOYrZiXkEbmwgHuKgSGroB/kmjHcEmYNrYMLiDaPSCkp\nLfQ3Src3FL6BhRVmHc9SBdZG9OmJboKfNh3RaLRnxRBzmJPhLbA9FBoosP9cPTwb\n/IDF3YC7dWN9OW3bl//zincMizvk3/Nm61sZ06hQT2ggnyEA0c8WCWQ=\n-----END CERTIFICATE-----";

/// A SAML identity provider configured by hand, as an admin would paste it.
pub fn saml_document(provisioning: &str) -> Value {
    serde_json::json!({
        "login_method": "sso",
        "sso": {
            "protocol": "saml",
            "saml": {
                "idp_entity_id": "http://www.okta.com/exk1portal",
                "idp_sso_url": "https://example.okta.com/app/portal/exk1portal/sso/saml",
                "idp_certificates": [TEST_CERTIFICATE],
                "allow_idp_initiated": true
            }
        },
        "provisioning": { "method": provisioning }
    })
}

/// The identity document that trusts `idp` for SAML sign-in, SSO JIT on or off.
pub fn saml_document_trusting(idp: &saml::TestIdp, jit: bool, allow_idp_initiated: bool) -> Value {
    let mut doc = saml_document(if jit { "sso_jit" } else { "manual" });
    doc["sso"]["saml"]["idp_entity_id"] = serde_json::json!(idp.entity_id);
    doc["sso"]["saml"]["idp_certificates"] = serde_json::json!([idp.cert_pem()]);
    doc["sso"]["saml"]["allow_idp_initiated"] = serde_json::json!(allow_idp_initiated);
    doc
}
