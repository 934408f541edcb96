//! Server functions: parse, call the backend, map. Nothing is decided here.
//!
//! Each one takes its arguments as a form does (URL-encoded, so that a form works before the
//! page is hydrated) and answers in postcard, as does every page's data ([`page_data`]): the
//! browser's module then decodes postcard alone, without serde_json's parser and a JSON decoder
//! for each type, which makes it about a tenth smaller (README, "Numbers"). The automation API,
//! `/api/v1`, speaks JSON.

use leptos::prelude::*;
use leptos::server_fn::codec::Postcard;

use crate::model::{AppError, IdentitySettings, LoginPageInfo, Secret, ShellInfo};

#[cfg(feature = "ssr")]
pub use ssr::RequestReads;

#[cfg(feature = "ssr")]
mod ssr {
    use std::any::{Any, TypeId};
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex, PoisonError};

    use http::{header::SET_COOKIE, request::Parts, HeaderValue};
    use leptos::prelude::*;

    use crate::backend::SharedBackend;
    use crate::model::AppError;

    /// One answer of [`read_once`]: a `tokio::sync::OnceCell` of the answer's type.
    type Answer = Arc<dyn Any + Send + Sync>;

    /// What one request has read, by answer type and key, so that each is read once however
    /// often the request asks for it. The server puts a fresh one in every page request's
    /// extensions, where the pages' reads (through [`read_once`]) and the server's own (the
    /// caller behind the request) find it.
    #[derive(Clone, Default)]
    pub struct RequestReads(Arc<Mutex<HashMap<(TypeId, String), Answer>>>);

    impl RequestReads {
        /// Runs `read` once in this request for the answer type `T` and `key` (the call's
        /// arguments); later calls wait for the first and share its answer. A failure is not
        /// kept: it costs little, and the page stops at it.
        pub async fn once<T, E>(
            &self,
            key: String,
            read: impl Future<Output = Result<T, E>>,
        ) -> Result<T, E>
        where
            T: Clone + Send + Sync + 'static,
        {
            let cell = self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((TypeId::of::<T>(), key))
                .or_insert_with(|| Arc::new(tokio::sync::OnceCell::<T>::new()))
                .clone()
                .downcast::<tokio::sync::OnceCell<T>>()
                .expect("a key holds one answer type");
            cell.get_or_try_init(|| read).await.cloned()
        }
    }

    /// A page's read, once per request (see [`RequestReads`]). While a page's Suspense settles
    /// on the server, Leptos runs the components inside it more than once (once to find their
    /// resources, then to render; three times when the data is ready at once), and each run
    /// creates the page's Resource anew, which would read the same rows again.
    pub async fn read_once<T>(
        key: String,
        read: impl Future<Output = Result<T, AppError>>,
    ) -> Result<T, AppError>
    where
        T: Clone + Send + Sync + 'static,
    {
        let reads = use_context::<Parts>()
            .and_then(|parts| parts.extensions.get::<RequestReads>().cloned());
        match reads {
            Some(reads) => answer(reads.once(key, read).await),
            None => answer(read.await),
        }
    }

    pub fn backend() -> Result<(SharedBackend, Parts), AppError> {
        let backend = use_context::<SharedBackend>()
            .ok_or_else(|| AppError::Transport("the backend is not wired".into()))?;
        let parts = use_context::<Parts>()
            .ok_or_else(|| AppError::Transport("no request in context".into()))?;
        Ok((backend, parts))
    }

    /// Gives a failed call the HTTP status that says what kind of failure it is.
    pub fn answer<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(error) = &result {
            let status = match error {
                AppError::SignInRequired
                | AppError::SessionExpired
                | AppError::BadCredentials
                | AppError::AccountDisabled => 401,
                AppError::Forbidden | AppError::CsrfRejected => 403,
                AppError::Invalid { .. } => 422,
                AppError::Unavailable => 503,
                AppError::SignInLocked { .. } | AppError::TooManyAttempts { .. } => 429,
                AppError::Internal { .. } | AppError::Transport(_) | AppError::Unreadable => 500,
            };
            if let (Some(response), Ok(status)) = (
                use_context::<leptos_axum::ResponseOptions>(),
                http::StatusCode::from_u16(status),
            ) {
                response.set_status(status);
            }
        }
        result
    }

    pub fn set_cookies(cookies: Vec<String>) {
        let response = expect_context::<leptos_axum::ResponseOptions>();
        for cookie in cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.append_header(SET_COOKIE, value);
            }
        }
    }
}

/// A page's data: read on the server by a server function, and sent to the browser inside the
/// page's HTML in postcard (base64), as the server functions answer.
pub type PageData<T> = Resource<Result<T, AppError>, codee::binary::PostcardCodec>;

/// Reads a page's data with `fetch` whenever `source` changes; see [`PageData`].
#[track_caller]
pub fn page_data<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetch: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> PageData<T>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    Resource::new_with_options(source, fetch, false)
}

#[server(output = Postcard)]
pub async fn get_shell() -> Result<ShellInfo, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(String::new(), backend.shell(&parts)).await
}

#[server(output = Postcard)]
pub async fn get_login_page() -> Result<LoginPageInfo, AppError> {
    let (backend, parts) = ssr::backend()?;
    let (info, cookies) = ssr::answer(backend.login_page(&parts).await)?;
    ssr::set_cookies(cookies);
    Ok(info)
}

#[server(output = Postcard)]
pub async fn sign_in(
    email: String,
    password: Secret,
    csrf: Secret,
    next: Option<String>,
) -> Result<(), AppError> {
    let (backend, parts) = ssr::backend()?;
    let cookies = ssr::answer(
        backend
            .sign_in(&parts, email, password.expose(), csrf.expose())
            .await,
    )?;
    ssr::set_cookies(cookies);
    leptos_axum::redirect(&safe_return_path(next.as_deref()));
    Ok(())
}

#[server(output = Postcard)]
pub async fn sign_out(csrf: Secret) -> Result<(), AppError> {
    let (backend, parts) = ssr::backend()?;
    let cookies = ssr::answer(backend.sign_out(&parts, csrf.expose()).await)?;
    ssr::set_cookies(cookies);
    leptos_axum::redirect("/login?signed_out=1");
    Ok(())
}

#[server(output = Postcard)]
pub async fn get_identity_settings() -> Result<IdentitySettings, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(String::new(), backend.identity_settings(&parts)).await
}

#[server(output = Postcard)]
pub async fn save_provisioning(
    csrf: Secret,
    jit: Option<String>,
) -> Result<IdentitySettings, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .save_provisioning(&parts, csrf.expose(), jit.is_some())
            .await,
    )
}

#[server(output = Postcard)]
pub async fn save_login_method(csrf: Secret, method: String) -> Result<IdentitySettings, AppError> {
    let (backend, parts) = ssr::backend()?;
    let sso = match method.as_str() {
        "sso" => true,
        "password" => false,
        _ => {
            return ssr::answer(Err(AppError::Invalid {
                field: "method".into(),
                message: "Choose Password or Single sign-on (SSO).".into(),
            }))
        }
    };
    ssr::answer(backend.save_login_method(&parts, csrf.expose(), sso).await)
}

#[server(output = Postcard)]
#[allow(clippy::too_many_arguments)]
pub async fn save_saml(
    csrf: Secret,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    idp_entity_id: Option<String>,
    idp_sso_url: Option<String>,
    certificate: Option<String>,
    allow_idp_initiated: Option<String>,
) -> Result<IdentitySettings, AppError> {
    let (backend, parts) = ssr::backend()?;
    let form = crate::model::SamlForm {
        metadata_xml: metadata_xml.unwrap_or_default(),
        metadata_url: metadata_url.unwrap_or_default(),
        idp_entity_id: idp_entity_id.unwrap_or_default(),
        idp_sso_url: idp_sso_url.unwrap_or_default(),
        certificate: certificate.unwrap_or_default(),
        allow_idp_initiated: allow_idp_initiated.is_some(),
    };
    ssr::answer(backend.save_saml(&parts, csrf.expose(), form).await)
}

#[server(output = Postcard)]
pub async fn save_oidc(
    csrf: Secret,
    discovery_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    token_auth_method: Option<String>,
) -> Result<IdentitySettings, AppError> {
    let (backend, parts) = ssr::backend()?;
    let form = crate::model::OidcForm {
        discovery_url: discovery_url.unwrap_or_default(),
        client_id: client_id.unwrap_or_default(),
        client_secret: client_secret.map(Secret::expose).unwrap_or_default(),
        token_auth_method: token_auth_method.unwrap_or_default(),
    };
    ssr::answer(backend.save_oidc(&parts, csrf.expose(), form).await)
}

/// The three role checkboxes of a form, as role keys.
#[cfg(feature = "ssr")]
fn checked_roles(
    admin: Option<String>,
    user: Option<String>,
    viewer: Option<String>,
) -> Vec<String> {
    [("admin", admin), ("user", user), ("viewer", viewer)]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(key, _)| key.to_string())
        .collect()
}

#[server(output = Postcard)]
pub async fn get_users_page(
    q: Option<String>,
    source: Option<String>,
    status: Option<String>,
    page: Option<u64>,
) -> Result<crate::model::UsersView, AppError> {
    let (backend, parts) = ssr::backend()?;
    let query = crate::model::UsersQuery {
        q: q.unwrap_or_default(),
        source: source.unwrap_or_default(),
        status: status.unwrap_or_default(),
        page: page.unwrap_or(1),
    };
    ssr::read_once(format!("{query:?}"), backend.users_page(&parts, query)).await
}

#[server(output = Postcard)]
#[allow(clippy::too_many_arguments)]
pub async fn add_person(
    csrf: Secret,
    first_name: String,
    last_name: String,
    email: String,
    admin: Option<String>,
    user: Option<String>,
    viewer: Option<String>,
    pool: Option<String>,
) -> Result<i32, AppError> {
    let (backend, parts) = ssr::backend()?;
    let form = crate::model::NewPersonForm {
        first_name,
        last_name,
        email,
        roles: checked_roles(admin, user, viewer),
        pool: pool.and_then(|p| p.parse().ok()),
    };
    ssr::answer(backend.add_person(&parts, csrf.expose(), form).await)
}

#[server(output = Postcard)]
pub async fn get_person_page(id: i32) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(id.to_string(), backend.person_page(&parts, id)).await
}

#[server(output = Postcard)]
pub async fn save_person_roles(
    csrf: Secret,
    id: i32,
    admin: Option<String>,
    user: Option<String>,
    viewer: Option<String>,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    let edit = crate::model::PersonEdit::Roles(checked_roles(admin, user, viewer));
    ssr::answer(backend.change_person(&parts, csrf.expose(), id, edit).await)
}

#[server(output = Postcard)]
pub async fn add_person_to_pool(
    csrf: Secret,
    id: i32,
    pool: i32,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_person(
                &parts,
                csrf.expose(),
                id,
                crate::model::PersonEdit::AddPool(pool),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn remove_person_from_pool(
    csrf: Secret,
    id: i32,
    pool: i32,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_person(
                &parts,
                csrf.expose(),
                id,
                crate::model::PersonEdit::RemovePool(pool),
            )
            .await,
    )
}

/// Unbinds a person's account from its identity at the identity provider; their next SSO
/// sign-in with a verified email binds it again.
#[server(output = Postcard)]
pub async fn unlink_person_sso_identity(
    csrf: Secret,
    id: i32,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_person(
                &parts,
                csrf.expose(),
                id,
                crate::model::PersonEdit::UnlinkSsoIdentity,
            )
            .await,
    )
}

/// Gives a person's account a new address; with `unlink` ticked, its Okta identity is unbound in
/// the same change, so that a sign-in with the new address binds it again.
#[server(output = Postcard)]
pub async fn change_person_email(
    csrf: Secret,
    id: i32,
    email: String,
    unlink: Option<String>,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    let edit = crate::model::PersonEdit::Email {
        email,
        unlink_sso_identity: unlink.is_some(),
    };
    ssr::answer(backend.change_person(&parts, csrf.expose(), id, edit).await)
}

#[server(output = Postcard)]
pub async fn set_person_active(
    csrf: Secret,
    id: i32,
    active: bool,
) -> Result<crate::model::PersonView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_person(
                &parts,
                csrf.expose(),
                id,
                crate::model::PersonEdit::Active(active),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn remove_person(csrf: Secret, id: i32) -> Result<String, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(backend.remove_person(&parts, csrf.expose(), id).await)
}

#[server(output = Postcard)]
pub async fn get_pools_page() -> Result<crate::model::PoolsView, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(String::new(), backend.pools_page(&parts)).await
}

#[server(output = Postcard)]
pub async fn create_pool(
    csrf: Secret,
    name: String,
    admin: Option<String>,
    user: Option<String>,
    viewer: Option<String>,
) -> Result<crate::model::CreatedPool, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .create_pool(
                &parts,
                csrf.expose(),
                name,
                checked_roles(admin, user, viewer),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn get_pool_page(id: i32) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(id.to_string(), backend.pool_page(&parts, id)).await
}

#[server(output = Postcard)]
pub async fn rename_pool(
    csrf: Secret,
    id: i32,
    name: String,
) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_pool(
                &parts,
                csrf.expose(),
                id,
                crate::model::PoolEdit::Rename(name),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn save_pool_roles(
    csrf: Secret,
    id: i32,
    admin: Option<String>,
    user: Option<String>,
    viewer: Option<String>,
) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    let edit = crate::model::PoolEdit::Roles(checked_roles(admin, user, viewer));
    ssr::answer(backend.change_pool(&parts, csrf.expose(), id, edit).await)
}

#[server(output = Postcard)]
pub async fn make_default_pool(
    csrf: Secret,
    id: i32,
) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_pool(
                &parts,
                csrf.expose(),
                id,
                crate::model::PoolEdit::MakeDefault,
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn add_pool_member(
    csrf: Secret,
    id: i32,
    email: String,
) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_pool(
                &parts,
                csrf.expose(),
                id,
                crate::model::PoolEdit::AddMember(email),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn remove_pool_member(
    csrf: Secret,
    id: i32,
    user_id: i32,
) -> Result<crate::model::PoolDetail, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .change_pool(
                &parts,
                csrf.expose(),
                id,
                crate::model::PoolEdit::RemoveMember(user_id),
            )
            .await,
    )
}

#[server(output = Postcard)]
pub async fn rotate_pool_key(csrf: Secret, id: i32) -> Result<String, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(backend.rotate_pool_key(&parts, csrf.expose(), id).await)
}

#[server(output = Postcard)]
pub async fn delete_pool(csrf: Secret, id: i32, confirm: Option<String>) -> Result<(), AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::answer(
        backend
            .delete_pool(&parts, csrf.expose(), id, confirm.is_some())
            .await,
    )
}

#[server(output = Postcard)]
pub async fn get_roles_page() -> Result<Vec<crate::model::RoleRow>, AppError> {
    let (backend, parts) = ssr::backend()?;
    ssr::read_once(String::new(), backend.roles_page(&parts)).await
}

#[server(output = Postcard)]
pub async fn get_audit_page(
    outcome: Option<String>,
    action: Option<String>,
    person: Option<String>,
    correlation_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<u64>,
) -> Result<crate::model::AuditView, AppError> {
    let (backend, parts) = ssr::backend()?;
    let query = crate::model::AuditQuery {
        outcome: outcome.unwrap_or_default(),
        action: action.unwrap_or_default(),
        person: person.unwrap_or_default(),
        correlation_id: correlation_id.unwrap_or_default(),
        since: since.unwrap_or_default(),
        until: until.unwrap_or_default(),
        page: page.unwrap_or(1),
    };
    ssr::read_once(format!("{query:?}"), backend.audit_page(&parts, query)).await
}

/// Where to go after signing in: a same-origin absolute path, or `/`.
pub fn safe_return_path(next: Option<&str>) -> String {
    match next {
        // A browser drops tabs and newlines from a URL and reads `\` as `/`, so any of them
        // could turn a path into `//elsewhere`: a path with one is not taken.
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{safe_return_path, SaveOidc, SignIn};
    use crate::model::Secret;

    #[test]
    fn server_function_arguments_print_no_secret() {
        let sign_in = SignIn {
            email: "ada@example.test".to_string(),
            password: Secret::from("correct horse battery".to_string()),
            csrf: Secret::from("csrf-token".to_string()),
            next: None,
        };
        let printed = format!("{sign_in:?}");
        assert!(printed.contains("ada@example.test"), "{printed}");
        assert!(!printed.contains("correct horse"), "{printed}");
        assert!(!printed.contains("csrf-token"), "{printed}");

        let save = SaveOidc {
            csrf: Secret::from("csrf-token".to_string()),
            discovery_url: Some("https://example.okta.com".to_string()),
            client_id: Some("0oa1client".to_string()),
            client_secret: Some(Secret::from("s3cr3t-from-okta".to_string())),
            token_auth_method: None,
        };
        let printed = format!("{save:?}");
        assert!(printed.contains("0oa1client"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(!printed.contains("csrf-token"), "{printed}");
    }

    #[test]
    fn return_path_keeps_same_origin_paths_only() {
        assert_eq!(
            safe_return_path(Some("/settings/iam/identity")),
            "/settings/iam/identity"
        );
        assert_eq!(safe_return_path(Some("//evil.example/")), "/");
        assert_eq!(safe_return_path(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_path(Some("https://evil.example/")), "/");
        assert_eq!(safe_return_path(Some("/a\r\nSet-Cookie: x")), "/");
        assert_eq!(safe_return_path(Some("/\t/evil.example")), "/");
        assert_eq!(safe_return_path(Some("/ /evil.example")), "/");
        assert_eq!(safe_return_path(Some("/a\\b")), "/");
        assert_eq!(safe_return_path(Some("/\u{7f}/evil.example")), "/");
        assert_eq!(safe_return_path(Some("/users?page=2")), "/users?page=2");
        assert_eq!(safe_return_path(None), "/");
    }
}
