//! Settings > Identity and Access Management > Identity Configuration.
//! The Provisioning card's toggle reads "SSO JIT" on release 1.54+ and "SAML JIT" before;
//! both write the same stored provisioning method.

use leptos::prelude::*;

use crate::api::{get_identity_settings, SaveLoginMethod, SaveOidc, SaveProvisioning, SaveSaml};
use crate::components::form::{Card, CopyValue, Field, SaveRow};
use crate::components::status::PageError;
use crate::model::{IdentitySettings, OidcView, SamlView};
use crate::pages::settings::SettingsFrame;

#[component]
pub fn IdentityConfigurationPage() -> impl IntoView {
    let save = ServerAction::<SaveProvisioning>::new();
    let save_saml = ServerAction::<SaveSaml>::new();
    let save_oidc = ServerAction::<SaveOidc>::new();
    let save_login = ServerAction::<SaveLoginMethod>::new();
    let settings = Resource::new(
        move || {
            (
                save.version().get(),
                save_saml.version().get(),
                save_oidc.version().get(),
                save_login.version().get(),
            )
        },
        |_| get_identity_settings(),
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(current) => view! {
                        <SettingsFrame>
                            <div class="space-y-6">
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
                <input type="hidden" name="csrf" value=settings.csrf_token.clone() />
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
                        <input type="hidden" name="csrf" value=settings.csrf_token.clone() />
                        <fieldset class="space-y-2">
                            <legend class="text-sm font-semibold">"SAML 2.0: import the IdP metadata from Okta"</legend>
                            <Field label="IdP metadata URL" name="metadata_url" id="saml-metadata-url" value=String::new() placeholder="https://example.okta.com/app/…/sso/saml/metadata" />
                            <div>
                                <label for="saml-metadata-xml" class="block text-sm font-medium text-slate-700">"…or paste the IdP metadata XML"</label>
                                <textarea id="saml-metadata-xml" name="metadata_xml" rows="3" class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 font-mono text-xs focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"></textarea>
                            </div>
                        </fieldset>
                        <details class="rounded border border-slate-200 p-3" open=saml.is_some()>
                            <summary class="cursor-pointer text-sm font-semibold">"…or enter the three values by hand"</summary>
                            <div class="mt-3 space-y-2">
                                <Field label="IdP entity id (Issuer)" name="idp_entity_id" id="saml-entity-id" value=current.idp_entity_id.clone() placeholder="http://www.okta.com/exk…" />
                                <Field label="IdP single sign-on URL" name="idp_sso_url" id="saml-sso-url" value=current.idp_sso_url.clone() placeholder="https://example.okta.com/app/…/sso/saml" />
                                <div>
                                    <label for="saml-certificate" class="block text-sm font-medium text-slate-700">"IdP signing certificate (PEM); leave empty to keep the one in force"</label>
                                    <textarea id="saml-certificate" name="certificate" rows="3" class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 font-mono text-xs focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"></textarea>
                                </div>
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
                        <CopyValue label="Attribute statement" value="firstName = user.firstName".to_string() testid="sp-attribute-first" />
                        <CopyValue label="Attribute statement" value="lastName = user.lastName".to_string() testid="sp-attribute-last" />
                    </dl>
                    <a href="/sso/saml/metadata" download="portal-sp-metadata.xml" class="mt-4 inline-block text-sm text-indigo-700 underline">"Download SP metadata"</a>
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
    let current = settings.oidc.clone().unwrap_or(OidcView {
        discovery_url: String::new(),
        client_id: String::new(),
        client_secret_set: false,
        token_auth_method: "client_secret_basic".into(),
    });
    let post = current.token_auth_method == "client_secret_post";
    let secret_state = if current.client_secret_set {
        "A client secret is stored. Leave the field empty to keep it."
    } else {
        "No client secret is stored yet."
    };
    view! {
        <div class="mt-2 grid gap-6 lg:grid-cols-5">
            <div class="lg:col-span-3">
                <ActionForm action=save attr:class="mt-4 space-y-3">
                    <input type="hidden" name="csrf" value=settings.csrf_token.clone() />
                    <Field label="Discovery URL" name="discovery_url" id="oidc-discovery-url" value=current.discovery_url.clone() placeholder="https://example.okta.com/oauth2/default/.well-known/openid-configuration" />
                    <Field label="Client ID" name="client_id" id="oidc-client-id" value=current.client_id.clone() placeholder="0oa…" />
                    <div>
                        <label for="oidc-client-secret" class="block text-sm font-medium text-slate-700">"Client secret"</label>
                        <input
                            id="oidc-client-secret"
                            name="client_secret"
                            type="password"
                            autocomplete="off"
                            aria-describedby="oidc-secret-state"
                            class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 text-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"
                        />
                        <p id="oidc-secret-state" data-testid="oidc-secret-state" class="mt-1 text-xs text-slate-500">{secret_state}</p>
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
                <input type="hidden" name="csrf" value=settings.csrf_token.clone() />
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
