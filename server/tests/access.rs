//! People and access through `/api/v1`: users, agent pools, roles and the audit log, with the
//! rules an admin relies on (one active Admin always remains, roles come from pools, only
//! Admins write). Each refused write asserts that nothing changed.

mod support;

use app::model::AppError;
use portal::domain::Role;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use support::*;

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn ok_json(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn refused(response: Response, field: &str) -> String {
    let body: Value = ok_json(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["field"], field, "{body}");
    body["message"].as_str().unwrap().to_string()
}

async fn admin_id(app: &TestApp) -> i64 {
    let token = app.admin_token().await;
    ok_json(app.api_get(&token, "/api/v1/me").await, StatusCode::OK).await["id"]
        .as_i64()
        .unwrap()
}

async fn add(app: &TestApp, token: &str, email: &str, roles: Value, pools: Value) -> Value {
    ok_json(
        call(app, token, Method::POST, "/api/v1/users", Some(json!({
            "first_name": "Grace", "last_name": "Hopper", "email": email, "roles": roles, "pools": pools
        })))
        .await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn an_admin_adds_a_person_by_hand_while_provisioning_is_manual() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let grace = add(
        &app,
        &token,
        "grace@example.test",
        json!(["viewer"]),
        json!([1]),
    )
    .await;
    assert_eq!(grace["source"], "manual");
    assert_eq!(grace["jit_provisioned"], false);
    assert_eq!(grace["pools"], json!(["default"]));
    assert_eq!(grace["roles"], json!(["viewer"]));
    assert!(app.audited("account.created", "success").await);

    let again = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/users",
        Some(json!({
            "first_name": "G", "last_name": "H", "email": "GRACE@example.test"
        })),
    )
    .await;
    assert!(refused(again, "email")
        .await
        .contains("already has an account"));
    let bad_pool = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/users",
        Some(json!({
            "first_name": "A", "last_name": "B", "email": "ab@example.test", "pools": [999]
        })),
    )
    .await;
    refused(bad_pool, "pools[0]").await;
    assert_eq!(app.user_count().await, 2);
}

#[tokio::test]
async fn with_sso_jit_on_people_are_not_added_by_hand() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_eq!(
        app.api_put(&token, "/api/v1/identity", &saml_document("sso_jit"))
            .await
            .status(),
        StatusCode::OK
    );
    let response = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/users",
        Some(json!({
            "first_name": "A", "last_name": "B", "email": "ab@example.test"
        })),
    )
    .await;
    assert!(refused(response, "provisioning")
        .await
        .contains("first sign in"));
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn the_users_list_searches_filters_and_pages() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for i in 0..12 {
        add(
            &app,
            &token,
            &format!("person{i:02}@example.test"),
            json!([]),
            json!([]),
        )
        .await;
    }
    let response = app.api_get(&token, "/api/v1/users?per_page=5&page=2").await;
    assert_eq!(response.headers()["x-total-count"], "13");
    let page: Value = ok_json(response, StatusCode::OK).await;
    assert_eq!(page.as_array().unwrap().len(), 5);
    assert_eq!(page[0]["email"], "person04@example.test");

    let found: Value = ok_json(
        app.api_get(&token, "/api/v1/users?q=PERSON1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 2, "{found}");
    let manual: Value = ok_json(
        app.api_get(&token, "/api/v1/users?source=sso_jit").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(manual.as_array().unwrap().len(), 0);
    refused(
        app.api_get(&token, "/api/v1/users?status=gone").await,
        "status",
    )
    .await;
}

/// The emails of a Users API answer, in its order.
fn emails(listed: &Value) -> Vec<String> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|person| person["email"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_status_filter_lists_a_deactivated_person_under_deactivated_and_not_under_active() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let grace = add(&app, &token, "grace@example.test", json!([]), json!([])).await;
    add(&app, &token, "alan@example.test", json!([]), json!([])).await;
    let id = grace["id"].as_i64().unwrap();
    set_active(&app, &token, id, false).await;

    let response = app
        .api_get(&token, "/api/v1/users?status=deactivated")
        .await;
    assert_eq!(response.headers()["x-total-count"], "1");
    let deactivated: Value = ok_json(response, StatusCode::OK).await;
    assert_eq!(emails(&deactivated), vec!["grace@example.test"]);
    assert_eq!(deactivated[0]["active"], false);

    let response = app.api_get(&token, "/api/v1/users?status=active").await;
    assert_eq!(response.headers()["x-total-count"], "2");
    let active: Value = ok_json(response, StatusCode::OK).await;
    assert_eq!(emails(&active), vec![ADMIN_EMAIL, "alan@example.test"]);
    assert!(active
        .as_array()
        .unwrap()
        .iter()
        .all(|person| person["active"] == true));

    let everyone: Value = ok_json(app.api_get(&token, "/api/v1/users").await, StatusCode::OK).await;
    assert_eq!(
        everyone.as_array().unwrap().len(),
        3,
        "no filter lists both"
    );

    set_active(&app, &token, id, true).await;
    let deactivated: Value = ok_json(
        app.api_get(&token, "/api/v1/users?status=deactivated")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(emails(&deactivated), Vec::<String>::new());
    let active: Value = ok_json(
        app.api_get(&token, "/api/v1/users?status=active").await,
        StatusCode::OK,
    )
    .await;
    assert!(emails(&active).contains(&"grace@example.test".to_string()));
}

#[tokio::test]
async fn pool_roles_are_inherited_and_the_person_shows_where_each_came_from() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pool = create_pool(
        &app,
        &token,
        json!({ "name": "Auditors", "roles": ["viewer"] }),
    )
    .await;
    assert!(
        pool["agent_key"].as_str().unwrap().starts_with("pak_"),
        "the key is shown once"
    );
    let grace = add(&app, &token, "grace@example.test", json!([]), json!([])).await;
    let id = grace["id"].as_i64().unwrap();
    let pool_id = pool["id"].as_i64().unwrap();
    add_member(&app, &token, pool_id, id).await;
    let person = ok_json(
        app.api_get(&token, &format!("/api/v1/users/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(person["roles"], json!(["viewer"]));
    assert_eq!(
        person["role_sources"],
        json!([{ "role": "viewer", "from": "pool Auditors" }])
    );

    let listed = ok_json(
        app.api_get(&token, &format!("/api/v1/pools/{pool_id}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        listed.get("agent_key").is_none(),
        "the key is never shown again"
    );
    assert_eq!(listed["members"], json!(["grace@example.test"]));
}

#[tokio::test]
async fn another_default_pool_receives_new_jit_accounts() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pool = create_pool(
        &app,
        &token,
        json!({ "name": "Field agents", "roles": ["user"] }),
    )
    .await;
    let id = pool["id"].as_i64().unwrap();
    let made_default = ok_json(
        call(
            &app,
            &token,
            Method::PATCH,
            &format!("/api/v1/pools/{id}"),
            Some(json!({ "is_default": true })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(made_default["is_default"], true);
    let pools: Value = ok_json(app.api_get(&token, "/api/v1/pools").await, StatusCode::OK).await;
    let defaults: Vec<&Value> = pools
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);

    let who = arriving("new@example.test", "00u1", "New");
    let db = &app.portal.db;
    let mut writes =
        portal::db::batch::Batch::new(sea_orm::ConnectionTrait::get_database_backend(db));
    let account = portal::provisioning::JitProvisioner { jit: JIT_ON }
        .admit(db, &who, &mut writes)
        .await
        .unwrap();
    writes.run(db).await.unwrap();
    let pools = portal::people::pool_names(&app.portal.db, account.account().id)
        .await
        .unwrap();
    assert_eq!(pools, vec!["Field agents".to_string()]);

    let undo = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v1/pools/{id}"),
        Some(json!({ "is_default": false })),
    )
    .await;
    refused(undo, "is_default").await;
}

#[tokio::test]
async fn the_default_pool_cannot_be_deleted_and_a_pool_with_members_asks_first() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pools: Value = ok_json(app.api_get(&token, "/api/v1/pools").await, StatusCode::OK).await;
    let default_id = pools[0]["id"].as_i64().unwrap();
    refused(
        call(
            &app,
            &token,
            Method::DELETE,
            &format!("/api/v1/pools/{default_id}"),
            None,
        )
        .await,
        "id",
    )
    .await;

    let pool = create_pool(
        &app,
        &token,
        json!({ "name": "Night shift", "roles": ["viewer"] }),
    )
    .await;
    let id = pool["id"].as_i64().unwrap();
    add(&app, &token, "grace@example.test", json!([]), json!([id])).await;
    let message = refused(
        call(
            &app,
            &token,
            Method::DELETE,
            &format!("/api/v1/pools/{id}"),
            None,
        )
        .await,
        "confirm",
    )
    .await;
    assert!(message.contains("lose the roles"), "{message}");
    assert_eq!(
        ok_json(
            app.api_get(&token, &format!("/api/v1/pools/{id}")).await,
            StatusCode::OK
        )
        .await["name"],
        "Night shift"
    );
    let deleted = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{id}?confirm=true"),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.user_count().await, 2, "members stay");

    let duplicate = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/pools",
        Some(json!({ "name": "default" })),
    )
    .await;
    refused(duplicate, "name").await;
}

#[tokio::test]
async fn the_same_pool_or_person_added_by_several_admins_at_once_is_made_once_and_the_rest_told_why(
) {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    // All at once: on PostgreSQL, past each one's check, the unique key decides.
    let at_once = |path: &str, body: &Value| {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let request = Client::new()
                .post(app.url(path))
                .bearer_auth(&token)
                .json(body);
            requests.spawn(async move { request.send().await.unwrap() });
        }
        requests.join_all()
    };
    for (path, body, field, message) in [
        (
            "/api/v1/pools",
            json!({ "name": "Night shift" }),
            "name",
            "a pool named 'Night shift' exists already",
        ),
        (
            "/api/v1/users",
            json!({ "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com" }),
            "email",
            "grace@example.com already has an account",
        ),
    ] {
        let mut made = 0;
        for response in at_once(path, &body).await {
            if response.status() == StatusCode::CREATED {
                made += 1;
            } else {
                assert_eq!(refused(response, field).await, message);
            }
        }
        assert_eq!(made, 1, "{path}");
    }
    // One membership added by several admins at once: each is told it is done, and it is
    // audited once.
    // The id of the row of `list` (a GET of the API) whose `field` is `value`.
    let id_where = async |list: &str, field: &str, value: &str| {
        let rows: Value = ok_json(app.api_get(&token, list).await, StatusCode::OK).await;
        rows.as_array()
            .unwrap()
            .iter()
            .find(|row| row[field] == value)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let pool = id_where("/api/v1/pools", "name", "Night shift").await;
    let grace = id_where("/api/v1/users", "email", "grace@example.com").await;
    let path = format!("/api/v1/pools/{pool}/members");
    for response in at_once(&path, &json!({ "user_id": grace })).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let added = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _)| action == "pool.member_added")
        .count();
    assert_eq!(added, 1);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_and_no_admin_removes_themselves() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me = admin_id(&app).await;
    let mine = format!("/api/v1/users/{me}");
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &mine,
        Some(json!({ "roles": [] })),
    )
    .await;
    assert!(refused(response, "roles")
        .await
        .contains("your own Admin role"));
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &mine,
        Some(json!({ "active": false })),
    )
    .await;
    assert!(refused(response, "active")
        .await
        .contains("your own account"));

    // A second admin may not take the first one's role away when that leaves none: here two
    // exist, so it works, and the other way round is then refused.
    let second_token = app
        .person_with_role("second@example.test", Role::Admin)
        .await;
    let response = call(
        &app,
        &second_token,
        Method::PATCH,
        &format!("/api/v1/users/{me}"),
        Some(json!({ "roles": [] })),
    )
    .await;
    ok_json(response, StatusCode::OK).await;
    let second: Value = ok_json(
        app.api_get(&second_token, "/api/v1/me").await,
        StatusCode::OK,
    )
    .await;
    let second_id = second["id"].as_i64().unwrap();
    let response = call(
        &app,
        &second_token,
        Method::DELETE,
        &format!("/api/v1/users/{second_id}"),
        None,
    )
    .await;
    refused(response, "id").await;
    // The first admin (no longer Admin) cannot act at all.
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v1/users/{second_id}"),
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // An Admin granted by a pool counts too: with Admin from a pool, the direct role can go;
    // then the pool's Admin role is the last one and cannot be taken away.
    let pool = create_pool(
        &app,
        &second_token,
        json!({ "name": "Admins", "roles": ["admin"] }),
    )
    .await;
    let pool_id = pool["id"].as_i64().unwrap();
    add_member(&app, &second_token, pool_id, second_id).await;
    // The first admin comes back as Admin through the pool, and takes the second's direct
    // role away: the first is now the only Admin, through the pool alone.
    let me_id = me;
    add_member(&app, &second_token, pool_id, me_id).await;
    ok_json(
        call(
            &app,
            &second_token,
            Method::DELETE,
            &format!("/api/v1/pools/{pool_id}/members/{second_id}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    ok_json(
        call(
            &app,
            &token,
            Method::PATCH,
            &format!("/api/v1/users/{second_id}"),
            Some(json!({ "roles": [] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v1/pools/{pool_id}"),
        Some(json!({ "roles": ["viewer"] })),
    )
    .await;
    assert!(refused(response, "roles")
        .await
        .contains("last active Admin"));
    let response = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{pool_id}/members/{me_id}"),
        None,
    )
    .await;
    refused(response, "roles").await;
    let response = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{pool_id}?confirm=true"),
        None,
    )
    .await;
    refused(response, "roles").await;
    assert_eq!(
        portal::people::admin::active_admins(&app.portal.db)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Deactivates (`active: false`) or reactivates a person through the API, as an admin does.
async fn set_active(app: &TestApp, token: &str, id: i64, active: bool) -> Value {
    ok_json(
        call(
            app,
            token,
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(json!({ "active": active })),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// Creates a pool through the API, as an admin does; its view.
async fn create_pool(app: &TestApp, token: &str, body: Value) -> Value {
    ok_json(
        call(app, token, Method::POST, "/api/v1/pools", Some(body)).await,
        StatusCode::CREATED,
    )
    .await
}

/// Adds the person `user_id` to pool `pool_id` through the API; the pool's view.
async fn add_member(app: &TestApp, token: &str, pool_id: i64, user_id: i64) -> Value {
    ok_json(
        call(
            app,
            token,
            Method::POST,
            &format!("/api/v1/pools/{pool_id}/members"),
            Some(json!({ "user_id": user_id })),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// The password every test account that signs in with a password is given.
const PASSWORD: &str = "a long password here";

/// Gives the account with this email the test password, so that it can sign in.
async fn give_password(app: &TestApp, email: &str) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let account = portal::people::find_by_email(
        &app.portal.db,
        &portal::domain::Email::parse(email).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut update: portal::db::entities::user::ActiveModel = account.into();
    update.password_hash = Set(Some(
        portal::auth::password::hash(PASSWORD.into()).await.unwrap(),
    ));
    update.update(&app.portal.db).await.unwrap();
}

/// What `/api/v1/me` answers a fresh browser that presents only this session cookie.
async fn me_with_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    app.me_with_cookie(&format!("portal_session={cookie}"))
        .await
        .status()
}

/// How many sessions the person with this id has open.
async fn sessions_of(app: &TestApp, id: i64) -> u64 {
    use portal::db::entities::session;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    session::Entity::find()
        .filter(session::Column::UserId.eq(id as i32))
        .count(&app.portal.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deactivated_person_cannot_sign_in_or_use_a_session_or_token_and_can_be_reactivated() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let email = "viewer@example.test";
    let viewer_token = app.person_with_role(email, Role::Viewer).await;
    give_password(&app, email).await;
    let viewer: Value = ok_json(
        app.api_get(&viewer_token, "/api/v1/me").await,
        StatusCode::OK,
    )
    .await;
    let id = viewer["id"].as_i64().unwrap();
    let signed_in = app.sign_in(email, PASSWORD).await;
    let old_cookie = session_cookie_value(&signed_in).expect("a session cookie");
    assert_eq!(me_with_cookie(&app, &old_cookie).await, StatusCode::OK);
    assert_eq!(sessions_of(&app, id).await, 1);

    let changed = set_active(&app, &token, id, false).await;
    assert_eq!(changed["active"], false);
    assert!(app.audited("account.deactivated", "success").await);
    assert_eq!(
        app.api_get(&viewer_token, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "the token is refused"
    );
    assert_eq!(
        me_with_cookie(&app, &old_cookie).await,
        StatusCode::UNAUTHORIZED,
        "the session open before is refused"
    );
    assert_eq!(sessions_of(&app, id).await, 0, "the session is ended");
    let refused_sign_in = app.sign_in(email, PASSWORD).await;
    assert!(!has_session_cookie(&refused_sign_in));
    assert_eq!(refused_sign_in.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server_fn_error(refused_sign_in).await,
        AppError::AccountDisabled
    );
    assert_eq!(sessions_of(&app, id).await, 0);
    assert!(app.audited("sign_in.password", "failure").await);
    let kept: Value = ok_json(
        app.api_get(&token, &format!("/api/v1/users/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["active"], false, "the account is kept");

    set_active(&app, &token, id, true).await;
    assert!(app.audited("account.reactivated", "success").await);
    assert_eq!(
        app.api_get(&viewer_token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        me_with_cookie(&app, &old_cookie).await,
        StatusCode::UNAUTHORIZED,
        "the ended session stays ended"
    );
    let again = app.sign_in(email, PASSWORD).await;
    let new_cookie = session_cookie_value(&again).expect("a session cookie after reactivation");
    assert_eq!(me_with_cookie(&app, &new_cookie).await, StatusCode::OK);
}

#[tokio::test]
async fn users_and_viewers_get_403_from_every_write_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let grace = add(&app, &admin, "grace@example.test", json!([]), json!([])).await;
    let id = grace["id"].as_i64().unwrap();
    let before_users: Value =
        ok_json(app.api_get(&admin, "/api/v1/users").await, StatusCode::OK).await;
    let before_pools: Value =
        ok_json(app.api_get(&admin, "/api/v1/pools").await, StatusCode::OK).await;
    let before_identity = app.identity_document().await;
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({ "first_name": "E", "last_name": "V", "email": "eve@example.test" })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{id}"),
            Some(json!({ "roles": ["admin"] })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{id}"),
            Some(json!({ "email": "eve@example.test", "unlink_sso_identity": true })),
        ),
        (Method::DELETE, format!("/api/v1/users/{id}"), None),
        (
            Method::POST,
            "/api/v1/pools".into(),
            Some(json!({ "name": "Eve's" })),
        ),
        (
            Method::PATCH,
            "/api/v1/pools/1".into(),
            Some(json!({ "roles": ["admin"] })),
        ),
        (Method::DELETE, "/api/v1/pools/1?confirm=true".into(), None),
        (
            Method::POST,
            "/api/v1/pools/1/members".into(),
            Some(json!({ "user_id": id })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/pools/1/members/{id}"),
            None,
        ),
        (Method::POST, "/api/v1/pools/1/agent-key".into(), None),
        (
            Method::PUT,
            "/api/v1/identity".into(),
            Some(saml_document("sso_jit")),
        ),
    ];
    for (role, email) in [
        (Role::User, "user@example.test"),
        (Role::Viewer, "viewer@example.test"),
    ] {
        let token = app.person_with_role(email, role).await;
        for (method, path, body) in &writes {
            let response = call(&app, &token, method.clone(), path, body.clone()).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}"
            );
        }
    }
    let after_users: Value =
        ok_json(app.api_get(&admin, "/api/v1/users").await, StatusCode::OK).await;
    let strip = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|u| {
                !u["email"].as_str().unwrap().starts_with("user@")
                    && !u["email"].as_str().unwrap().starts_with("viewer@")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&after_users), strip(&before_users));
    assert_eq!(
        ok_json(app.api_get(&admin, "/api/v1/pools").await, StatusCode::OK).await,
        before_pools
    );
    assert_eq!(app.identity_document().await, before_identity);

    // Viewers read; Users do not.
    let viewer = app
        .person_with_role("viewer2@example.test", Role::Viewer)
        .await;
    assert_eq!(
        app.api_get(&viewer, "/api/v1/users").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.api_get(&viewer, "/api/v1/audit").await.status(),
        StatusCode::OK
    );
    let user = app.person_with_role("user2@example.test", Role::User).await;
    assert_eq!(
        app.api_get(&user, "/api/v1/users").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.api_get(&user, "/api/v1/audit").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_audit_log_filters_and_exports_csv() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    add(&app, &token, "=cmd@example.test", json!([]), json!([])).await;
    let _ = app.sign_in(ADMIN_EMAIL, "wrong password entirely").await;
    let all: Value = ok_json(app.api_get(&token, "/api/v1/audit").await, StatusCode::OK).await;
    assert!(all["total"].as_u64().unwrap() >= 2, "{all}");
    let created: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?action=account.created")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["total"], 1);
    let correlation = created["events"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id: Value = ok_json(
        app.api_get(
            &token,
            &format!("/api/v1/audit?correlation_id={correlation}"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_id["events"][0]["action"], "account.created");
    let failures: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?outcome=failure").await,
        StatusCode::OK,
    )
    .await;
    assert!(failures["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["outcome"] == "failure"));
    assert!(failures["total"].as_u64().unwrap() >= 1);
    let family: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?action=account.*").await,
        StatusCode::OK,
    )
    .await;
    assert!(family["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("account.")));
    refused(
        app.api_get(&token, "/api/v1/audit?outcome=maybe").await,
        "outcome",
    )
    .await;

    let csv = app.api_get(&token, "/api/v1/audit.csv?person=cmd").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "at,actor,action,target,outcome,correlation_id,details"
    );
    let row = lines.next().expect("one event about =cmd");
    assert!(
        row.contains(",'=cmd@example.test,"),
        "a formula-like cell is neutralised: {row}"
    );
}

#[tokio::test]
async fn a_pool_is_renamed_and_its_agent_key_rotated_with_the_old_one_gone() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let pool = create_pool(&app, &token, json!({ "name": "Night shift" })).await;
    let id = pool["id"].as_i64().unwrap();
    let first_key = pool["agent_key"].as_str().unwrap().to_string();
    let stored = |app: &TestApp| {
        let db = app.portal.db.clone();
        async move {
            use sea_orm::EntityTrait;
            portal::db::entities::agent_pool::Entity::find_by_id(id as i32)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .agent_key_hash
        }
    };
    assert_eq!(
        stored(&app).await,
        portal::auth::digest(&first_key),
        "stored hashed, never as given"
    );
    let rotated = ok_json(
        call(
            &app,
            &token,
            Method::POST,
            &format!("/api/v1/pools/{id}/agent-key"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let second_key = rotated["agent_key"].as_str().unwrap();
    assert_ne!(second_key, first_key);
    assert_eq!(stored(&app).await, portal::auth::digest(second_key));
    let renamed = ok_json(
        call(
            &app,
            &token,
            Method::PATCH,
            &format!("/api/v1/pools/{id}"),
            Some(json!({ "name": "Day shift" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "Day shift");
    refused(
        call(
            &app,
            &token,
            Method::PATCH,
            &format!("/api/v1/pools/{id}"),
            Some(json!({ "name": " " })),
        )
        .await,
        "name",
    )
    .await;
    for action in ["pool.created", "pool.agent_key_rotated", "pool.updated"] {
        assert!(app.audited(action, "success").await, "{action}");
    }
    let log: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?action=pool.").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        !log.to_string().contains(second_key),
        "the key never reaches the audit log"
    );
}

/// Signs `app`'s browser in as a new local account with `role` and returns its form token.
async fn signed_in_with_role(app: &TestApp, email: &str, role: Role) -> String {
    app.person_with_role(email, role).await;
    give_password(app, email).await;
    assert!(has_session_cookie(&app.sign_in(email, PASSWORD).await));
    app.session_csrf().await
}

#[tokio::test]
async fn users_and_viewers_get_403_from_every_page_form_and_nothing_changes() {
    use app::api::*;
    use leptos::server_fn::ServerFn;
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let grace = add(&app, &admin, "grace@example.test", json!([]), json!([])).await;
    let id = grace["id"].to_string();
    // Grace has signed in with Okta: there is an identity to unlink.
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
        let account =
            portal::db::entities::user::Entity::find_by_id(grace["id"].as_i64().unwrap() as i32)
                .one(&app.portal.db)
                .await
                .unwrap()
                .unwrap();
        let mut bound: portal::db::entities::user::ActiveModel = account.into();
        bound.idp_provider = Set(Some("saml:http://www.okta.com/exk1access".into()));
        bound.idp_subject = Set(Some("grace@example.test".into()));
        bound.update(&app.portal.db).await.unwrap();
    }
    let before_users: Value = ok_json(
        app.api_get(&admin, "/api/v1/users?q=grace").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        before_users[0]["sso_identity"]["subject"], "grace@example.test",
        "{before_users}"
    );
    let before_pools: Value =
        ok_json(app.api_get(&admin, "/api/v1/pools").await, StatusCode::OK).await;
    let before_identity = app.identity_document().await;
    let identity_changes = |actions: Vec<(String, String)>| {
        actions
            .iter()
            .filter(|(action, outcome)| action == "identity_config.update" && outcome == "success")
            .count()
    };
    let identity_changes_before = identity_changes(app.audit_actions().await);
    for (role, email) in [
        (Role::User, "user@example.test"),
        (Role::Viewer, "viewer@example.test"),
    ] {
        let csrf = signed_in_with_role(&app, email, role).await;
        let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                AddPerson::PATH,
                vec![
                    ("first_name", "E"),
                    ("last_name", "V"),
                    ("email", "eve@example.test"),
                ],
            ),
            (SavePersonRoles::PATH, vec![("id", &id), ("admin", "on")]),
            (AddPersonToPool::PATH, vec![("id", &id), ("pool", "1")]),
            (RemovePersonFromPool::PATH, vec![("id", &id), ("pool", "1")]),
            (
                SetPersonActive::PATH,
                vec![("id", &id), ("active", "false")],
            ),
            (UnlinkPersonSsoIdentity::PATH, vec![("id", &id)]),
            (
                ChangePersonEmail::PATH,
                vec![("id", &id), ("email", "eve@example.test"), ("unlink", "on")],
            ),
            (RemovePerson::PATH, vec![("id", &id)]),
            (CreatePool::PATH, vec![("name", "Eve's")]),
            (RenamePool::PATH, vec![("id", "1"), ("name", "Eve's")]),
            (SavePoolRoles::PATH, vec![("id", "1"), ("admin", "on")]),
            (MakeDefaultPool::PATH, vec![("id", "1")]),
            (AddPoolMember::PATH, vec![("id", "1"), ("email", email)]),
            (RemovePoolMember::PATH, vec![("id", "1"), ("user_id", &id)]),
            (RotatePoolKey::PATH, vec![("id", "1")]),
            (DeletePool::PATH, vec![("id", "1"), ("confirm", "on")]),
            (SaveProvisioning::PATH, vec![("jit", "on")]),
            (SaveLoginMethod::PATH, vec![("method", "sso")]),
            (
                SaveSaml::PATH,
                vec![
                    ("idp_entity_id", "http://www.okta.com/exk1eve"),
                    (
                        "idp_sso_url",
                        "https://eve.example/app/portal/exk1eve/sso/saml",
                    ),
                    ("certificate", TEST_CERTIFICATE),
                    ("allow_idp_initiated", "on"),
                ],
            ),
            (
                SaveOidc::PATH,
                vec![
                    (
                        "discovery_url",
                        "https://eve.example/.well-known/openid-configuration",
                    ),
                    ("client_id", "0oa1eve"),
                    ("client_secret", "eve's client secret"),
                    ("token_auth_method", "client_secret_post"),
                ],
            ),
        ];
        for (path, fields) in forms {
            let mut form = fields.clone();
            form.push(("csrf", csrf.as_str()));
            let response = app
                .client
                .post(app.url(path))
                .header(reqwest::header::ACCEPT, SERVER_FN_ACCEPT)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role:?} {path}");
        }
        let reads = app
            .client
            .post(app.url(GetUsersPage::PATH))
            .form(&[("", "")])
            .send()
            .await
            .unwrap();
        let expected = if role == Role::Viewer {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(reads.status(), expected, "{role:?} reads Users");
    }
    assert_eq!(
        ok_json(
            app.api_get(&admin, "/api/v1/users?q=grace").await,
            StatusCode::OK
        )
        .await,
        before_users
    );
    assert_eq!(
        ok_json(app.api_get(&admin, "/api/v1/pools").await, StatusCode::OK).await,
        before_pools
    );
    assert_eq!(app.identity_document().await, before_identity);
    assert_eq!(
        identity_changes(app.audit_actions().await),
        identity_changes_before,
        "no identity configuration change is recorded"
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_day_or_instant() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    add(&app, &token, "grace@example.test", json!([]), json!([])).await;
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let total = |v: &Value| v["total"].as_u64().unwrap();
    let on_the_day: Value = ok_json(
        app.api_get(
            &token,
            &format!("/api/v1/audit?action=account.created&since={today}&until={today}"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&on_the_day), 1, "a day includes all of it");
    let later: Value = ok_json(
        app.api_get(
            &token,
            &format!("/api/v1/audit?action=account.created&since={tomorrow}"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&later), 0);
    let instant = (chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let since_instant: Value = ok_json(
        app.api_get(
            &token,
            &format!("/api/v1/audit?action=account.created&since={instant}"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&since_instant), 1);
    let bad = app.api_get(&token, "/api/v1/audit?since=yesterday").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn role_and_pool_changes_and_a_reactivation_are_audited_naming_actor_and_target() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let grace = add(&app, &token, "grace@example.test", json!([]), json!([])).await;
    let id = grace["id"].as_i64().unwrap();
    ok_json(
        call(
            &app,
            &token,
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(json!({ "roles": ["viewer"] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let pool = create_pool(
        &app,
        &token,
        json!({ "name": "Night shift", "roles": ["user"] }),
    )
    .await;
    let pool_id = pool["id"].as_i64().unwrap();
    add_member(&app, &token, pool_id, id).await;
    ok_json(
        call(
            &app,
            &token,
            Method::DELETE,
            &format!("/api/v1/pools/{pool_id}/members/{id}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let deleted = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{pool_id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    set_active(&app, &token, id, false).await;
    set_active(&app, &token, id, true).await;

    let mut events = serde_json::Map::new();
    for (action, target) in [
        ("account.updated", "grace@example.test"),
        ("pool.created", "Night shift"),
        ("pool.member_added", "grace@example.test"),
        ("pool.member_removed", "grace@example.test"),
        ("pool.deleted", "Night shift"),
        ("account.deactivated", "grace@example.test"),
        ("account.reactivated", "grace@example.test"),
    ] {
        assert!(app.audited(action, "success").await, "{action}");
        let log: Value = ok_json(
            app.api_get(&token, &format!("/api/v1/audit?action={action}"))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(log["total"], 1, "{action}: {log}");
        let event = &log["events"][0];
        assert_eq!(event["actor"], ADMIN_EMAIL, "{action}");
        assert_eq!(event["target"], target, "{action}");
        assert_eq!(event["outcome"], "success", "{action}");
        events.insert(action.to_string(), event.clone());
    }
    assert_eq!(
        events["account.updated"]["details"]["roles"],
        json!([[], ["viewer"]]),
        "the roles before and after"
    );
    assert_eq!(
        events["pool.member_added"]["details"]["pool"],
        "Night shift"
    );
    assert_eq!(
        events["pool.member_removed"]["details"]["pool"],
        "Night shift"
    );
    assert_eq!(events["pool.deleted"]["details"]["roles"], json!(["user"]));
    assert_eq!(
        events["account.reactivated"]["details"]["active"],
        json!([false, true])
    );
}

#[tokio::test]
async fn the_audit_log_pages_hold_different_events_and_the_total_counts_them_all() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for i in 0..5 {
        add(
            &app,
            &token,
            &format!("person{i}@example.test"),
            json!([]),
            json!([]),
        )
        .await;
    }
    let page = |n: u64| format!("/api/v1/audit?action=account.created&per_page=2&page={n}");
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = Vec::new();
    for (n, size) in [(1, 2), (2, 2), (3, 1)] {
        let body: Value = ok_json(app.api_get(&token, &page(n)).await, StatusCode::OK).await;
        assert_eq!(body["total"], 5, "{body}");
        assert_eq!(body["page"], n, "{body}");
        assert_eq!(body["per_page"], 2, "{body}");
        let events = body["events"].as_array().unwrap();
        assert_eq!(events.len(), size, "page {n}: {body}");
        let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        for event in &ids {
            assert!(seen.insert(*event), "event {event} is on two pages");
        }
        pages.push(body);
    }
    assert_eq!(seen.len(), 5, "every event is on one page");
    assert_ne!(pages[0]["events"], pages[1]["events"]);
    assert_eq!(
        pages[0]["events"][0]["target"], "person4@example.test",
        "newest first"
    );
    let past_the_end: Value = ok_json(app.api_get(&token, &page(4)).await, StatusCode::OK).await;
    assert_eq!(past_the_end["events"], json!([]));
    assert_eq!(past_the_end["total"], 5);

    let first: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?per_page=2&page=1").await,
        StatusCode::OK,
    )
    .await;
    let second: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?per_page=2&page=2").await,
        StatusCode::OK,
    )
    .await;
    let recorded = app.audit_actions().await.len() as u64;
    assert!(recorded > 2, "more events than one page");
    assert_eq!(first["total"], recorded, "{first}");
    assert_eq!(second["total"], recorded, "{second}");
    assert_ne!(first["events"][0]["id"], second["events"][0]["id"]);
    assert_ne!(first["events"][1]["id"], second["events"][0]["id"]);
}

#[tokio::test]
async fn an_admin_cannot_drop_their_own_admin_role_through_a_pool_either() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let _other_admin = app
        .person_with_role("other@example.test", Role::Admin)
        .await;
    let me = admin_id(&app).await;
    let pool = create_pool(
        &app,
        &token,
        json!({ "name": "Admins", "roles": ["admin"] }),
    )
    .await;
    let pool_id = pool["id"].as_i64().unwrap();
    add_member(&app, &token, pool_id, me).await;
    // Admin through the pool only: the direct role may go, since the pool still grants it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    portal::db::entities::user_role::Entity::delete_many()
        .filter(portal::db::entities::user_role::Column::UserId.eq(me as i32))
        .exec(&app.portal.db)
        .await
        .unwrap();
    let own = "This would take away your own Admin role";
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v1/pools/{pool_id}"),
        Some(json!({ "roles": [] })),
    )
    .await;
    assert!(refused(response, "roles").await.contains(own));
    let response = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{pool_id}/members/{me}"),
        None,
    )
    .await;
    assert!(refused(response, "roles").await.contains(own));
    let response = call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/pools/{pool_id}?confirm=true"),
        None,
    )
    .await;
    assert!(refused(response, "roles").await.contains(own));
    let response = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v1/users/{me}"),
        Some(json!({ "pools": [] })),
    )
    .await;
    assert!(refused(response, "roles").await.contains(own));
    let still: Value = ok_json(app.api_get(&token, "/api/v1/me").await, StatusCode::OK).await;
    assert_eq!(still["roles"], json!(["admin"]));
}

#[tokio::test]
async fn searches_take_wildcards_literally_and_ignore_case() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    add(
        &app,
        &token,
        "mary_jones@example.test",
        json!([]),
        json!([]),
    )
    .await;
    add(
        &app,
        &token,
        "maryXjones@example.test",
        json!([]),
        json!([]),
    )
    .await;
    let found: Value = ok_json(
        app.api_get(&token, "/api/v1/users?q=mary_jones").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let everyone: Value = ok_json(
        app.api_get(&token, "/api/v1/users?q=%25").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        everyone.as_array().unwrap().len(),
        0,
        "% is a character, not a wildcard"
    );
    let by_person: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?person=MARY_JONES").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_person["total"], 1, "{by_person}");
    let wildcard: Value = ok_json(
        app.api_get(&token, "/api/v1/audit?person=%25").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(wildcard["total"], 0);

    // An address is searched as it is told apart: ASCII letters in any case, every other
    // character as it is, alike on SQLite and PostgreSQL.
    add(&app, &token, "\u{D6}laf@Example.test", json!([]), json!([])).await;
    for (q, found) in [("\u{D6}LAF@EXAMPLE", 1), ("\u{F6}laf@example", 0)] {
        let answer: Value = ok_json(
            app.api_get(&token, &format!("/api/v1/users?q={q}")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(answer.as_array().unwrap().len(), found, "{q}: {answer}");
    }
}

#[tokio::test]
async fn users_read_nothing_of_people_pools_roles_or_the_audit_log() {
    let app = TestApp::spawn().await;
    let user = app.person_with_role("user@example.test", Role::User).await;
    for path in [
        "/api/v1/users",
        "/api/v1/users/1",
        "/api/v1/pools",
        "/api/v1/pools/1",
        "/api/v1/roles",
        "/api/v1/audit",
        "/api/v1/audit.csv",
    ] {
        assert_eq!(
            app.api_get(&user, path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_cookie_write_without_the_form_token_is_refused() {
    let app = TestApp::spawn().await;
    app.sign_in_as_admin().await;
    let before = app.user_count().await;
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({ "first_name": "E", "last_name": "V", "email": "eve@example.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.user_count().await, before);
    let csrf = app.session_csrf().await;
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "first_name": "E", "last_name": "V", "email": "eve@example.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let first = app.admin_token().await;
    let second = app
        .person_with_role("second@example.test", Role::Admin)
        .await;
    let first_id = admin_id(&app).await;
    let second_me: Value = ok_json(app.api_get(&second, "/api/v1/me").await, StatusCode::OK).await;
    let second_id = second_me["id"].as_i64().unwrap();
    for _ in 0..5 {
        let (second_path, first_path) = (
            format!("/api/v1/users/{second_id}"),
            format!("/api/v1/users/{first_id}"),
        );
        let (a, b) = tokio::join!(
            call(
                &app,
                &first,
                Method::PATCH,
                &second_path,
                Some(json!({ "roles": [] }))
            ),
            call(
                &app,
                &second,
                Method::PATCH,
                &first_path,
                Some(json!({ "roles": [] }))
            ),
        );
        let admins = portal::people::admin::active_admins(&app.portal.db)
            .await
            .unwrap();
        assert_eq!(
            admins.len(),
            1,
            "exactly one stays Admin ({} / {})",
            a.status(),
            b.status()
        );
        assert!(
            a.status() == StatusCode::OK || b.status() == StatusCode::OK,
            "{} / {}",
            a.status(),
            b.status()
        );
        // Put the demoted one back for the next round.
        let (survivor, demoted) = if admins.contains(&(first_id as i32)) {
            (&first, second_id)
        } else {
            (&second, first_id)
        };
        ok_json(
            call(
                &app,
                survivor,
                Method::PATCH,
                &format!("/api/v1/users/{demoted}"),
                Some(json!({ "roles": ["admin"] })),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
}

#[tokio::test]
async fn a_malformed_id_or_query_gets_the_apis_json_422_naming_it_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let people_before = app.user_count().await;
    let message = refused(
        call(
            &app,
            &token,
            Method::DELETE,
            "/api/v1/users/not-a-number",
            None,
        )
        .await,
        "path",
    )
    .await;
    assert!(message.contains("not-a-number"), "{message}");
    refused(
        call(
            &app,
            &token,
            Method::DELETE,
            "/api/v1/pools/1/members/x",
            None,
        )
        .await,
        "path",
    )
    .await;
    refused(
        call(
            &app,
            &token,
            Method::DELETE,
            "/api/v1/pools/1?confirm=perhaps",
            None,
        )
        .await,
        "query",
    )
    .await;
    assert_eq!(app.user_count().await, people_before);
}

#[tokio::test]
async fn a_password_given_between_reading_the_accounts_and_linking_leaves_the_account_unbound() {
    use portal::db::entities::user;
    use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let db = &app.portal.db;
    let before = new_account("late@example.test").insert(db).await.unwrap();
    let who = arriving("late@example.test", "00u-late", "Late");
    let txn = portal::db::begin_write(db).await.unwrap();
    let mut writes = portal::db::batch::Batch::new(txn.get_database_backend());
    let admission = portal::provisioning::JitProvisioner { jit: JIT_ON }
        .admit(&*txn, &who, &mut writes)
        .await
        .unwrap();
    assert!(matches!(
        admission,
        portal::provisioning::Admission::Linked(_)
    ));
    // Meanwhile the account gets a password, as `portal admin reset` gives one.
    user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            sea_orm::sea_query::Expr::value("$argon2id$v=19$a-hash-given-meanwhile"),
        )
        .filter(user::Column::Id.eq(before.id))
        .exec(&*txn)
        .await
        .unwrap();
    let error = writes.run(&*txn).await.unwrap_err().to_string();
    assert!(error.contains("still without a password"), "{error}");
    drop(txn);
    assert_eq!(
        user::Entity::find_by_id(before.id).one(db).await.unwrap(),
        Some(before),
        "rolled back: not bound, no password"
    );
}

/// SSO JIT on, as a sign-in finds it.
const JIT_ON: portal::provisioning::Jit = portal::provisioning::Jit {
    in_force: true,
    left_on: false,
    toggle: "SSO JIT",
};

/// Someone the SAML provider `saml:test` vouches for, their email verified.
fn arriving(
    email: &str,
    subject: &str,
    first_name: &str,
) -> portal::provisioning::ExternalIdentity {
    portal::provisioning::ExternalIdentity {
        protocol: portal::domain::SsoProtocol::Saml,
        provider: "saml:test".into(),
        subject: subject.into(),
        subject_is_an_address: false,
        email: Some(portal::domain::Email::parse(email).unwrap()),
        unusable_email: None,
        email_verified: Some(true),
        first_name: first_name.into(),
        last_name: "Person".into(),
        session_ends_by: None,
    }
}

#[tokio::test]
async fn a_sign_in_decided_on_a_configuration_saved_over_since_writes_nothing() {
    use portal::provisioning::{Admission, AdmitError};
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let save = async |provisioning| {
        let saved = app
            .api_put(&token, "/api/v1/identity", &saml_document(provisioning))
            .await;
        assert_eq!(saved.status(), StatusCode::OK);
        app.portal.identity_config().await.unwrap()
    };
    let jit_on = save("sso_jit").await;
    let jit_off = save("manual").await;
    assert_ne!(jit_off.revision, jit_on.revision);
    let unchanged = async || {
        (
            app.user_count().await,
            app.session_count().await,
            app.audit_actions().await.len(),
        )
    };
    let before = unchanged().await;
    let who = arriving("new@example.test", "00u1", "New");
    let decide = async |decided_on| {
        let txn = portal::db::begin_write(&app.portal.db).await.unwrap();
        let outcome = app
            .portal
            .admit_and_start_session(&txn, &who, decided_on, "saml", "correlation")
            .await;
        if outcome.is_ok() {
            txn.commit().await.unwrap();
        }
        outcome
    };

    // Decided while SSO JIT was on, written after it was turned off: no account, no session.
    let outcome = decide(&jit_on).await;
    assert!(matches!(outcome, Err(AdmitError::Overtaken)), "{outcome:?}");
    assert_eq!(unchanged().await, before);

    // Refused while SSO JIT was off, after it was turned on again: the refusal does not stand.
    let jit_on_again = save("sso_jit").await;
    let before = unchanged().await;
    let outcome = decide(&jit_off).await;
    assert!(matches!(outcome, Err(AdmitError::Overtaken)), "{outcome:?}");
    assert_eq!(unchanged().await, before);

    // Decided on the configuration in force: the new account.
    let outcome = decide(&jit_on_again).await;
    assert!(
        matches!(outcome, Ok((Admission::Created(_), _))),
        "{outcome:?}"
    );
    assert_eq!(app.user_count().await, before.0 + 1);
}
