//! Settings > Identity and Access Management > Agent Pools: the pools, the roles they grant
//! their members, which one is the default (where JIT accounts land), and each pool's page.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{
    get_pool_page, get_pools_page, page_data, AddPoolMember, CreatePool, DeletePool,
    MakeDefaultPool, RemovePoolMember, RenamePool, RotatePoolKey, SavePoolRoles,
};
use crate::components::form::{field_error, outcome, Card, Field, RoleChoices, SaveRow};
use crate::components::status::PageError;
use crate::model::{PoolDetail, PoolsView};
use crate::pages::settings::SettingsFrame;

#[component]
pub fn AgentPoolsPage() -> impl IntoView {
    let create = ServerAction::<CreatePool>::new();
    let pools = page_data(move || create.version().get(), |_| get_pools_page());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match pools.await {
                    Ok(view) => view! {
                        <SettingsFrame>
                            <PoolsCard view create />
                        </SettingsFrame>
                    }
                    .into_any(),
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.join(", ")
    }
}

#[component]
fn PoolsCard(view: PoolsView, create: ServerAction<CreatePool>) -> impl IntoView {
    let created = move || create.value().get().and_then(|r| r.ok());
    let create_csrf = view.csrf_token.clone().expose();
    let result = move || {
        outcome(
            create.value().get(),
            "Created. Copy the agent key now: it is not shown again.",
        )
    };
    view! {
        <div class="space-y-6">
            <Card title="Agent Pools" id="pools-title">
                <p class="mt-1 text-sm text-slate-600">
                    "Members of a pool get the roles it grants, on top of their own. New JIT accounts land in the default pool."
                </p>
                <table class="mt-4 min-w-full text-left text-sm">
                    <thead class="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                        <tr>
                            <th scope="col" class="py-2 pr-4">"Name"</th>
                            <th scope="col" class="py-2 pr-4">"Grants"</th>
                            <th scope="col" class="py-2">"Members"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {view.pools.into_iter().map(|pool| view! {
                            <tr data-testid="pool-row">
                                <td class="py-2 pr-4 font-medium">
                                    <a class="text-indigo-700 hover:underline" href=format!("/settings/iam/agent-pools/{}", pool.id)>{pool.name.clone()}</a>
                                    {pool.is_default.then(|| view! {
                                        <span class="ml-2 rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800">"Default"</span>
                                    })}
                                </td>
                                <td class="py-2 pr-4">{roles_text(&pool.roles)}</td>
                                <td class="py-2">{pool.members.len()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </Card>
            {view.can_write.then(|| view! {
                <Card title="Create a pool" id="create-pool-title">
                    <ActionForm action=create attr:class="mt-3 grid max-w-xl gap-3">
                        <input type="hidden" name="csrf" value=create_csrf.clone() />
                        <Field label="Pool name" name="name" id="pool-name" value=String::new() placeholder="Field agents" required=true max_length=64 error=Signal::derive(move || field_error(create.value().get(), &["name"])) />
                        <RoleChoices checked=vec![] legend="Roles it grants its members" />
                        <SaveRow label="Create pool" pending=create.pending().into() result=Signal::derive(result) testid="create-pool-result" />
                    </ActionForm>
                    {move || created().map(|made| view! {
                        <p class="mt-3 text-sm">"Agent key for " {made.pool.name.clone()} ": "
                            <code data-testid="agent-key" class="rounded bg-slate-100 px-2 py-1">{made.agent_key.clone()}</code>
                        </p>
                    })}
                </Card>
            })}
        </div>
    }
}

#[component]
pub fn AgentPoolPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i32>().ok())
                .unwrap_or(0)
        })
    };
    let actions = PoolActions {
        rename: ServerAction::new(),
        roles: ServerAction::new(),
        make_default: ServerAction::new(),
        add_member: ServerAction::new(),
        remove_member: ServerAction::new(),
        rotate: ServerAction::new(),
        delete: ServerAction::new(),
    };
    let pool = page_data(
        move || {
            (
                id(),
                actions.rename.version().get(),
                actions.roles.version().get(),
                actions.make_default.version().get(),
                actions.add_member.version().get(),
                actions.remove_member.version().get(),
            )
        },
        |(id, ..)| get_pool_page(id),
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = actions.delete.value().get() {
            navigate("/settings/iam/agent-pools", Default::default());
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match pool.await {
                    Ok(view) => view! {
                        <SettingsFrame>
                            <PoolCards view actions />
                        </SettingsFrame>
                    }
                    .into_any(),
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct PoolActions {
    rename: ServerAction<RenamePool>,
    roles: ServerAction<SavePoolRoles>,
    make_default: ServerAction<MakeDefaultPool>,
    add_member: ServerAction<AddPoolMember>,
    remove_member: ServerAction<RemovePoolMember>,
    rotate: ServerAction<RotatePoolKey>,
    delete: ServerAction<DeletePool>,
}

#[component]
fn PoolCards(view: PoolDetail, actions: PoolActions) -> impl IntoView {
    let pool = view.pool.clone();
    let id = pool.id;
    let csrf = StoredValue::new(view.csrf_token.clone().expose());
    let write = view.can_write;
    let confirming = RwSignal::new(false);
    let new_key = move || actions.rotate.value().get().and_then(|r| r.ok());
    let members_result = move || {
        outcome(actions.add_member.value().get(), "Saved.")
            .or_else(|| outcome(actions.remove_member.value().get(), "Saved."))
    };
    let member_items = pool
        .members
        .clone()
        .into_iter()
        .map(|(user_id, email)| {
            let label = format!("Remove {email}");
            view! {
                <li data-testid="pool-member" class="flex items-center gap-4">
                    <a class="text-indigo-700 hover:underline" href=format!("/settings/iam/users/{user_id}")>{email.clone()}</a>
                    {write.then(move || view! {
                        <ActionForm action=actions.remove_member>
                            <input type="hidden" name="csrf" value=csrf.get_value() />
                            <input type="hidden" name="id" value=id.to_string() />
                            <input type="hidden" name="user_id" value=user_id.to_string() />
                            <button type="submit" disabled=move || actions.remove_member.pending().get() class="text-sm text-red-700 underline disabled:cursor-wait disabled:opacity-60">{label}</button>
                        </ActionForm>
                    })}
                </li>
            }
        })
        .collect_view();
    let name = StoredValue::new(pool.name.clone());
    let consequence = if pool.members.is_empty() {
        "It has no members.".to_string()
    } else {
        format!(
            "Its {} members stay in Portal but lose the roles it grants ({}).",
            pool.members.len(),
            roles_text(&pool.roles)
        )
    };
    view! {
        <div class="space-y-6">
            <section aria-labelledby="pool-title" class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                <h2 id="pool-title" class="text-lg font-semibold">
                    {pool.name.clone()}
                    {pool.is_default.then(|| view! {
                        <span class="ml-2 rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800">"Default"</span>
                    })}
                </h2>
                <p class="mt-1 text-sm text-slate-700" data-testid="pool-roles">"Grants: " {roles_text(&pool.roles)}</p>
                {(write && !pool.is_default).then(|| view! {
                    <ActionForm action=actions.make_default attr:class="mt-3">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <SaveRow label="Make default" pending=actions.make_default.pending().into() result=Signal::derive(move || outcome(actions.make_default.value().get(), "Saved. New JIT accounts land here.")) testid="default-result" />
                    </ActionForm>
                })}
            </section>
            {write.then(|| view! {
                <Card title="Name and roles" id="pool-settings-title">
                    <ActionForm action=actions.rename attr:class="mt-3 flex flex-wrap items-end gap-4">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <Field label="Pool name" name="name" id="pool-rename" value=name.get_value() placeholder="" required=true max_length=64 error=Signal::derive(move || field_error(actions.rename.value().get(), &["name"])) />
                        <SaveRow label="Rename" pending=actions.rename.pending().into() result=Signal::derive(move || outcome(actions.rename.value().get(), "Saved.")) testid="rename-result" />
                    </ActionForm>
                    <ActionForm action=actions.roles attr:class="mt-4 space-y-3">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <RoleChoices checked=pool.roles.clone() legend="Roles it grants its members" />
                        <SaveRow label="Save roles" pending=actions.roles.pending().into() result=Signal::derive(move || outcome(actions.roles.value().get(), "Saved.")) testid="pool-roles-result" />
                    </ActionForm>
                </Card>
            })}
            <Card title="Members" id="pool-members-title">
                <ul class="mt-2 space-y-2 text-sm">
                    {member_items}
                    {pool.members.is_empty().then(|| view! { <li class="text-slate-500">"No members yet."</li> })}
                </ul>
                {write.then(|| view! {
                    <ActionForm action=actions.add_member attr:class="mt-4 flex flex-wrap items-end gap-4">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <Field label="Add a member by email" name="email" id="pool-add-member" value=String::new() placeholder="name@example.com" kind="email" required=true error=Signal::derive(move || field_error(actions.add_member.value().get(), &["email"])) />
                        <SaveRow label="Add member" pending=actions.add_member.pending().into() result=Signal::derive(members_result) testid="members-result" />
                    </ActionForm>
                })}
            </Card>
            {write.then(|| view! {
                <Card title="Agent key and removal" id="pool-key-title">
                    <ActionForm action=actions.rotate attr:class="mt-3">
                        <input type="hidden" name="csrf" value=csrf.get_value() />
                        <input type="hidden" name="id" value=id.to_string() />
                        <SaveRow label="Rotate agent key" pending=actions.rotate.pending().into() result=Signal::derive(move || outcome(actions.rotate.value().get(), "Rotated. Copy the new key now: it is not shown again; the old one stops working.")) testid="rotate-result" />
                    </ActionForm>
                    {move || new_key().map(|key| view! { <p class="mt-2 text-sm"><code data-testid="agent-key" class="rounded bg-slate-100 px-2 py-1">{key}</code></p> })}
                    {(!pool.is_default).then(|| view! {
                        <div class="mt-6 border-t border-slate-200 pt-4">
                            <button type="button" on:click=move |_| confirming.set(true) class="rounded border border-red-300 px-4 py-2 text-sm font-medium text-red-700 hover:bg-red-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500">"Delete pool…"</button>
                            <div data-testid="delete-confirmation" class="mt-3 rounded border border-red-200 bg-red-50 p-4 text-sm" class:hidden=move || !confirming.get()>
                                <p>{format!("Delete {}? {consequence}", name.get_value())}</p>
                                <ActionForm action=actions.delete attr:class="mt-3 flex items-center gap-4">
                                    <input type="hidden" name="csrf" value=csrf.get_value() />
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <input type="hidden" name="confirm" value="on" />
                                    <button
                                        type="submit"
                                        disabled=move || actions.delete.pending().get()
                                        aria-busy=move || actions.delete.pending().get().to_string()
                                        class="rounded bg-red-700 px-4 py-2 font-medium text-white hover:bg-red-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500 disabled:cursor-wait disabled:opacity-60"
                                    >
                                        {move || if actions.delete.pending().get() { "Deleting…".to_string() } else { format!("Delete {}", name.get_value()) }}
                                    </button>
                                    <button type="button" on:click=move |_| confirming.set(false) class="text-slate-700 underline">"Cancel"</button>
                                    <p role="status" class="text-red-700">{move || outcome(actions.delete.value().get(), "").filter(|(ok, _)| !ok).map(|(_, t)| t)}</p>
                                </ActionForm>
                            </div>
                        </div>
                    })}
                </Card>
            })}
        </div>
    }
}
