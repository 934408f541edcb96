//! Settings > Identity and Access Management > Identity Configuration.
//! The Provisioning card's toggle reads "SSO JIT" on release 1.54+ and "SAML JIT" before;
//! both write the same stored provisioning method.

use leptos::prelude::*;

use crate::api::{
    get_identity_settings, page_data, SaveLoginMethod, SaveOidc, SaveProvisioning, SaveSaml,
};
use crate::components::form::{field_error, Card, CopyValue, Field, SaveRow, TextArea};
use crate::components::status::PageError;
use crate::model::{IdentitySettings, OidcView, SamlView, SsoSignInView};
use crate::pages::settings::SettingsFrame;

#[component]
pub fn IdentityConfigurationPage() -> impl IntoView {
    let save = ServerAction::<SaveProvisioning>::new();
    let save_saml = ServerAction::<SaveSaml>::new();
    let save_oidc = ServerAction::<SaveOidc>::new();
    let save_login = ServerAction::<SaveLoginMethod>::new();
    // The settings are read again after a save that took. A refused save leaves the cards as the
    // admin left them: what they typed, the protocol they chose, the error under its field.
    let saves_taken = RwSignal::new(0_usize);
    let took = move || saves_taken.update(|n| *n += 1);
    Effect::new(move |_| save.value().with(|v| matches!(v, Some(Ok(_)))).then(took));
    Effect::new(move |_| {
        save_saml
            .value()
            .with(|v| matches!(v, Some(Ok(_))))
            .then(took)
    });
    Effect::new(move |_| {
        save_oidc
            .value()
            .with(|v| matches!(v, Some(Ok(_))))
            .then(took)
    });
    Effect::new(move |_| {
        save_login
            .value()
            .with(|v| matches!(v, Some(Ok(_))))
            .then(took)
    });
    let settings = page_data(move || saves_taken.get(), |_| get_identity_settings());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(current) => view! {
                        <SettingsFrame>
                            <div class="space-y-6">
                                {view! { <OktaSetup settings=current.clone() /> }.into_any()}
                                <LoginMethodCard settings=current.clone() save=save_login />
                                <SingleSignOnCard settings=current.clone() save_saml save_oidc />
                                <ProvisioningCard settings=current save />
                            </div>
                        </SettingsFrame>
                    }
                    .into_any(),
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn LoginMethodCard(
    settings: IdentitySettings,
    save: ServerAction<SaveLoginMethod>,
) -> impl IntoView {
    let sso = settings.login_method == "sso";
    let result = move || {
        save.value().get().map(|outcome| match outcome {
            Ok(saved) if saved.login_method == "sso" => (
                true,
                "Saved. People sign in with single sign-on.".to_string(),
            ),
            Ok(_) => (true, "Saved. People sign in with a password.".to_string()),
            Err(error) => (false, error.to_string()),
        })
    };
    view! {
        <Card title="Login method" id="login-method-title">
            <ActionForm action=save attr:class="mt-3 space-y-3">
                <input type="hidden" name="csrf" value=settings.csrf_token.reveal().to_owned() />
                <fieldset class="flex flex-wrap gap-6 text-sm">
                    <legend class="sr-only">"How people sign in"</legend>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="method" value="password" checked=!sso class="h-4 w-4 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                        "Password"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="method" value="sso" checked=sso class="h-4 w-4 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                        "Single sign-on (SSO)"
                    </label>
                </fieldset>
                <p class="text-sm text-slate-500">
                    "Local admin sign-in with email and password stays available whatever is chosen here, so that an administrator is never locked out."
                </p>
                <SaveRow label="Save" pending=save.pending().into() result=Signal::derive(result) testid="login-method-result" />
            </ActionForm>
        </Card>
    }
}

#[component]
fn SingleSignOnCard(
    settings: IdentitySettings,
    save_saml: ServerAction<SaveSaml>,
    save_oidc: ServerAction<SaveOidc>,
) -> impl IntoView {
    let protocols = if settings.oidc_available {
        "SAML 2.0 or OpenID Connect"
    } else {
        "SAML 2.0"
    };
    // Which form shows: the protocol in force, else SAML; the radios switch it before saving.
    let choice = RwSignal::new(
        settings
            .protocol
            .clone()
            .filter(|p| p == "oidc" && settings.oidc_available)
            .unwrap_or_else(|| "saml".to_string()),
    );
    let summary = settings.sso_summary.clone().unwrap_or_else(|| {
        format!("No identity provider is configured. Portal supports Okta over {protocols}.")
    });
    view! {
        <Card title="Single sign-on" id="sso-title">
            <p class="mt-2 text-sm text-slate-700" data-testid="sso-summary">{summary}</p>
            {settings.oidc_available.then(|| view! {
                <fieldset class="mt-4 flex flex-wrap gap-6 text-sm">
                    <legend class="mb-1 text-sm font-semibold">"Protocol"</legend>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="protocol-choice" value="saml"
                            prop:checked=move || choice.get() == "saml"
                            on:change=move |_| choice.set("saml".into())
                            class="h-4 w-4 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                        "SAML 2.0"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="protocol-choice" value="oidc"
                            prop:checked=move || choice.get() == "oidc"
                            on:change=move |_| choice.set("oidc".into())
                            class="h-4 w-4 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                        "OpenID Connect"
                    </label>
                    <p class="w-full text-xs text-slate-500">"Portal trusts one identity provider: saving one protocol's settings replaces the other's."</p>
                </fieldset>
            }.into_any())}
            <div class:hidden=move || choice.get() != "saml">
                {view! { <SamlSection settings=settings.clone() save=save_saml /> }.into_any()}
            </div>
            {settings.oidc_available.then(|| view! {
                <div class:hidden=move || choice.get() != "oidc">
                    {view! { <OidcSection settings=settings.clone() save=save_oidc /> }.into_any()}
                </div>
            }.into_any())}
        </Card>
    }
}

#[component]
fn SamlSection(settings: IdentitySettings, save: ServerAction<SaveSaml>) -> impl IntoView {
    let saml = settings.saml.clone();
    let result = move || {
        save.value().get().map(|outcome| match outcome {
            Ok(_) => (
                true,
                "Saved. SAML sign-in uses these settings now.".to_string(),
            ),
            Err(error) => (false, error.to_string()),
        })
    };
    let invalid = move |fields: &'static [&'static str]| {
        Signal::derive(move || field_error(save.value().get(), fields))
    };
    let current = saml.clone().unwrap_or(SamlView {
        idp_entity_id: String::new(),
        idp_sso_url: String::new(),
        certificates: vec![],
        allow_idp_initiated: true,
    });
    view! {
            <div class="mt-2 grid gap-6 lg:grid-cols-5">
                <div class="lg:col-span-3">
                    {(!current.certificates.is_empty()).then(|| view! {
                        <ul class="mt-3 space-y-1 text-sm" aria-label="Certificates in force">
                            {current.certificates.iter().map(|c| view! {
                                <li data-testid="idp-certificate" class="rounded bg-slate-50 px-3 py-2">
                                    <span class="font-medium">{c.subject.clone()}</span>
                                    <span class="text-slate-600">" · expires " {c.expires.clone()}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    })}
                    <ActionForm action=save attr:class="mt-4 space-y-4">
                        <input type="hidden" name="csrf" value=settings.csrf_token.reveal().to_owned() />
                        <fieldset class="space-y-2">
                            <legend class="text-sm font-semibold">"SAML 2.0: import the IdP metadata from Okta"</legend>
                            <Field label="IdP metadata URL" name="metadata_url" id="saml-metadata-url" value=String::new() placeholder="https://example.okta.com/app/…/sso/saml/metadata" kind="url" hint="Okta: the Portal app > Sign On tab > Metadata URL." error=invalid(&["sso.saml.metadata_url"]) />
                            <TextArea label="…or paste the IdP metadata XML" name="metadata_xml" id="saml-metadata-xml" error=invalid(&["sso.saml.metadata_xml"]) />
                        </fieldset>
                        <details class="rounded border border-slate-200 p-3" open=saml.is_some()>
                            <summary class="cursor-pointer text-sm font-semibold">"…or enter the three values by hand"</summary>
                            <div class="mt-3 space-y-2">
                                <Field label="IdP entity id (Issuer)" name="idp_entity_id" id="saml-entity-id" value=current.idp_entity_id.clone() placeholder="http://www.okta.com/exk…" error=invalid(&["sso.saml.idp_entity_id"]) />
                                <Field label="IdP single sign-on URL" name="idp_sso_url" id="saml-sso-url" value=current.idp_sso_url.clone() placeholder="https://example.okta.com/app/…/sso/saml" kind="url" error=invalid(&["sso.saml.idp_sso_url"]) />
                                <TextArea label="IdP signing certificate (PEM); leave empty to keep the one in force" name="certificate" id="saml-certificate" error=invalid(&["sso.saml.idp_certificates"]) />
                            </div>
                        </details>
                        <label class="flex items-center gap-3 text-sm">
                            <input type="checkbox" name="allow_idp_initiated" value="on" checked=current.allow_idp_initiated class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                            "Allow IdP-initiated sign-in (Okta dashboard tile)"
                        </label>
                        <SaveRow
                            label="Save SAML settings"
                            pending=save.pending().into()
                            result=Signal::derive(result)
                            testid="saml-result"
                        />
                    </ActionForm>
                </div>
                <aside class="rounded-lg bg-slate-50 p-4 lg:col-span-2" aria-labelledby="okta-values-title">
                    <h3 id="okta-values-title" class="text-sm font-semibold">"Values for Okta"</h3>
                    <p class="mt-1 text-xs text-slate-600">"In Okta's SAML settings for the Portal app, enter:"</p>
                    <dl class="mt-3 space-y-3 text-sm">
                        <CopyValue label="Single sign-on URL (ACS)" value=settings.sp.acs_url.clone() testid="sp-acs-url" />
                        <CopyValue label="Audience URI (SP entity id)" value=settings.sp.entity_id.clone() testid="sp-entity-id" />
                        <CopyValue label="Name ID format" value="EmailAddress".to_string() testid="sp-name-id-format" />
                        <CopyValue label="Attribute statement" value="firstName = user.firstName".to_string() testid="sp-attribute-first" copy_label="Copy attribute statement firstName" />
                        <CopyValue label="Attribute statement" value="lastName = user.lastName".to_string() testid="sp-attribute-last" copy_label="Copy attribute statement lastName" />
                        <CopyValue label="Attribute statement" value="email = user.email".to_string() testid="sp-attribute-email" copy_label="Copy attribute statement email" />
                    </dl>
                    <a href=SP_METADATA_DOWNLOAD download="portal-sp-metadata.xml" data-testid="sp-metadata-download" class="mt-4 inline-block text-sm text-indigo-700 underline">"Download SP metadata"</a>
                </aside>
            </div>
    }
}

#[component]
fn OidcSection(settings: IdentitySettings, save: ServerAction<SaveOidc>) -> impl IntoView {
    let result = move || {
        save.value().get().map(|outcome| match outcome {
            Ok(_) => (
                true,
                "Saved. OpenID Connect sign-in uses these settings now.".to_string(),
            ),
            Err(error) => (false, error.to_string()),
        })
    };
    let invalid = move |fields: &'static [&'static str]| {
        Signal::derive(move || field_error(save.value().get(), fields))
    };
    let current = settings.oidc.clone().unwrap_or(OidcView {
        discovery_url: String::new(),
        client_id: String::new(),
        client_secret_set: false,
        client_secret_problem: None,
        token_auth_method: "client_secret_basic".into(),
    });
    let secret_error = invalid(&["sso.oidc.client_secret"]);
    let post = current.token_auth_method == "client_secret_post";
    let secret_state = match (&current.client_secret_problem, current.client_secret_set) {
        (Some(problem), _) => problem.clone(),
        (None, true) => "A client secret is stored. Leave the field empty to keep it.".into(),
        (None, false) => "No client secret is stored yet.".into(),
    };
    let secret_state_class = if current.client_secret_problem.is_some() {
        "mt-1 text-xs font-medium text-red-700"
    } else {
        "mt-1 text-xs text-slate-600"
    };
    view! {
        <div class="mt-2 grid gap-6 lg:grid-cols-5">
            <div class="lg:col-span-3">
                <ActionForm action=save attr:class="mt-4 space-y-3">
                    <input type="hidden" name="csrf" value=settings.csrf_token.reveal().to_owned() />
                    <Field label="Discovery URL" name="discovery_url" id="oidc-discovery-url" value=current.discovery_url.clone() placeholder="https://example.okta.com/oauth2/default/.well-known/openid-configuration" kind="url" required=true error=invalid(&["sso.oidc.discovery_url", "sso.oidc"]) />
                    <Field label="Client ID" name="client_id" id="oidc-client-id" value=current.client_id.clone() placeholder="0oa…" required=true error=invalid(&["sso.oidc.client_id"]) />
                    <div>
                        <label for="oidc-client-secret" class="block text-sm font-medium text-slate-700">"Client secret"</label>
                        <input
                            id="oidc-client-secret"
                            name="client_secret"
                            type="password"
                            autocomplete="off"
                            aria-describedby=move || if secret_error.get().is_some() { "oidc-secret-state oidc-client-secret-error" } else { "oidc-secret-state" }
                            aria-invalid=move || secret_error.get().map(|_| "true")
                            class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 text-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500 aria-[invalid=true]:border-red-600"
                        />
                        <p id="oidc-secret-state" data-testid="oidc-secret-state" class=secret_state_class>{secret_state}</p>
                        {move || secret_error.get().map(|text| view! {
                            <p id="oidc-client-secret-error" class="mt-1 text-sm text-red-700">{text}</p>
                        })}
                    </div>
                    <div>
                        <label for="oidc-token-auth" class="block text-sm font-medium text-slate-700">"Token endpoint authentication"</label>
                        <select id="oidc-token-auth" name="token_auth_method" class="mt-1 block rounded border border-slate-300 px-3 py-2 text-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500">
                            <option value="client_secret_basic" selected=!post>"Client secret, HTTP Basic (client_secret_basic)"</option>
                            <option value="client_secret_post" selected=post>"Client secret in the request body (client_secret_post)"</option>
                        </select>
                    </div>
                    <p class="text-xs text-slate-500">"On save, Portal fetches the discovery document and the signing keys; if either fails, nothing changes."</p>
                    <SaveRow
                        label="Save OIDC settings"
                        pending=save.pending().into()
                        result=Signal::derive(result)
                        testid="oidc-result"
                    />
                </ActionForm>
            </div>
            <aside class="rounded-lg bg-slate-50 p-4 lg:col-span-2" aria-labelledby="okta-oidc-values-title">
                <h3 id="okta-oidc-values-title" class="text-sm font-semibold">"Values for Okta"</h3>
                <p class="mt-1 text-xs text-slate-600">"In Okta, create an OIDC Web Application with the Authorization Code grant, and enter:"</p>
                <dl class="mt-3 space-y-3 text-sm">
                    <CopyValue label="Sign-in redirect URI" value=settings.rp.redirect_uri.clone() testid="oidc-redirect-uri" />
                    <CopyValue label="Scopes" value=settings.rp.scopes.clone() testid="oidc-scopes" />
                </dl>
                <p class="mt-3 text-xs text-slate-600">"Portal reads given_name, family_name and email (with email_verified) from the ID token or UserInfo."</p>
            </aside>
        </div>
    }
}

#[component]
fn ProvisioningCard(
    settings: IdentitySettings,
    save: ServerAction<SaveProvisioning>,
) -> impl IntoView {
    let label = settings.jit_label.clone();
    let reason = settings.jit_unavailable_reason.clone();
    // What saving would change for people who have no account yet, said before it is saved.
    let saved_on = settings.jit_enabled;
    let chosen = RwSignal::new(saved_on);
    let label_for_effect = settings.jit_label.clone();
    let effect = move || {
        let on = chosen.get();
        (on != saved_on).then(|| {
            if on {
                format!("After saving: with {label_for_effect} on, a new person gets an account at their first Okta sign-in, in the default agent pool with the User role. People are no longer added by hand.")
            } else {
                format!("After saving: with {label_for_effect} off, a new person who signs in with Okta is refused until an admin adds them by hand. Existing accounts keep working.")
            }
        })
    };
    // The toggle can always be turned off; it can be turned on only when nothing stands in the way.
    let locked = !settings.jit_enabled && reason.is_some();
    let result = move || {
        save.value().get().map(|outcome| match outcome {
            Ok(saved) => {
                let state = if saved.jit_enabled { "on" } else { "off" };
                (true, format!("Saved. {} is {state}.", saved.jit_label))
            }
            Err(error) => (false, error.to_string()),
        })
    };
    let changed = match (&settings.updated_by, &settings.updated_at) {
        (Some(by), Some(at)) => Some(format!("Last changed by {by} at {at}")),
        _ => None,
    };
    view! {
        <Card title="Provisioning" id="provisioning-title">
            <ActionForm action=save attr:class="mt-4 space-y-3">
                <input type="hidden" name="csrf" value=settings.csrf_token.reveal().to_owned() />
                <label class="flex items-center gap-3">
                    <input
                        type="checkbox"
                        role="switch"
                        name="jit"
                        value="on"
                        checked=settings.jit_enabled
                        on:change=move |event| chosen.set(event_target_checked(&event))
                        disabled=locked
                        aria-describedby="jit-help"
                        class="h-5 w-5 rounded border-slate-300 text-indigo-600 focus:ring-2 focus:ring-indigo-500"
                    />
                    <span class="font-medium">{label}</span>
                </label>
                <p id="jit-help" class="text-sm text-slate-600">
                    "When on, a person who signs in with Okta for the first time gets a Portal account at once, in the default agent pool with the User role, flagged as JIT-provisioned. Removing them in Okta does not remove them from Portal: an administrator removes them here."
                </p>
                {reason.map(|text| view! {
                    <p class="text-sm text-amber-800" data-testid="jit-unavailable">{text}</p>
                })}
                <p class="text-sm font-medium text-indigo-900" data-testid="provisioning-effect" aria-live="polite">{effect}</p>
                <SaveRow
                    label="Save"
                    pending=save.pending().into()
                    result=Signal::derive(result)
                    testid="provisioning-result"
                />
                {changed.map(|text| view! {
                    <p class="text-xs text-slate-500" data-testid="provisioning-changed">{text}</p>
                })}
            </ActionForm>
        </Card>
    }
}

/// Where "Download SP metadata" points: the SP metadata as a file to save.
const SP_METADATA_DOWNLOAD: &str = "/sso/saml/metadata?download=1";

/// Okta's guide to SSO JIT provisioning, walked through with this portal's values, under a
/// checklist of what is done: an identity provider, a sign-in that carried the attributes, JIT.
#[component]
fn OktaSetup(settings: IdentitySettings) -> impl IntoView {
    let checks = SetupChecks::of(&settings);
    let done = checks.done();
    let label = settings.jit_label.clone();
    let jit_title = if settings.jit_label == "SAML JIT" {
        "SAML JIT on"
    } else {
        "SSO JIT on"
    };
    // Open until everything is done; then the checklist alone says that it works.
    let open = done < 3;
    let columns = if settings.oidc_available {
        "mt-4 grid gap-8 lg:grid-cols-2"
    } else {
        "mt-4 grid gap-8"
    };
    view! {
        <section aria-labelledby="okta-setup-title" data-testid="okta-setup" class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 id="okta-setup-title" class="text-lg font-semibold">"Okta setup"</h2>
                <p class="text-sm text-slate-600" data-testid="okta-setup-progress">{format!("{done} of 3 done")}</p>
            </div>
            <p class="mt-1 text-sm text-slate-600">
                "Okta sends a person's name and email at each sign-in; with " {label.clone()} " on, Portal creates the account of a person it does not know yet."
            </p>
            {settings.plain_http_public_url.clone().map(|url| view! {
                <p class="mt-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900" data-testid="plain-http-warning">
                    "Portal's public URL, " <code>{url}</code> ", is plain http: passwords, session cookies and Okta's answers cross the network unencrypted. Serve Portal over TLS (a load balancer or proxy in front of it will do) and set PORTAL_PUBLIC_URL to its https:// address before people sign in."
                </p>
            }.into_any())}
            <ul class="mt-3 divide-y divide-slate-100" aria-label="Status checklist">
                {view! { <CheckItem done=checks.idp.0 title="Identity provider configured" detail=checks.idp.1 testid="check-idp" />
                <CheckItem done=checks.attributes.0 title="The last Okta sign-in carried first name, last name and email" detail=checks.attributes.1 testid="check-attributes" />
                <CheckItem done=checks.jit.0 title=jit_title detail=checks.jit.1 testid="check-jit" /> }.into_any()}
            </ul>
            <details class="mt-4 border-t border-slate-200 pt-4" open=open data-testid="okta-guide">
                <summary class="cursor-pointer text-sm font-semibold text-indigo-800">"Step-by-step guide, with this portal's values"</summary>
                <div class=columns>
                    {view! { <SamlGuide settings=settings.clone() /> }.into_any()}
                    {settings.oidc_available.then(|| view! { <OidcGuide settings=settings.clone() /> }.into_any())}
                </div>
            </details>
        </section>
    }
}

/// Each check of the Okta setup: whether it is done, and what it found or what to do next.
struct SetupChecks {
    idp: (bool, String),
    attributes: (bool, String),
    jit: (bool, String),
}

impl SetupChecks {
    fn of(settings: &IdentitySettings) -> SetupChecks {
        let label = &settings.jit_label;
        let idp = match &settings.sso_summary {
            Some(summary) if settings.protocol.is_some() => (true, summary.clone()),
            _ => (
                false,
                "Not yet: create the Portal app in Okta (guide below), then import its IdP metadata in the Single sign-on card and save.".to_string(),
            ),
        };
        let attributes = match &settings.last_sso_sign_in {
            None => (
                false,
                "Not yet: no Okta sign-in has reached Portal. Assign yourself to the Portal app in Okta, then use \"Sign in with Okta\" once (a private window keeps this session).".to_string(),
            ),
            Some(last) => attributes_check(last),
        };
        // Stored on is done only when nothing keeps it from working (plan, release).
        let jit = match (settings.jit_enabled, &settings.jit_unavailable_reason) {
            (_, Some(reason)) => (false, format!("Not yet: {reason}")),
            (true, None) => (
                true,
                format!("{label} is on: a person's first Okta sign-in creates their account, in the default agent pool with the User role."),
            ),
            (false, None) => (
                false,
                format!("Not yet: turn {label} on in the Provisioning card and save."),
            ),
        };
        SetupChecks {
            idp,
            attributes,
            jit,
        }
    }

    fn done(&self) -> usize {
        [&self.idp, &self.attributes, &self.jit]
            .iter()
            .filter(|(done, _)| *done)
            .count()
    }
}

/// What the last sign-in says about Okta's attribute statements (or OIDC claims).
fn attributes_check(last: &SsoSignInView) -> (bool, String) {
    let oidc = last.protocol == "oidc";
    let over = if oidc { "OpenID Connect" } else { "SAML" };
    let refused = if last.succeeded {
        ""
    } else {
        " Portal refused that sign-in; the Audit Log says why."
    };
    let missing = last.missing();
    if missing.is_empty() {
        let names = if oidc {
            "given_name, family_name and email"
        } else {
            "firstName, lastName and email"
        };
        return (
            true,
            format!(
                "The last sign-in ({at}, over {over}) carried {names}.{refused}",
                at = last.at
            ),
        );
    }
    let fix = if oidc {
        "check that the Okta app grants the scopes openid email profile and that the person's Okta profile has a first name, last name and email"
    } else {
        "add the attribute statements of step 3 of the guide to the Portal app in Okta"
    };
    (
        false,
        format!(
            "Not yet: the last sign-in ({at}, over {over}) did not carry {missing}. Next: {fix}, then sign in again.{refused}",
            at = last.at,
            missing = missing.join(", "),
        ),
    )
}

/// One line of the checklist: "Done" or "Not yet" in words (not colour alone), and the detail.
#[component]
fn CheckItem(
    done: bool,
    title: &'static str,
    detail: String,
    testid: &'static str,
) -> impl IntoView {
    let (state, badge) = if done {
        ("Done", "bg-emerald-50 text-emerald-800 ring-emerald-200")
    } else {
        ("Not yet", "bg-amber-50 text-amber-900 ring-amber-200")
    };
    view! {
        <li data-testid=testid data-done=done.to_string() class="flex items-start gap-3 py-3">
            <span
                data-testid=format!("{testid}-state")
                class=format!("mt-0.5 inline-flex w-24 shrink-0 justify-center rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset {badge}")
            >
                <span aria-hidden="true" class="mr-1">{if done { "✓" } else { "○" }}</span>
                {state}
                <span class="sr-only">": "</span>
            </span>
            <div class="min-w-0">
                <p class="text-sm font-medium text-slate-900">{title}</p>
                <p class="mt-0.5 text-sm text-slate-600" data-testid=format!("{testid}-detail")>{detail}</p>
            </div>
        </li>
    }
}

/// Okta's SAML 2.0 app for Portal, step by step.
#[component]
fn SamlGuide(settings: IdentitySettings) -> impl IntoView {
    let label = settings.jit_label.clone();
    let attribute = |name: &'static str, value: &'static str| {
        view! {
            <dl class="grid grid-cols-2 gap-2">
                <CopyValue label="Name" value=name.to_string() testid=name_testid(name) copy_label=format!("Copy attribute name {name}") />
                <CopyValue label="Value" value=value.to_string() testid=value_testid(name) copy_label=format!("Copy attribute value {value}") />
            </dl>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="guide-saml-title">
            <h3 id="guide-saml-title" class="text-base font-semibold">"With SAML 2.0"</h3>
            <ol class="mt-2 list-decimal space-y-3 pl-5 text-sm text-slate-800">
                <li>"In the Okta Admin Console open " <strong>"Applications > Applications"</strong> ", click " <strong>"Create App Integration"</strong> ", choose " <strong>"SAML 2.0"</strong> " and name the app Portal."</li>
                <li>
                    "On " <strong>"Configure SAML"</strong> ", enter:"
                    <dl class="mt-2 space-y-2 rounded bg-slate-50 p-3">
                        <CopyValue label="Single sign-on URL" value=settings.sp.acs_url.clone() testid="guide-acs-url" copy_label="Copy the single sign-on URL for Okta" />
                        <CopyValue label="Audience URI (SP Entity ID)" value=settings.sp.entity_id.clone() testid="guide-entity-id" copy_label="Copy the audience URI for Okta" />
                        <CopyValue label="Name ID format" value="EmailAddress".to_string() testid="guide-name-id-format" copy_label="Copy the name ID format for Okta" />
                    </dl>
                    <p class="mt-1 text-slate-600">"Application username: Email."</p>
                </li>
                <li>
                    "Under " <strong>"Attribute Statements"</strong> ", add:"
                    <div class="mt-2 space-y-2 rounded bg-slate-50 p-3">
                        {attribute("firstName", "user.firstName")}
                        {attribute("lastName", "user.lastName")}
                        {attribute("email", "user.email")}
                    </div>
                </li>
                <li>"Click " <strong>"Next"</strong> ", answer Okta's feedback question and click " <strong>"Finish"</strong> ". On the " <strong>"Assignments"</strong> " tab, assign the people or groups who may use Portal."</li>
                <li>
                    "On the " <strong>"Sign On"</strong> " tab, copy the " <strong>"Metadata URL"</strong> " and paste it in the "
                    <a href="#sso-title" class="text-indigo-700 underline">"Single sign-on card"</a>
                    " below, then " <strong>"Save SAML settings"</strong> ". An identity provider that imports SP metadata can take this portal's: "
                    <a href=SP_METADATA_DOWNLOAD download="portal-sp-metadata.xml" data-testid="guide-metadata-download" class="text-indigo-700 underline">"Download SP metadata"</a> "."
                </li>
                <li>"In the " <a href="#provisioning-title" class="text-indigo-700 underline">"Provisioning card"</a> ", turn " <strong>{label}</strong> " on and click " <strong>"Save"</strong> "."</li>
                <li>"Sign in with Okta once: the checklist above then says whether the name and email arrived."</li>
            </ol>
        </section>
    }
}

fn name_testid(attribute: &str) -> &'static str {
    match attribute {
        "firstName" => "guide-attribute-first-name",
        "lastName" => "guide-attribute-last-name",
        _ => "guide-attribute-email-name",
    }
}

fn value_testid(attribute: &str) -> &'static str {
    match attribute {
        "firstName" => "guide-attribute-first-value",
        "lastName" => "guide-attribute-last-value",
        _ => "guide-attribute-email-value",
    }
}

/// Okta's OIDC Web app for Portal, step by step (release 1.54 and later).
#[component]
fn OidcGuide(settings: IdentitySettings) -> impl IntoView {
    let label = settings.jit_label.clone();
    view! {
        <section aria-labelledby="guide-oidc-title">
            <h3 id="guide-oidc-title" class="text-base font-semibold">"Or with OpenID Connect (release 1.54 and later)"</h3>
            <ol class="mt-2 list-decimal space-y-3 pl-5 text-sm text-slate-800">
                <li>"In the Okta Admin Console open " <strong>"Applications > Applications"</strong> ", click " <strong>"Create App Integration"</strong> ", choose " <strong>"OIDC - OpenID Connect"</strong> " and " <strong>"Web Application"</strong> "."</li>
                <li>
                    "Keep the " <strong>"Authorization Code"</strong> " grant type and enter:"
                    <dl class="mt-2 space-y-2 rounded bg-slate-50 p-3">
                        <CopyValue label="Sign-in redirect URI" value=settings.rp.redirect_uri.clone() testid="guide-redirect-uri" copy_label="Copy the sign-in redirect URI for Okta" />
                        <CopyValue label="Scopes Portal asks for" value=settings.rp.scopes.clone() testid="guide-scopes" copy_label="Copy the scopes Portal asks for" />
                    </dl>
                </li>
                <li>"Assign the people or groups who may use Portal and save the app."</li>
                <li>
                    "In the " <a href="#sso-title" class="text-indigo-700 underline">"Single sign-on card"</a> " choose " <strong>"OpenID Connect"</strong>
                    " and enter the discovery URL of the authorization server (for example "
                    <code class="text-xs">"https://your-org.okta.com/oauth2/default/.well-known/openid-configuration"</code>
                    "), and the app's client ID and secret from its " <strong>"General"</strong> " tab; then " <strong>"Save OIDC settings"</strong> "."
                </li>
                <li>"Turn " <strong>{label}</strong> " on in the " <a href="#provisioning-title" class="text-indigo-700 underline">"Provisioning card"</a> " and click " <strong>"Save"</strong> "."</li>
            </ol>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(protocol: &str, first: bool, last: bool, email: bool) -> SsoSignInView {
        SsoSignInView {
            at: "2026-12-01 09:30 UTC".into(),
            protocol: protocol.into(),
            succeeded: true,
            first_name: first,
            last_name: last,
            email,
        }
    }

    #[test]
    fn a_sign_in_with_all_three_attributes_is_done() {
        let (done, text) = attributes_check(&last("saml", true, true, true));
        assert!(done);
        assert!(
            text.contains("carried firstName, lastName and email"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_attribute_is_named_with_what_to_do_in_okta() {
        let (done, text) = attributes_check(&last("saml", true, false, true));
        assert!(!done);
        assert!(text.contains("did not carry lastName."), "{text}");
        assert!(text.contains("attribute statements"), "{text}");
    }

    #[test]
    fn over_oidc_the_missing_claims_go_by_their_oidc_names() {
        let (done, text) = attributes_check(&last("oidc", false, false, true));
        assert!(!done);
        assert!(
            text.contains("did not carry given_name, family_name."),
            "{text}"
        );
        assert!(text.contains("openid email profile"), "{text}");
    }

    #[test]
    fn a_refused_sign_in_says_so() {
        let mut refused = last("saml", true, true, true);
        refused.succeeded = false;
        let (_, text) = attributes_check(&refused);
        assert!(text.contains("Portal refused that sign-in"), "{text}");
    }
}
