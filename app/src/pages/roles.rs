//! Settings > Identity and Access Management > Roles: what each role may do, read-only. Roles
//! and permissions are set in Portal, not in Okta.

use leptos::prelude::*;

use crate::api::{get_roles_page, page_data};
use crate::components::form::Card;
use crate::components::status::PageError;
use crate::pages::settings::SettingsFrame;

#[component]
pub fn RolesPage() -> impl IntoView {
    let roles = page_data(|| (), |_| get_roles_page());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match roles.await {
                    Ok(rows) => view! {
                        <SettingsFrame>
                            <Card title="Roles" id="roles-title">
                                <p class="mt-1 text-sm text-slate-600">
                                    "A person's roles are their direct roles plus those of their agent pools. Every check happens on the server."
                                </p>
                                <table class="mt-4 min-w-full text-left text-sm">
                                    <thead class="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                                        <tr><th scope="col" class="py-2 pr-4">"Role"</th><th scope="col" class="py-2">"May"</th></tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|row| {
                                            let name = {
                                                let mut c = row.role.chars();
                                                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
                                            };
                                            view! {
                                                <tr data-testid="role-row">
                                                    <th scope="row" class="py-2 pr-4 font-medium">{name}</th>
                                                    <td class="py-2">{row.may.join("; ")}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </Card>
                        </SettingsFrame>
                    }
                    .into_any(),
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
