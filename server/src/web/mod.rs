//! The pages' backend: what each server function of `app` asks of the portal.

mod access;

use app::backend::{Backend, SetCookies};
use app::model::{
    AppError, CertificateView, IdentitySettings, LoginPageInfo, Me, OidcForm, OidcView, RpView,
    SamlForm, SamlView, Secret, ShellInfo, SpView, SsoSignInView,
};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::{
    self,
    caller::{Caller, Via},
    password, session,
};
use crate::db::entities::user;
use crate::domain::{Email, Role};
use crate::error::PortalError;
use crate::identity::{jit_obstacle, IdentityChange, IdentityConfig};
use crate::people;
use crate::state::{CorrelationId, Portal};

/// The double-submit cookie that protects the sign-in form, which has no session yet
/// ([`auth::cookie_name`]: over https no other host of the site can plant a known one).
fn login_csrf_cookie(secure: bool) -> &'static str {
    auth::cookie_name(secure, "__Host-portal_login_csrf")
}

/// Who a failed password sign-in was, in the audit log, when what was typed as the email is not
/// an address.
pub const NOT_AN_ADDRESS: &str = "(not an email address)";

fn correlation(request: &Parts) -> String {
    request
        .extensions
        .get::<CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_else(|| CorrelationId::new().0)
}

impl Portal {
    async fn page_admin(&self, request: &Parts) -> Result<Caller, PortalError> {
        self.request_caller(request).await?.require(Role::Admin)
    }

    /// An admin submitting a form: the session's CSRF token must come with it.
    async fn page_admin_form(&self, request: &Parts, csrf: &str) -> Result<Caller, PortalError> {
        let caller = self.page_admin(request).await?;
        caller.check_csrf(csrf)?;
        Ok(caller)
    }

    async fn identity_settings_view(
        &self,
        config: &IdentityConfig,
        caller: &Caller,
    ) -> Result<IdentitySettings, PortalError> {
        let release = self.config.release;
        // OIDC settings kept from 1.54 or later, on a release that signs in with SAML only: the
        // page says so, and does not count them as an identity provider in force.
        let oidc_stranded = config.oidc_stranded(release);
        let last_sso_sign_in = self.last_sso_arrival().await?.map(|arrival| {
            let received = |name: &str| arrival.attributes_received.iter().any(|a| a == name);
            SsoSignInView {
                at: arrival.at.format("%Y-%m-%d %H:%M UTC").to_string(),
                first_name: received("firstName"),
                last_name: received("lastName"),
                email: received("email"),
                protocol: arrival.protocol,
                succeeded: arrival.succeeded,
            }
        });
        Ok(IdentitySettings {
            release: release.to_string(),
            jit_label: release.jit_label().to_string(),
            oidc_available: release.offers_oidc(),
            plan: self.config.plan.as_str().to_string(),
            login_method: config.login_method.as_str().to_string(),
            sso_summary: if oidc_stranded {
                Some(format!(
                    "OpenID Connect settings are stored, but release {release} signs in with SAML 2.0 only: single sign-on is off until SAML is configured here or Portal runs release 1.54 or later."
                ))
            } else {
                config.summary()
            },
            saml: config
                .saml
                .as_ref()
                .filter(|_| config.protocol == Some(crate::domain::SsoProtocol::Saml))
                .map(|saml| SamlView {
                    idp_entity_id: saml.idp_entity_id.clone().unwrap_or_default(),
                    idp_sso_url: saml.idp_sso_url.clone().unwrap_or_default(),
                    certificates: saml
                        .idp_certificates
                        .iter()
                        .filter_map(|pem| crate::identity::certificate_info(pem).ok())
                        .map(|info| CertificateView {
                            subject: info.subject,
                            expires: info.expires_at.format("%Y-%m-%d").to_string(),
                        })
                        .collect(),
                    allow_idp_initiated: saml.allow_idp_initiated,
                }),
            protocol: config
                .protocol
                .filter(|_| !oidc_stranded)
                .map(|p| p.as_str().to_string()),
            oidc: config
                .document()
                .sso
                .oidc
                .filter(|_| config.oidc().is_some())
                .map(|oidc| OidcView {
                    discovery_url: oidc.discovery_url,
                    client_id: oidc.client_id,
                    client_secret_set: oidc.client_secret_set,
                    client_secret_problem: oidc.client_secret_unreadable,
                    token_auth_method: match oidc.token_auth_method {
                        crate::identity::TokenAuthMethod::ClientSecretBasic => {
                            "client_secret_basic"
                        }
                        crate::identity::TokenAuthMethod::ClientSecretPost => "client_secret_post",
                    }
                    .to_string(),
                }),
            rp: RpView {
                redirect_uri: self.oidc_redirect_uri(),
                scopes: crate::sso::oidc::SCOPES.join(" "),
            },
            sp: {
                let sp = self.saml_sp();
                SpView {
                    entity_id: sp.entity_id,
                    acs_url: sp.acs_url,
                    name_id_format: crate::sso::saml::verify::EMAIL_NAME_ID.to_string(),
                }
            },
            provisioning_method: config.provisioning.as_str().to_string(),
            jit_enabled: config.provisioning == crate::domain::ProvisioningMethod::SsoJit,
            jit_unavailable_reason: jit_obstacle(config, self.config.plan, release),
            updated_by: config.updated_by.clone(),
            updated_at: config
                .updated_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            last_sso_sign_in,
            plain_http_public_url: self
                .config
                .public_url_in_clear()
                .then(|| self.config.public_url.to_string()),
            csrf_token: session_csrf(caller),
        })
    }

    /// Signs in with a password. `device` is the browser's device cookie, if it has one.
    ///
    /// A failure is audited under the address typed, or [`NOT_AN_ADDRESS`].
    async fn password_sign_in(
        &self,
        email: &str,
        password: String,
        device: Option<&str>,
        correlation_id: &str,
    ) -> Result<SetCookies, PortalError> {
        let now = Utc::now();
        let parsed = Email::parse(email).ok();
        let account = match &parsed {
            Some(email) => people::find_by_email(&self.db, email).await?,
            None => None,
        };
        // A browser that signed in to this account before counts its failures alone.
        let counted = parsed.as_ref().map(|email| {
            let password = account.as_ref().and_then(|a| a.password_hash.as_ref());
            let recognised = device.zip(password).and_then(|(value, password)| {
                auth::device::recognise(&self.secret_key, email, password, value, now)
            });
            match recognised {
                Some(id) => password::Counted::device(email, &id),
                None => password::Counted::email(email),
            }
        });
        // The address typed is recorded, account or not; anything else typed there is not, for
        // it may be a password typed into the wrong box, and Viewers read the audit log.
        let typed = parsed
            .as_ref()
            .map_or_else(|| NOT_AN_ADDRESS.to_string(), Email::to_string);
        let refuse = |reason: &str, account: Option<&user::Model>| AuditEvent {
            actor_id: account.map(|a| a.id),
            actor: &typed,
            action: "sign_in.password",
            target: &typed,
            outcome: Outcome::Failure,
            details: serde_json::json!({ "reason": reason }),
            correlation_id,
        };
        // The lock is by the email typed, account or not, so that it tells nobody which
        // addresses have one. While it holds, every answer is the lock's.
        let unless_locked = async |account: Option<&user::Model>| -> Result<(), PortalError> {
            let minutes = match &counted {
                Some(counted) => password::locked_minutes(&self.db, counted, Utc::now()).await?,
                None => None,
            };
            let Some(minutes) = minutes else {
                return Ok(());
            };
            crate::metrics::refused("local", "locked");
            audit::record(
                &self.db,
                refuse("locked after repeated failed sign-ins", account),
            )
            .await?;
            Err(PortalError::SignInLocked { minutes })
        };
        // Locked, the password is not even checked.
        unless_locked(account.as_ref()).await?;
        let verified = password::verify(
            password,
            account.as_ref().and_then(|a| a.password_hash.clone()),
        )
        .await;
        let account = match account {
            Some(account) if verified => account,
            other => {
                if let Some(counted) = &counted {
                    // Now, after the check: the lock runs from the failure that sets it.
                    password::record_failure(&self.db, counted, Utc::now()).await?;
                }
                // Locked by this failure or by guesses sent alongside: the lock answers, so
                // that no answer tells a right guess from a wrong one.
                unless_locked(other.as_ref()).await?;
                crate::metrics::refused("local", "bad_credentials");
                audit::record(
                    &self.db,
                    refuse("email and password do not match", other.as_ref()),
                )
                .await?;
                return Err(PortalError::BadCredentials);
            }
        };
        // Guesses sent at once all passed the first check before any failed: one that was
        // right is refused all the same if the others locked the email meanwhile.
        unless_locked(Some(&account)).await?;
        if !account.active {
            crate::metrics::refused("local", "inactive");
            audit::record(&self.db, refuse("account deactivated", Some(&account))).await?;
            return Err(PortalError::AccountDisabled);
        }
        let (cookie, _) = session::start(&self.db, self.session_policy(), account.id).await?;
        let mut touched: user::ActiveModel = account.clone().into();
        touched.last_login_at = Set(Some(now));
        touched.update(&self.db).await?;
        if let Some(counted) = &counted {
            password::clear_failures(&self.db, counted).await?;
        }
        audit::record(
            &self.db,
            AuditEvent {
                actor_id: Some(account.id),
                actor: &account.email,
                action: "sign_in.password",
                target: &account.email,
                outcome: Outcome::Success,
                details: serde_json::json!({}),
                correlation_id,
            },
        )
        .await?;
        crate::metrics::signed_in("local");
        let mut cookies = vec![
            cookie,
            session::expired_cookie(
                login_csrf_cookie(self.config.cookies_secure()),
                self.config.cookies_secure(),
            ),
        ];
        if let (Some(email), Some(password)) = (&parsed, &account.password_hash) {
            let secure = self.config.cookies_secure();
            let device = auth::device::issue(&self.secret_key, email, password, now, secure);
            cookies.push(device);
        }
        Ok(cookies)
    }
}

fn session_csrf(caller: &Caller) -> Secret {
    match &caller.via {
        Via::Session { csrf_token, .. } => Secret::from(csrf_token.clone()),
        Via::Token => Secret::default(),
    }
}

#[async_trait::async_trait]
impl Backend for Portal {
    async fn shell(&self, request: &Parts) -> Result<ShellInfo, AppError> {
        let id = correlation(request);
        let caller = self
            .request_caller(request)
            .await
            .map_err(|e| e.for_page(&id))?;
        Ok(ShellInfo {
            me: Me {
                id: caller.user.id,
                email: caller.user.email.clone(),
                first_name: caller.user.first_name.clone(),
                last_name: caller.user.last_name.clone(),
                is_admin: caller.has(Role::Admin),
                can_read_people: caller.may_read_people(),
                csrf_token: session_csrf(&caller),
                roles: caller.roles,
            },
            release: self.config.release.to_string(),
        })
    }

    async fn login_page(&self, request: &Parts) -> Result<(LoginPageInfo, SetCookies), AppError> {
        let existing = session::read_cookie(
            &request.headers,
            login_csrf_cookie(self.config.cookies_secure()),
        )
        .filter(|t| t.len() >= 43);
        let (token, cookies) = match existing {
            Some(token) => (token, vec![]),
            None => {
                let token = auth::random_secret();
                let cookie = axum_extra::extract::cookie::Cookie::build((
                    login_csrf_cookie(self.config.cookies_secure()),
                    token.clone(),
                ))
                .path("/")
                .http_only(true)
                .secure(self.config.cookies_secure())
                .same_site(axum_extra::extract::cookie::SameSite::Strict)
                .build()
                .to_string();
                (token, vec![cookie])
            }
        };
        let config = self
            .identity_config()
            .await
            .map_err(|e| e.for_page(&correlation(request)))?;
        let sso_start = match config.protocol {
            Some(crate::domain::SsoProtocol::Saml) if config.sso_configured() => {
                Some("/sso/saml/login".to_string())
            }
            Some(crate::domain::SsoProtocol::Oidc)
                if config.sso_configured() && self.config.release.offers_oidc() =>
            {
                Some("/sso/oidc/login".to_string())
            }
            _ => None,
        };
        let info = LoginPageInfo {
            csrf_token: Secret::from(token),
            release: self.config.release.to_string(),
            sso_is_login_method: sso_start.is_some()
                && config.login_method == crate::domain::LoginMethod::Sso,
            sso_start,
        };
        Ok((info, cookies))
    }

    async fn sign_in(
        &self,
        request: &Parts,
        email: String,
        password: String,
        csrf: String,
    ) -> Result<SetCookies, AppError> {
        let id = correlation(request);
        let expected = session::read_cookie(
            &request.headers,
            login_csrf_cookie(self.config.cookies_secure()),
        )
        .unwrap_or_default();
        if !auth::tokens_match(&csrf, &expected) {
            return Err(AppError::CsrfRejected);
        }
        if let (Some(rate), Some(ConnectInfo(peer))) = (
            &self.password_attempts,
            request
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>(),
        ) {
            if let Err(seconds) = rate.take(rate.client(&request.headers, peer.ip())) {
                crate::metrics::refused("local", "rate_limited");
                tracing::warn!(correlation_id = id, "password sign-in rate limit reached");
                return Err(AppError::TooManyAttempts { seconds });
            }
        }
        let device = session::read_cookie(
            &request.headers,
            auth::device::cookie_name(self.config.cookies_secure()),
        );
        let cookies = self
            .password_sign_in(&email, password, device.as_deref(), &id)
            .await
            .map_err(|e| e.for_page(&id))?;
        // The session this browser held before (someone else's on a shared computer) ends now,
        // not when it would have expired.
        let session_cookie = session::cookie_name(self.config.cookies_secure());
        if let Some(previous) = session::read_cookie(&request.headers, session_cookie) {
            session::end(&self.db, &previous)
                .await
                .map_err(|e| PortalError::from(e).for_page(&id))?;
        }
        Ok(cookies)
    }

    async fn sign_out(&self, request: &Parts, csrf: String) -> Result<SetCookies, AppError> {
        let id = correlation(request);
        let caller = match self.request_caller(request).await {
            Ok(caller) => caller,
            // Already signed out or expired: nothing to end, but clear the cookie all the same.
            Err(PortalError::SignInRequired | PortalError::SessionExpired) => {
                return Ok(vec![session::clear_cookie(self.session_policy())])
            }
            Err(error) => return Err(error.for_page(&id)),
        };
        caller.check_csrf(&csrf).map_err(|e| e.for_page(&id))?;
        if let Via::Session { secret, .. } = &caller.via {
            session::end(&self.db, secret)
                .await
                .map_err(|e| PortalError::from(e).for_page(&id))?;
        }
        audit::record(
            &self.db,
            AuditEvent {
                actor_id: Some(caller.user.id),
                actor: &caller.user.email,
                action: "sign_out",
                target: &caller.user.email,
                outcome: Outcome::Success,
                details: serde_json::json!({}),
                correlation_id: &id,
            },
        )
        .await
        .map_err(|e| PortalError::from(e).for_page(&id))?;
        Ok(vec![session::clear_cookie(self.session_policy())])
    }

    async fn identity_settings(&self, request: &Parts) -> Result<IdentitySettings, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.page_admin(request).await?;
            let config = self.identity_config().await?;
            self.identity_settings_view(&config, &caller).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn save_login_method(
        &self,
        request: &Parts,
        csrf: String,
        sso: bool,
    ) -> Result<IdentitySettings, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.page_admin_form(request, &csrf).await?;
            let edit = |current: &IdentityConfig| {
                let mut doc = current.document();
                doc.login_method = if sso {
                    crate::domain::LoginMethod::Sso
                } else {
                    crate::domain::LoginMethod::Password
                };
                doc
            };
            let config = self
                .change_identity(&caller, IdentityChange::of(&edit), &id)
                .await?;
            self.identity_settings_view(&config, &caller).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn save_saml(
        &self,
        request: &Parts,
        csrf: String,
        form: SamlForm,
    ) -> Result<IdentitySettings, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.page_admin_form(request, &csrf).await?;
            let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
            let edit = |current: &IdentityConfig| {
                let mut doc = current.document();
                // An empty certificate box keeps the certificates in force (the page never
                // echoes them).
                let kept = current
                    .saml
                    .as_ref()
                    .map(|s| s.idp_certificates.clone())
                    .unwrap_or_default();
                let certificates = match (
                    text(&form.certificate),
                    text(&form.metadata_xml).or(text(&form.metadata_url)),
                ) {
                    (Some(pem), _) => vec![pem],
                    (None, None) => kept,
                    (None, Some(_)) => vec![],
                };
                doc.sso.protocol = Some(crate::domain::SsoProtocol::Saml);
                doc.sso.oidc = None;
                doc.sso.saml = Some(crate::identity::SamlSettings {
                    idp_entity_id: text(&form.idp_entity_id),
                    idp_sso_url: text(&form.idp_sso_url),
                    idp_certificates: certificates,
                    metadata_xml: text(&form.metadata_xml),
                    metadata_url: text(&form.metadata_url),
                    allow_idp_initiated: form.allow_idp_initiated,
                });
                doc
            };
            let config = self
                .change_identity(&caller, IdentityChange::of(&edit), &id)
                .await?;
            self.identity_settings_view(&config, &caller).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn users_page(
        &self,
        request: &Parts,
        query: app::model::UsersQuery,
    ) -> Result<app::model::UsersView, AppError> {
        self.users_page_view(request, query).await
    }

    async fn add_person(
        &self,
        request: &Parts,
        csrf: String,
        form: app::model::NewPersonForm,
    ) -> Result<i32, AppError> {
        self.add_person_form(request, csrf, form).await
    }

    async fn person_page(
        &self,
        request: &Parts,
        id: i32,
    ) -> Result<app::model::PersonView, AppError> {
        self.person_page_view(request, id).await
    }

    async fn change_person(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        edit: app::model::PersonEdit,
    ) -> Result<app::model::PersonView, AppError> {
        self.change_person_form(request, csrf, id, edit).await
    }

    async fn remove_person(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
    ) -> Result<String, AppError> {
        self.remove_person_form(request, csrf, id).await
    }

    async fn pools_page(&self, request: &Parts) -> Result<app::model::PoolsView, AppError> {
        self.pools_page_view(request).await
    }

    async fn pool_page(
        &self,
        request: &Parts,
        id: i32,
    ) -> Result<app::model::PoolDetail, AppError> {
        self.pool_page_view(request, id).await
    }

    async fn create_pool(
        &self,
        request: &Parts,
        csrf: String,
        name: String,
        roles: Vec<String>,
    ) -> Result<app::model::CreatedPool, AppError> {
        self.create_pool_form(request, csrf, name, roles).await
    }

    async fn change_pool(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        edit: app::model::PoolEdit,
    ) -> Result<app::model::PoolDetail, AppError> {
        self.change_pool_form(request, csrf, id, edit).await
    }

    async fn rotate_pool_key(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
    ) -> Result<String, AppError> {
        self.rotate_pool_key_form(request, csrf, id).await
    }

    async fn delete_pool(
        &self,
        request: &Parts,
        csrf: String,
        id: i32,
        confirm: bool,
    ) -> Result<(), AppError> {
        self.delete_pool_form(request, csrf, id, confirm).await
    }

    async fn roles_page(&self, request: &Parts) -> Result<Vec<app::model::RoleRow>, AppError> {
        self.roles_page_view(request).await
    }

    async fn audit_page(
        &self,
        request: &Parts,
        query: app::model::AuditQuery,
    ) -> Result<app::model::AuditView, AppError> {
        self.audit_page_view(request, query).await
    }

    async fn save_oidc(
        &self,
        request: &Parts,
        csrf: String,
        form: OidcForm,
    ) -> Result<IdentitySettings, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.page_admin_form(request, &csrf).await?;
            let token_auth_method = match form.token_auth_method.as_str() {
                "" | "client_secret_basic" => crate::identity::TokenAuthMethod::ClientSecretBasic,
                "client_secret_post" => crate::identity::TokenAuthMethod::ClientSecretPost,
                _ => {
                    return Err(PortalError::invalid(
                        "sso.oidc.token_auth_method",
                        "choose client_secret_basic or client_secret_post",
                    ))
                }
            };
            let edit = |current: &IdentityConfig| {
                let mut doc = current.document();
                doc.sso.protocol = Some(crate::domain::SsoProtocol::Oidc);
                doc.sso.saml = None;
                doc.sso.oidc = Some(crate::identity::OidcDocument {
                    discovery_url: form.discovery_url.trim().to_string(),
                    client_id: form.client_id.trim().to_string(),
                    // Empty keeps the stored secret (the page never shows it).
                    client_secret: Some(form.client_secret.clone()).filter(|s| !s.is_empty()),
                    client_secret_set: false,
                    client_secret_unreadable: None,
                    token_auth_method,
                });
                doc
            };
            let config = self
                .change_identity(&caller, IdentityChange::of(&edit), &id)
                .await?;
            self.identity_settings_view(&config, &caller).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn save_provisioning(
        &self,
        request: &Parts,
        csrf: String,
        jit_enabled: bool,
    ) -> Result<IdentitySettings, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.page_admin_form(request, &csrf).await?;
            let config = self.set_sso_jit(&caller, jit_enabled, &id).await?;
            self.identity_settings_view(&config, &caller).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }
}
