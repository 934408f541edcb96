//! Settings > Identity and Access Management > Users: everyone with an account, where it came
//! from (added by hand or created just in time at a first Okta sign-in), and their access.
//! Search, filters and paging travel in the URL, so a view can be shared and reloaded.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{get_users_page, page_data, AddPerson};
use crate::components::form::{field_error, outcome, Field, RoleChoices, SaveRow};
use crate::components::status::PageError;
use crate::model::{UserRow, UsersView};
use crate::pages::settings::SettingsFrame;

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let add = ServerAction::<AddPerson>::new();
    let users = page_data(
        move || (query.get(), add.value().get().and_then(|r| r.ok())),
        |(query, _)| {
            get_users_page(
                query.get("q"),
                query.get("source"),
                query.get("status"),
                query.get("page").and_then(|p| p.parse().ok()),
            )
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(view) => view! {
                        <SettingsFrame>
                            <UsersCard view add />
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
fn UsersCard(view: UsersView, add: ServerAction<AddPerson>) -> impl IntoView {
    let query = use_query_map();
    let current = move |key: &str| query.with_untracked(|q| q.get(key)).unwrap_or_default();
    let removed = current("removed");
    let (q, source, status) = (current("q"), current("source"), current("status"));
    let pages = view.total.div_ceil(view.per_page).max(1);
    let link = {
        let (q, source, status) = (q.clone(), source.clone(), status.clone());
        move |page: u64| {
            format!(
                "/settings/iam/users?q={}&source={}&status={}&page={page}",
                crate::components::status::urlencode(&q),
                crate::components::status::urlencode(&source),
                crate::components::status::urlencode(&status)
            )
        }
    };
    let select = |value: &str, options: &[(&'static str, &str)]| {
        options
            .iter()
            .map(|(v, label)| {
                let selected = *v == value;
                view! { <option value=*v selected=selected>{label.to_string()}</option> }
            })
            .collect_view()
    };
    view! {
        <section aria-labelledby="users-title" class="rounded-lg border border-slate-200 bg-white shadow-sm">
            <div class="flex items-baseline justify-between p-6 pb-3">
                <h2 id="users-title" class="text-lg font-semibold">"Users"</h2>
                <p class="text-sm text-slate-600" data-testid="users-count">{format!("{} people", view.total)}</p>
            </div>
            {(!removed.is_empty()).then(|| view! {
                <p role="status" data-testid="removed-notice" class="mx-6 rounded bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
                    {format!("{removed} was removed from Portal, and their sessions ended.")}
                </p>
            })}
            <p class="px-6 text-sm text-slate-600">
                "Removing someone in Okta does not remove them from Portal: an administrator removes them here, on the person's page."
            </p>
            <form method="get" action="/settings/iam/users" class="flex flex-wrap items-end gap-4 px-6 pt-4 text-sm">
                <div>
                    <label for="users-q" class="block font-medium text-slate-700">"Search by name or email"</label>
                    <input id="users-q" name="q" type="search" value=q.clone() class="mt-1 rounded border border-slate-300 px-3 py-2 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500" />
                </div>
                <div>
                    <label for="users-source" class="block font-medium text-slate-700">"Source"</label>
                    <select id="users-source" name="source" class="mt-1 rounded border border-slate-300 px-3 py-2">
                        {select(&source, &[("", "All"), ("manual", "Manual"), ("sso_jit", view.jit_label.as_str())])}
                    </select>
                </div>
                <div>
                    <label for="users-status" class="block font-medium text-slate-700">"Status"</label>
                    <select id="users-status" name="status" class="mt-1 rounded border border-slate-300 px-3 py-2">
                        {select(&status, &[("", "All"), ("active", "Active"), ("deactivated", "Deactivated")])}
                    </select>
                </div>
                <button type="submit" class="rounded border border-slate-300 bg-white px-4 py-2 font-medium hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">"Filter"</button>
            </form>
            <div class="overflow-x-auto p-6 pt-3 focus:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-indigo-500" tabindex="0" role="region" aria-label="People">
                <table class="min-w-full text-left text-sm">
                    <thead class="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                        <tr>
                            <th scope="col" class="py-2 pr-4">"Name"</th>
                            <th scope="col" class="py-2 pr-4">"Email"</th>
                            <th scope="col" class="py-2 pr-4">"Source"</th>
                            <th scope="col" class="py-2 pr-4">"Roles"</th>
                            <th scope="col" class="py-2 pr-4">"Agent pools"</th>
                            <th scope="col" class="py-2 pr-4">"Last sign-in"</th>
                            <th scope="col" class="py-2">"Status"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {view.rows.into_iter().map(|row| view! { <UserLine row jit_label=view.jit_label.clone() /> }).collect_view()}
                    </tbody>
                </table>
                {(pages > 1).then(|| view! {
                    <nav aria-label="Pages" class="mt-4 flex items-center gap-4 text-sm">
                        {(view.page > 1).then(|| view! { <a class="text-indigo-700 underline" href=link(view.page - 1)>"Previous"</a> })}
                        <span class="text-slate-600">{format!("Page {} of {pages}", view.page)}</span>
                        {(view.page < pages).then(|| view! { <a class="text-indigo-700 underline" href=link(view.page + 1)>"Next"</a> })}
                    </nav>
                })}
            </div>
        </section>
        {match (view.can_write, view.jit_on, view.jit_idle_reason) {
            (can_write, true, Some(reason)) => view! {
                <p data-testid="jit-explainer" class="mt-4 text-sm text-slate-600">
                    {format!("{reason} ")}
                    {can_write.then(|| view! {
                        <a class="text-indigo-700 underline" href="/settings/iam/identity">"Identity Configuration"</a>
                    })}
                </p>
            }.into_any(),
            (_, true, None) => view! {
                <p data-testid="jit-explainer" class="mt-4 text-sm text-slate-600">
                    {format!("{} is on: accounts are created when people first sign in with Okta, in the default agent pool with the User role.", view.jit_label)}
                </p>
            }.into_any(),
            (true, false, _) => view! { <AddPersonCard add pools=view.pools csrf=view.csrf_token.expose() /> }.into_any(),
            (false, false, _) => ().into_any(),
        }}
    }
}

#[component]
fn UserLine(row: UserRow, jit_label: String) -> impl IntoView {
    let source = if row.source == "sso_jit" {
        jit_label
    } else {
        "Manual".to_string()
    };
    let roles = if row.roles.is_empty() {
        "none".to_string()
    } else {
        row.roles.join(", ")
    };
    let pools = if row.pools.is_empty() {
        "none".to_string()
    } else {
        row.pools.join(", ")
    };
    let href = format!("/settings/iam/users/{}", row.id);
    let name = if row.name.is_empty() {
        row.email.clone()
    } else {
        row.name.clone()
    };
    view! {
        <tr data-testid="user-row">
            <td class="py-2 pr-4 font-medium">
                <a class="text-indigo-700 hover:underline" href=href>{name}</a>
                {row.jit_provisioned.then(|| view! {
                    <span data-testid="jit-badge" class="ml-2 whitespace-nowrap rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-800">"JIT-provisioned"</span>
                })}
            </td>
            <td class="py-2 pr-4">{row.email}</td>
            <td class="py-2 pr-4">{source}</td>
            <td class="py-2 pr-4">{roles}</td>
            <td class="py-2 pr-4">{pools}</td>
            <td class="py-2 pr-4 text-slate-600">{row.last_sign_in.unwrap_or_else(|| "never".into())}</td>
            <td class="py-2">{if row.active { "Active" } else { "Deactivated" }}</td>
        </tr>
    }
}

#[component]
fn AddPersonCard(
    add: ServerAction<AddPerson>,
    pools: Vec<crate::model::PoolOption>,
    csrf: String,
) -> impl IntoView {
    let result = move || outcome(add.value().get(), "Added.");
    let invalid = move |fields: &'static [&'static str]| {
        Signal::derive(move || field_error(add.value().get(), fields))
    };
    view! {
        <details class="mt-6 rounded-lg border border-slate-200 bg-white p-6 shadow-sm" open=add.value().get_untracked().is_some()>
            <summary class="cursor-pointer text-lg font-semibold">"Add a person"</summary>
            <ActionForm action=add attr:class="mt-4 grid max-w-xl gap-3">
                <input type="hidden" name="csrf" value=csrf />
                <Field label="First name" name="first_name" id="add-first-name" value=String::new() placeholder="" required=true error=invalid(&["first_name"]) />
                <Field label="Last name" name="last_name" id="add-last-name" value=String::new() placeholder="" required=true error=invalid(&["last_name"]) />
                <Field label="Email" name="email" id="add-email" value=String::new() placeholder="name@example.com" kind="email" required=true error=invalid(&["email"]) />
                <RoleChoices checked=vec!["user".to_string()] legend="Roles" />
                <div>
                    <label for="add-pool" class="block text-sm font-medium text-slate-700">"Agent pool"</label>
                    <select id="add-pool" name="pool" class="mt-1 rounded border border-slate-300 px-3 py-2 text-sm">
                        <option value="">"None"</option>
                        {pools.into_iter().map(|p| view! { <option value=p.id.to_string()>{p.name}</option> }).collect_view()}
                    </select>
                </div>
                <SaveRow label="Add person" pending=add.pending().into() result=Signal::derive(result) testid="add-person-result" />
            </ActionForm>
        </details>
    }
}
