//! What the Identity Configuration page's Okta setup guide stands on: the SP metadata as a file
//! to download, and which attributes the last SSO sign-in carried (names in the audit log,
//! never values) for its status checklist.

mod support;

use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use support::oidc::*;
use support::saml::*;
use support::*;

const IDP: &str = "http://www.okta.com/exk1setup";

/// A portal with a SAML identity provider and SSO JIT `jit`, and the admin signed in.
async fn saml_portal(jit: bool) -> (TestApp, TestIdp) {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new(IDP);
    app.configure_saml(&idp, jit, true).await;
    app.sign_in_as_admin().await;
    (app, idp)
}

/// Posts Okta's answer for `email` carrying `attributes` to the ACS.
async fn saml_sign_in(
    app: &TestApp,
    idp: &TestIdp,
    email: &str,
    attributes: &[(&str, &str)],
) -> StatusCode {
    let mut spec = ResponseSpec::new(
        idp,
        &app.url("/sso/saml/metadata"),
        &app.url("/sso/saml/acs"),
        email,
    );
    spec.attributes = attributes
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    app.post_saml_response(idp, &spec).await.status()
}

/// The Identity Configuration page's data, as the page reads it.
async fn identity_settings(app: &TestApp) -> Value {
    read_page::<app::api::GetIdentitySettings>(&app.client, &app.base).await
}

async fn newest_event_details(app: &TestApp) -> Value {
    use sea_orm::{EntityTrait, QueryOrder};
    let event = portal::db::entities::audit_event::Entity::find()
        .order_by_desc(portal::db::entities::audit_event::Column::Id)
        .one(&app.portal.db)
        .await
        .unwrap()
        .unwrap();
    serde_json::from_str(&event.details).unwrap()
}

#[tokio::test]
async fn sp_metadata_downloads_as_a_file_named_portal_sp_metadata_xml() {
    let app = TestApp::spawn().await;
    let response = Client::new()
        .get(app.url("/sso/saml/metadata?download=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        r#"attachment; filename="portal-sp-metadata.xml""#
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/samlmetadata+xml"
    );
    let xml = response.text().await.unwrap();
    assert!(xml.contains(&format!(r#"entityID="{}""#, app.url("/sso/saml/metadata"))));

    // Okta and other identity providers read the same URL as the entity id: no attachment there.
    let plain = Client::new()
        .get(app.url("/sso/saml/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_DISPOSITION).is_none());
}

#[tokio::test]
async fn before_any_sso_sign_in_the_checklist_has_no_last_sign_in() {
    let (app, _) = saml_portal(true).await;
    let view = identity_settings(&app).await;
    assert_eq!(view["last_sso_sign_in"], Value::Null);
    assert_eq!(view["protocol"], "saml");
    assert_eq!(view["jit_enabled"], true);
}

#[tokio::test]
async fn a_saml_sign_in_records_the_names_of_the_attributes_it_carried_never_their_values() {
    let (app, idp) = saml_portal(true).await;
    let status = saml_sign_in(
        &app,
        &idp,
        "ada@example.com",
        &[("firstName", "Ada"), ("lastName", "Lovelace")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let details = newest_event_details(&app).await;
    assert_eq!(
        details["attributes_received"],
        json!(["firstName", "lastName", "email"])
    );
    let text = details.to_string();
    assert!(
        !text.contains("Ada") && !text.contains("Lovelace"),
        "no attribute value is recorded: {text}"
    );

    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(last["protocol"], "saml");
    assert_eq!(last["succeeded"], true);
    assert_eq!(
        (&last["first_name"], &last["last_name"], &last["email"]),
        (&json!(true), &json!(true), &json!(true))
    );
}

#[tokio::test]
async fn a_sign_in_without_the_name_statements_shows_them_missing_and_the_latest_sign_in_wins() {
    let (app, idp) = saml_portal(true).await;
    saml_sign_in(&app, &idp, "ada@example.com", &[("firstName", "Ada")]).await;
    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(
        (&last["first_name"], &last["last_name"], &last["email"]),
        (&json!(true), &json!(false), &json!(true))
    );

    // The admin adds the missing statement in Okta; the next sign-in says so.
    saml_sign_in(
        &app,
        &idp,
        "ada@example.com",
        &[("firstName", "Ada"), ("lastName", "Lovelace")],
    )
    .await;
    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(last["last_name"], true);
}

#[tokio::test]
async fn a_refused_sign_in_still_tells_the_checklist_which_attributes_arrived() {
    let (app, idp) = saml_portal(false).await;
    let status = saml_sign_in(&app, &idp, "new.person@example.com", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let details = newest_event_details(&app).await;
    assert_eq!(details["reason"], "no_account");
    assert_eq!(details["attributes_received"], json!(["email"]));

    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(last["succeeded"], false);
    assert_eq!(last["protocol"], "saml");
    assert_eq!(
        (&last["first_name"], &last["last_name"], &last["email"]),
        (&json!(false), &json!(false), &json!(true))
    );
}

#[tokio::test]
async fn a_refusal_before_the_person_is_known_is_not_taken_for_a_sign_in() {
    let (app, idp) = saml_portal(true).await;
    saml_sign_in(&app, &idp, "ada@example.com", &[("firstName", "Ada")]).await;
    // A response whose signature fails names nobody: the checklist keeps the last real one.
    let forged = browser()
        .post(app.url("/sso/saml/acs"))
        .form(&[("SAMLResponse", "bm90IGEgcmVzcG9uc2U=")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(last["succeeded"], true);
    assert_eq!(last["first_name"], true);
}

#[tokio::test]
async fn an_oidc_sign_in_records_which_claims_arrived() {
    let app = TestApp::spawn().await;
    let op = TestOp::start().await;
    app.configure_oidc(&op, true).await;
    app.sign_in_as_admin().await;

    let mut grace = Person::new("grace.hopper@example.com");
    grace.family_name = String::new();
    let person = browser();
    let callback = op
        .sign_in_from(
            &person,
            &app.url("/sso/oidc/login"),
            &grace,
            TokenSpec::default(),
        )
        .await;
    let finished = person.get(&callback).send().await.unwrap();
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);

    let last = &identity_settings(&app).await["last_sso_sign_in"];
    assert_eq!(last["protocol"], "oidc");
    assert_eq!(last["succeeded"], true);
    assert_eq!(
        (&last["first_name"], &last["last_name"], &last["email"]),
        (&json!(true), &json!(false), &json!(true))
    );
}

#[tokio::test]
async fn the_page_warns_of_a_plain_http_public_url_beyond_loopback() {
    for (public_url, warned) in [
        (None, None),
        (Some("http://localhost:3000"), None),
        (
            Some("http://portal.example.com"),
            Some("http://portal.example.com/"),
        ),
    ] {
        let overrides: Vec<(&str, &str)> = public_url
            .map(|url| ("public_url", url))
            .into_iter()
            .collect();
        let app = TestApp::spawn_with(&overrides).await;
        app.sign_in_as_admin().await;
        let settings = identity_settings(&app).await;
        assert_eq!(
            settings["plain_http_public_url"].as_str(),
            warned,
            "{public_url:?}"
        );
        // The page as the server renders it.
        let html = app.page_html("/settings/iam/identity").await;
        assert_eq!(
            html.contains(r#"data-testid="plain-http-warning""#),
            warned.is_some(),
            "{public_url:?}"
        );
        if let Some(url) = warned {
            assert!(html.contains(&format!("<code>{url}")), "{html}");
        }
    }
}

#[tokio::test]
async fn a_save_puts_every_changed_sso_setting_on_record_and_no_secret() {
    let app = TestApp::spawn().await;
    let idp = TestIdp::new(IDP);
    app.configure_saml(&idp, true, true).await;
    let changed = newest_event_details(&app).await["sso_settings_changed"].clone();
    assert_eq!(
        changed["saml.idp_entity_id"],
        json!([null, IDP]),
        "{changed}"
    );

    // Okta's certificate renewed, and IdP-initiated sign-in turned off.
    let renewed = TestIdp::new(IDP);
    app.configure_saml(&renewed, true, false).await;
    let changed = newest_event_details(&app).await["sso_settings_changed"].clone();
    assert_eq!(changed["saml.allow_idp_initiated"], json!([true, false]));
    let certificates = changed["saml.idp_certificates"].as_array().unwrap().clone();
    let fingerprint = |side: usize| certificates[side][0].as_str().unwrap().to_string();
    assert_ne!(fingerprint(0), fingerprint(1), "{changed}");
    assert_eq!(fingerprint(1).len(), 95, "SHA-256 in hex pairs: {changed}");
    assert!(changed.get("saml.idp_entity_id").is_none(), "{changed}");

    // To OIDC; then a new client secret, which is said to have changed and nothing more.
    let op = TestOp::start().await;
    app.configure_oidc(&op, true).await;
    let changed = newest_event_details(&app).await["sso_settings_changed"].clone();
    assert_eq!(
        changed["oidc.client_id"],
        json!([null, CLIENT_ID]),
        "{changed}"
    );
    let mut document = oidc_document(&op, true);
    document["sso"]["oidc"]["client_secret"] = json!("a-new-secret-from-okta");
    app.save_identity(&document).await;
    let details = newest_event_details(&app).await;
    assert_eq!(
        details["sso_settings_changed"],
        json!({ "oidc.client_secret": "changed" }),
        "{details}"
    );
    assert!(!details.to_string().contains("a-new-secret-from-okta"));
    assert!(!details.to_string().contains(CLIENT_SECRET));
    // Saved again without a secret, the stored one is kept: nothing changed.
    document["sso"]["oidc"]
        .as_object_mut()
        .unwrap()
        .remove("client_secret");
    app.save_identity(&document).await;
    assert_eq!(
        newest_event_details(&app).await["sso_settings_changed"],
        json!({})
    );
}
