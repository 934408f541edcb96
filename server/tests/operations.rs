//! The operator's kit: the OpenAPI document and Prometheus metrics.

mod support;

use std::collections::BTreeSet;

use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};
use support::saml::{ResponseSpec, TestIdp};
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

/// The sum of the samples of `name` whose labels include `labels`, or 0 when there are none.
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let have: Vec<(&str, &str)> = rest
                .trim_end_matches('}')
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            labels
                .iter()
                .all(|wanted| have.contains(wanted))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = Client::new().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

/// A portal trusting a test IdP for SAML, SSO JIT `jit`.
async fn saml_portal(jit: bool) -> (TestApp, TestIdp) {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new(IDP);
    let mut doc = saml_document(if jit { "sso_jit" } else { "manual" });
    doc["sso"]["saml"]["idp_entity_id"] = json!(IDP);
    doc["sso"]["saml"]["idp_certificates"] = json!([idp.cert_pem()]);
    let token = app.admin_token().await;
    let response = app.api_put(&token, "/api/v1/identity", &doc).await;
    assert_eq!(response.status(), StatusCode::OK);
    (app, idp)
}

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
    let response = post_saml(&app.base, &spec.encoded(&idp)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&response));
    assert!(has_session_cookie(
        &app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    ));
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
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
        sample(
            &after,
            "portal_sso_callback_duration_seconds_bucket",
            &[("protocol", "saml"), ("le", "+Inf")]
        ) >= 1.0,
        "a histogram with buckets: {after}"
    );
    // Known series exist before anything happened to them.
    assert!(after.contains(r#"portal_sign_ins_total{protocol="oidc",outcome="refused"}"#));
    // The pool, as sqlx counts it for this portal.
    assert_eq!(
        sample(&after, "portal_db_pool_max_connections", &[]),
        16.0,
        "{after}"
    );
    assert!(sample(&after, "portal_db_pool_connections", &[("state", "idle")]) >= 1.0);
    assert!(after.contains(r#"portal_db_pool_connections{state="in_use"}"#));
    // Nothing about the person is a label.
    assert!(!after.contains("grace.hopper"), "{after}");
}

#[tokio::test]
async fn a_refused_sign_in_is_counted_with_its_reason() {
    let (app, idp) = saml_portal(false).await;
    let before = scrape(&app).await;
    let spec = saml_spec(&app.base, &idp, "nobody.known@example.com");
    let response = post_saml(&app.base, &spec.encoded(&idp)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let mut tampered = saml_spec(&app.base, &idp, "mallory@example.com");
    tampered.issuer = "http://www.okta.com/someone-else".into();
    assert!(post_saml(&app.base, &tampered.encoded(&idp))
        .await
        .status()
        .is_client_error());
    let response = app.sign_in(ADMIN_EMAIL, "not the admin password").await;
    assert!(!has_session_cookie(&response));
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
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
