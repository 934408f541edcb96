//! Settings > Identity and Access Management > Users: everyone with an account, where it came
//! from (added by hand or created just in time at a first Okta sign-in), and their access.

use leptos::prelude::*;

use crate::api::get_users;
use crate::components::status::PageError;
use crate::model::UserRow;
use crate::pages::settings::SettingsFrame;

#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| get_users());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(rows) => view! {
                        <SettingsFrame>
                            <UsersTable rows />
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
fn UsersTable(rows: Vec<UserRow>) -> impl IntoView {
    let count = rows.len();
    view! {
        <section aria-labelledby="users-title" class="rounded-lg border border-slate-200 bg-white shadow-sm">
            <div class="flex items-baseline justify-between p-6 pb-3">
                <h2 id="users-title" class="text-lg font-semibold">"Users"</h2>
                <p class="text-sm text-slate-600">{format!("{count} people")}</p>
            </div>
            <p class="px-6 text-sm text-slate-600">
                "Removing someone in Okta does not remove them from Portal: an administrator removes them here."
            </p>
            <div class="overflow-x-auto p-6 pt-3">
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
                        {rows.into_iter().map(|row| view! { <UserLine row /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn UserLine(row: UserRow) -> impl IntoView {
    let source = if row.source == "sso_jit" {
        "SSO JIT"
    } else {
        "Manual"
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
    view! {
        <tr data-testid="user-row">
            <td class="py-2 pr-4 font-medium">{row.name}</td>
            <td class="py-2 pr-4">{row.email}</td>
            <td class="py-2 pr-4">
                {source}
                {row.jit_provisioned.then(|| view! {
                    <span data-testid="jit-badge" class="ml-2 rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-800">"JIT-provisioned"</span>
                })}
            </td>
            <td class="py-2 pr-4">{roles}</td>
            <td class="py-2 pr-4">{pools}</td>
            <td class="py-2 pr-4 text-slate-600">{row.last_sign_in.unwrap_or_else(|| "never".into())}</td>
            <td class="py-2">{if row.active { "Active" } else { "Deactivated" }}</td>
        </tr>
    }
}
