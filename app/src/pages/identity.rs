//! Settings > Identity and Access Management > Identity Configuration.
//! The Provisioning card's toggle reads "SSO JIT" on release 1.54+ and "SAML JIT" before;
//! both write the same stored provisioning method.

use leptos::prelude::*;

use crate::api::{get_identity_settings, SaveProvisioning};
use crate::components::status::PageError;
use crate::model::IdentitySettings;
use crate::pages::settings::SettingsFrame;

#[component]
pub fn IdentityConfigurationPage() -> impl IntoView {
    let save = ServerAction::<SaveProvisioning>::new();
    let settings = Resource::new(move || save.version().get(), |_| get_identity_settings());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(current) => view! {
                        <SettingsFrame>
                            <div class="space-y-6">
                                <LoginMethodCard settings=current.clone() />
                                <SingleSignOnCard settings=current.clone() />
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
fn Card(title: &'static str, id: &'static str, children: Children) -> impl IntoView {
    view! {
        <section aria-labelledby=id class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
            <h2 id=id class="text-lg font-semibold">{title}</h2>
            {children()}
        </section>
    }
}

#[component]
fn LoginMethodCard(settings: IdentitySettings) -> impl IntoView {
    let method = if settings.login_method == "sso" {
        "Single sign-on (SSO)"
    } else {
        "Password"
    };
    view! {
        <Card title="Login method" id="login-method-title">
            <p class="mt-2 text-sm text-slate-700">
                "People sign in with: " <strong data-testid="login-method">{method}</strong>
            </p>
            <p class="mt-1 text-sm text-slate-500">
                "Local admin sign-in with email and password stays available whatever is chosen here, so that an administrator is never locked out."
            </p>
        </Card>
    }
}

#[component]
fn SingleSignOnCard(settings: IdentitySettings) -> impl IntoView {
    let protocols = if settings.oidc_available {
        "SAML 2.0 or OpenID Connect"
    } else {
        "SAML 2.0"
    };
    view! {
        <Card title="Single sign-on" id="sso-title">
            {match settings.sso_summary {
                Some(summary) => view! {
                    <p class="mt-2 text-sm text-slate-700" data-testid="sso-summary">{summary}</p>
                }.into_any(),
                None => view! {
                    <p class="mt-2 text-sm text-slate-700" data-testid="sso-summary">
                        "No identity provider is configured. Portal supports Okta over " {protocols}
                        "; an administrator configures it through "
                        <code class="rounded bg-slate-100 px-1">"PUT /api/v1/identity"</code> "."
                    </p>
                }.into_any(),
            }}
        </Card>
    }
}

#[component]
fn ProvisioningCard(
    settings: IdentitySettings,
    save: ServerAction<SaveProvisioning>,
) -> impl IntoView {
    let label = settings.jit_label.clone();
    let reason = settings.jit_unavailable_reason.clone();
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
                <div class="flex items-center gap-4">
                    <button
                        type="submit"
                        class="rounded bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60"
                        disabled=move || save.pending().get()
                    >
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                    <p role="status" data-testid="provisioning-result" class="text-sm">
                        {move || result().map(|(ok, text)| {
                            let class = if ok { "text-emerald-700" } else { "text-red-700" };
                            view! { <span class=class>{text}</span> }
                        })}
                    </p>
                </div>
                {changed.map(|text| view! {
                    <p class="text-xs text-slate-500" data-testid="provisioning-changed">{text}</p>
                })}
            </ActionForm>
        </Card>
    }
}
