//! The seam between the pages and the server: `server` implements [`Backend`] and hands it to
//! Leptos as context, so this crate never compiles database, SAML or OIDC code.

use std::sync::Arc;

use http::request::Parts;

use crate::model::{
    AppError, IdentitySettings, LoginPageInfo, OidcForm, SamlForm, ShellInfo, UserRow,
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
    async fn users(&self, request: &Parts) -> Result<Vec<UserRow>, AppError>;
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
