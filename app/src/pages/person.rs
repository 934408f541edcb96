//! A person's page: where their roles come from, their direct roles and agent pools, their
//! status, and removal. Removing someone in Okta does not remove them here.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{
    get_person_page, page_data, AddPersonToPool, ChangePersonEmail, RemovePerson,
    RemovePersonFromPool, SavePersonRoles, SetPersonActive, UnlinkPersonSsoIdentity,
};
use crate::components::form::{field_error, outcome, Card, Field, RoleChoices, SaveRow};
use crate::components::status::PageError;
use crate::model::PersonView;
use crate::pages::settings::SettingsFrame;

#[component]
pub fn PersonPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i32>().ok())
                .unwrap_or(0)
        })
    };
    let roles = ServerAction::<SavePersonRoles>::new();
    let add_pool = ServerAction::<AddPersonToPool>::new();
    let remove_pool = ServerAction::<RemovePersonFromPool>::new();
    let status = ServerAction::<SetPersonActive>::new();
    let remove = ServerAction::<RemovePerson>::new();
    let unlink = ServerAction::<UnlinkPersonSsoIdentity>::new();
    let email = ServerAction::<ChangePersonEmail>::new();
    let person = page_data(
        move || {
            (
                id(),
                roles.version().get(),
                add_pool.version().get(),
                remove_pool.version().get(),
                status.version().get(),
                unlink.version().get(),
                email.version().get(),
            )
        },
        |(id, ..)| get_person_page(id),
    );
    // Once removed, the person's page has nothing to show: back to the list, saying so.
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(email)) = remove.value().get() {
            navigate(
                &format!(
                    "/settings/iam/users?removed={}",
                    crate::components::status::urlencode(&email)
                ),
                Default::default(),
            );
        }
    });
    let last_pool_action = RwSignal::new(PoolAction::Added);
    Effect::new(move |_| {
        if add_pool.value().get().is_some() {
            last_pool_action.set(PoolAction::Added);
        }
    });
    Effect::new(move |_| {
        if remove_pool.value().get().is_some() {
            last_pool_action.set(PoolAction::Removed);
        }
    });
    let actions = Actions {
        last_pool_action,
        roles,
        add_pool,
        remove_pool,
        status,
        remove,
        unlink,
        email,
    };
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match person.await {
                    Ok(view) => view! {
                        <SettingsFrame>
                            <PersonCards view actions />
                        </SettingsFrame>
                    }
                    .into_any(),
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum PoolAction {
    Added,
    Removed,
}

#[derive(Clone, Copy)]
struct Actions {
    last_pool_action: RwSignal<PoolAction>,
    roles: ServerAction<SavePersonRoles>,
    add_pool: ServerAction<AddPersonToPool>,
    remove_pool: ServerAction<RemovePersonFromPool>,
    status: ServerAction<SetPersonActive>,
    remove: ServerAction<RemovePerson>,
    unlink: ServerAction<UnlinkPersonSsoIdentity>,
    email: ServerAction<ChangePersonEmail>,
}

#[component]
fn PersonCards(view: PersonView, actions: Actions) -> impl IntoView {
    let person = view.person.clone();
    let name = if person.name.is_empty() {
        person.email.clone()
    } else {
        person.name.clone()
    };
    let id = person.id;
    let csrf = StoredValue::new(view.csrf_token.clone().expose());
    let write = view.can_write;
    let memberships = view
        .memberships
        .clone()
        .into_iter()
        .map(|pool| {
            let label = format!("Remove from {}", pool.name);

            view! {
                <li data-testid="membership" class="flex items-center gap-4">
                    <span>{pool.name.clone()}</span>
                    {write.then(move || view! {
                        <ActionForm action=actions.remove_pool>
                            <input type="hidden" name="csrf" value=csrf.get_value() />
                            <input type="hidden" name="id" value=id.to_string() />
                            <input type="hidden" name="pool" value=pool.id.to_string() />
                            <button type="submit" disabled=move || actions.remove_pool.pending().get() class="text-sm text-red-700 underline disabled:cursor-wait disabled:opacity-60">{label}</button>
                        </ActionForm>
                    })}
                </li>
            }
        })
        .collect_view();
    let role_items = view
        .role_sources
        .clone()
        .into_iter()
        .map(|(role, from)| {
            let text = if from == "direct" {
                format!("{role} · direct")
            } else {
                format!("{role} · from {from}")
            };
            view! { <li data-testid="role-source">{text}</li> }
        })
        .collect_view();
    let other_pools = view
        .other_pools
        .clone()
        .into_iter()
        .map(|p| view! { <option value=p.id.to_string()>{p.name}</option> })
        .collect_view();
    let no_roles = view.role_sources.is_empty();
    let no_pools = view.memberships.is_empty();
    let in_every_pool = view.other_pools.is_empty();
    let direct_roles = view.direct_roles.clone();
    // The line under the pools says what the latest of the two pool actions did.
    let pools_result = move || {
        let added = actions.add_pool.value().get();
        let removed = actions.remove_pool.value().get();
        if actions.last_pool_action.get() == PoolAction::Removed {
            outcome(removed, "Saved.")
        } else {
            outcome(added, "Saved.")
        }
    };
    view! {
        <div class="space-y-6">
            <section aria-labelledby="person-title" class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                <h2 id="person-title" class="text-lg font-semibold">{name.clone()}</h2>
                <p class="mt-1 text-sm text-slate-700">
                    <span data-testid="person-email">{person.email.clone()}</span>
                    {person.jit_provisioned.then(|| view! {
                        <span data-testid="jit-badge" class="ml-2 rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-800">"JIT-provisioned"</span>
                    })}
                </p>
                <p class="mt-1 text-sm">
                    "Status: " <span data-testid="person-status">{if person.active { "Active" } else { "Deactivated" }}</span>
                    " · Last sign-in: " {person.last_sign_in.clone().unwrap_or_else(|| "never".into())}
                </p>
                <SsoIdentityLine identity=view.sso_identity.clone() write=write && !view.is_self id csrf actions />
                <p data-testid="okta-removal-note" class="mt-3 text-sm text-slate-600">
                    "Removing someone in Okta does not remove them from Portal. To take their access away, deactivate or remove them here."
                </p>
                {write.then(|| view! { <EmailForm email=person.email.clone() linked=view.sso_identity.is_some() may_unlink=!view.is_self id csrf actions /> })}
            </section>

            <Card title="Roles" id="person-roles-title">
                <ul class="mt-2 space-y-1 text-sm" aria-label="Effective roles">
                    {role_items}
                    {no_roles.then(|| view! { <li class="text-slate-500">"No roles: this person can sign in but do nothing."</li> })}
                </ul>
                {write.then(|| view! {
                    <ActionForm action=actions.roles attr:class="mt-4 space-y-3">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <RoleChoices checked=direct_roles.clone() legend="Direct roles (pools add their own)" />
                        <SaveRow label="Save roles" pending=actions.roles.pending().into() result=Signal::derive(move || outcome(actions.roles.value().get(), "Saved.")) testid="roles-result" />
                    </ActionForm>
                })}
            </Card>

            <Card title="Agent pools" id="person-pools-title">
                <ul class="mt-2 space-y-2 text-sm">
                    {memberships}
                    {no_pools.then(|| view! { <li class="text-slate-500">"In no agent pool."</li> })}
                </ul>
                {write.then(|| view! {
                    <ActionForm action=actions.add_pool attr:class="mt-4 flex flex-wrap items-end gap-4">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <div>
                            <label for="add-to-pool" class="block text-sm font-medium text-slate-700">"Add to agent pool"</label>
                            <select id="add-to-pool" name="pool" required class="mt-1 rounded border border-slate-300 px-3 py-2 text-sm">
                                {in_every_pool.then(|| view! { <option value="" disabled selected>"Already in every pool"</option> })}
                                {other_pools}
                            </select>
                        </div>
                        <SaveRow label="Add to pool" pending=actions.add_pool.pending().into() result=Signal::derive(pools_result) testid="pools-result" />
                    </ActionForm>
                })}
            </Card>

            // One's own account is neither deactivated nor removed from here (the server refuses
            // it too): another admin does that.
            {(write && !view.is_self).then(|| view! { <StatusAndRemoval view=view.clone() actions /> })}
        </div>
    }
}

/// Who signs in to the account at the identity provider, and for an admin the way to unbind
/// it when that identity is no longer the person's (re-created in Okta, say): their next
/// sign-in with the same verified email binds the account again, roles and pools kept.
#[component]
fn SsoIdentityLine(
    identity: Option<String>,
    write: bool,
    id: i32,
    csrf: StoredValue<String>,
    actions: Actions,
) -> impl IntoView {
    let unlinked = move || {
        outcome(
            actions.unlink.value().get(),
            "Unlinked. Their next Okta sign-in links the account again by its verified email.",
        )
    };
    let Some(identity) = identity else {
        return view! {
            <p class="mt-1 text-sm" data-testid="person-sso-identity">"Okta identity: none yet"</p>
            <p role="status" class="text-sm text-emerald-800" data-testid="unlink-result">
                {move || unlinked().filter(|(ok, _)| *ok).map(|(_, text)| text)}
            </p>
        }
        .into_any();
    };
    view! {
        <p class="mt-1 text-sm">
            "Okta identity: " <span data-testid="person-sso-identity">{identity}</span>
        </p>
        {write.then(|| view! {
            <ActionForm action=actions.unlink attr:class="mt-2">
                <input type="hidden" name="csrf" value=csrf.get_value() />
                <input type="hidden" name="id" value=id.to_string() />
                <SaveRow label="Unlink Okta identity" pending=actions.unlink.pending().into() result=Signal::derive(unlinked) testid="unlink-result" />
            </ActionForm>
        })}
    }
    .into_any()
}

/// The account's address, for an admin to change. Unlinking in the same change is how an
/// account follows a person whose address changed in Okta when Okta names people by their
/// address: their sign-in with the new one then binds this account instead of making another.
#[component]
fn EmailForm(
    email: String,
    linked: bool,
    may_unlink: bool,
    id: i32,
    csrf: StoredValue<String>,
    actions: Actions,
) -> impl IntoView {
    let saved = move || outcome(actions.email.value().get(), "Saved.");
    // Open again after a save or a refusal re-renders the page, so that its outcome shows.
    let opened = actions.email.value().get_untracked().is_some();
    view! {
        <details class="mt-3 text-sm" data-testid="email-change" open=opened>
            <summary class="cursor-pointer text-indigo-800">"Change email address"</summary>
            <ActionForm action=actions.email attr:class="mt-2 max-w-md space-y-3">
                <input type="hidden" name="csrf" value=csrf.get_value() />
                <input type="hidden" name="id" value=id.to_string() />
                <Field label="Email address" name="email" id="person-email-input" kind="email" value=email placeholder="name@example.com" required=true max_length=254 error=Signal::derive(move || field_error(actions.email.value().get(), &["email", "unlink_sso_identity"])) />
                {linked.then(|| view! {
                    <p class="text-xs text-slate-600">"While the Okta identity is linked, the address Okta sends at each sign-in replaces this one."</p>
                })}
                {(linked && may_unlink).then(|| view! {
                    <label class="flex items-start gap-2">
                        <input type="checkbox" name="unlink" value="on" class="mt-0.5 h-4 w-4 rounded border-slate-300 text-indigo-600" />
                        <span>"Also unlink the Okta identity. Tick this when Okta names people by their address (EmailAddress Name ID) and it changed there: their next sign-in with the new address then signs in to this account. If that sign-in already made a second account, remove it first."</span>
                    </label>
                })}
                <SaveRow label="Save email" pending=actions.email.pending().into() result=Signal::derive(saved) testid="email-result" />
            </ActionForm>
        </details>
    }
}

#[component]
fn StatusAndRemoval(view: PersonView, actions: Actions) -> impl IntoView {
    let person = view.person.clone();
    let name = if person.name.is_empty() {
        person.email.clone()
    } else {
        person.name.clone()
    };
    let id = person.id;
    let confirming = RwSignal::new(false);
    let csrf = StoredValue::new(view.csrf_token.clone().expose());
    let (label, next) = if person.active {
        ("Deactivate", "false")
    } else {
        ("Reactivate", "true")
    };
    let remove_result = move || outcome(actions.remove.value().get(), "Removed.");
    let warning = StoredValue::new(format!(
        "Remove {name} ({})? This deletes the account and ends their sessions at once. It cannot be undone; if they sign in with Okta again while just-in-time provisioning is on, they get a new account.",
        person.email
    ));
    let confirm_label = StoredValue::new(format!("Remove {name}"));
    view! {
        <Card title="Access" id="person-access-title">
            <p class="mt-2 text-sm text-slate-600">
                "A deactivated person cannot sign in, and their sessions and API tokens stop working; the account and its history stay."
            </p>
            <ActionForm action=actions.status attr:class="mt-3">
                <input type="hidden" name="csrf" value=csrf.get_value() />
                <input type="hidden" name="id" value=id.to_string() />
                <input type="hidden" name="active" value=next />
                <SaveRow label=label pending=actions.status.pending().into() result=Signal::derive(move || outcome(actions.status.value().get(), "Saved.")) testid="status-result" />
            </ActionForm>
            <div class="mt-6 border-t border-slate-200 pt-4">
                <button
                    type="button"
                    on:click=move |_| confirming.set(true)
                    class="rounded border border-red-300 px-4 py-2 text-sm font-medium text-red-700 hover:bg-red-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500"
                >
                    "Remove…"
                </button>
                <Show when=move || confirming.get()>
                    <div data-testid="remove-confirmation" class="mt-3 rounded border border-red-200 bg-red-50 p-4 text-sm">
                        <p>{warning.get_value()}</p>
                        <ActionForm action=actions.remove attr:class="mt-3 flex items-center gap-4">
                            <input type="hidden" name="csrf" value=csrf.get_value() />
                            <input type="hidden" name="id" value=id.to_string() />
                            <button
                                type="submit"
                                disabled=move || actions.remove.pending().get()
                                aria-busy=move || actions.remove.pending().get().to_string()
                                class="rounded bg-red-700 px-4 py-2 font-medium text-white hover:bg-red-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500 disabled:cursor-wait disabled:opacity-60"
                            >
                                {move || if actions.remove.pending().get() { "Removing…".to_string() } else { confirm_label.get_value() }}
                            </button>
                            <button type="button" on:click=move |_| confirming.set(false) class="text-slate-700 underline">"Cancel"</button>
                            <p role="status" data-testid="remove-result" class="text-red-700">
                                {move || remove_result().filter(|(ok, _)| !ok).map(|(_, text)| text)}
                            </p>
                        </ActionForm>
                    </div>
                </Show>
            </div>
        </Card>
    }
}
