//! The seam between the pages and the server: `server` implements [`Backend`] and hands it to
//! Leptos as context, so this crate never compiles database, SAML or OIDC code.

use std::sync::Arc;

use http::request::Parts;

use crate::model::{
    AppError, AuditQuery, AuditView, CreatedPool, IdentitySettings, LoginPageInfo, NewPersonForm,
    OidcForm, PersonEdit, PersonView, PoolDetail, PoolEdit, PoolsView, RoleRow, SamlForm,
    ShellInfo, UsersQuery, UsersView,
};

/// Cookies a call wants set on the response, as `Set-Cookie` header values.
pub type SetCookies = Vec<String>;

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn shell(&self, request: &Parts) -> Result<ShellInfo, AppError>;
    async fn login_page(&self, request: &Parts) -> Result<(LoginPageInfo, SetCookies), AppError>;
    async fn sign_in(
        &self,
        request: &Parts,
        email: String,
        password: String,
        csrf: String,
    ) -> Result<SetCookies, AppError>;
    async fn sign_out(&self, request: &Parts, csrf: String) -> Result<SetCookies, AppError>;
    async fn identity_settings(&self, request: &Parts) -> Result<IdentitySettings, AppError>;
    async fn save_login_method(
        &self,
        request: &Parts,
        csrf: String,
        sso: bool,
    ) -> Result<IdentitySettings, AppError>;
    async fn save_saml(
        &self,
        request: &Parts,
        csrf: String,
        form: SamlForm,
    ) -> Result<IdentitySettings, AppError>;
    async fn users_page(&self, request: &Parts, query: UsersQuery) -> Result<UsersView, AppError>;
    async fn add_person(
        &self,
        request: &Parts,
        csrf: String,
        form: NewPersonForm,
    ) -> Result<i32, AppError>;
    async fn person_page(&self, request: &Parts, id: i32) -> Result<PersonView, AppError>;
    async fn change_person(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        edit: PersonEdit,
    ) -> Result<PersonView, AppError>;
    /// Removes the person; answers their email.
    async fn remove_person(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
    ) -> Result<String, AppError>;
    async fn pools_page(&self, request: &Parts) -> Result<PoolsView, AppError>;
    async fn pool_page(&self, request: &Parts, id: i32) -> Result<PoolDetail, AppError>;
    async fn create_pool(
        &self,
        request: &Parts,
        csrf: String,
        name: String,
        roles: Vec<String>,
    ) -> Result<CreatedPool, AppError>;
    async fn change_pool(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        edit: PoolEdit,
    ) -> Result<PoolDetail, AppError>;
    /// A new agent key for the pool, shown once.
    async fn rotate_pool_key(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
    ) -> Result<String, AppError>;
    async fn delete_pool(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        confirm: bool,
    ) -> Result<(), AppError>;
    async fn roles_page(&self, request: &Parts) -> Result<Vec<RoleRow>, AppError>;
    async fn audit_page(&self, request: &Parts, query: AuditQuery) -> Result<AuditView, AppError>;
    async fn save_oidc(
        &self,
        request: &Parts,
        csrf: String,
        form: OidcForm,
    ) -> Result<IdentitySettings, AppError>;
    async fn save_provisioning(
        &self,
        request: &Parts,
        csrf: String,
        jit_enabled: bool,
    ) -> Result<IdentitySettings, AppError>;
}

pub type SharedBackend = Arc<dyn Backend>;
