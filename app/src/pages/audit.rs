//! Settings > Identity and Access Management > Audit Log: every sign-in outcome, JIT creation,
//! link, refusal and change, newest first, with filters in the URL and a CSV export of what
//! the filters show. A correlation id from an error page finds its event here.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{get_audit_page, page_data};
use crate::components::status::{urlencode, PageError};
use crate::model::AuditView;
use crate::pages::settings::SettingsFrame;

const FILTERS: [&str; 6] = [
    "outcome",
    "action",
    "person",
    "correlation_id",
    "since",
    "until",
];

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let events = page_data(
        move || query.get(),
        |q| {
            get_audit_page(
                q.get("outcome"),
                q.get("action"),
                q.get("person"),
                q.get("correlation_id"),
                q.get("since"),
                q.get("until"),
                q.get("page").and_then(|p| p.parse().ok()),
            )
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(view) => view! {
                        <SettingsFrame>
                            <AuditCard view />
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
fn AuditCard(view: AuditView) -> impl IntoView {
    let query = use_query_map();
    let current = move |key: &str| query.with_untracked(|q| q.get(key)).unwrap_or_default();
    let filters: String = FILTERS
        .iter()
        .map(|key| format!("{key}={}", urlencode(&current(key))))
        .collect::<Vec<_>>()
        .join("&");
    let export = format!("/api/v1/audit.csv?{filters}");
    let pages = view.total.div_ceil(view.per_page).max(1);
    let outcome = current("outcome");
    let input = |id: &'static str, name: &'static str, label: &'static str, value: String| {
        view! {
            <div>
                <label for=id class="block font-medium text-slate-700">{label}</label>
                <input id=id name=name type="text" value=value class="mt-1 rounded border border-slate-300 px-3 py-2 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500" />
            </div>
        }
    };
    view! {
        <section aria-labelledby="audit-title" class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
            <div class="flex items-baseline justify-between">
                <h2 id="audit-title" class="text-lg font-semibold">"Audit Log"</h2>
                <p class="text-sm text-slate-600">{format!("{} events", view.total)}</p>
            </div>
            <form method="get" action="/settings/iam/audit" class="mt-4 flex flex-wrap items-end gap-4 text-sm">
                <div>
                    <label for="audit-outcome" class="block font-medium text-slate-700">"Outcome"</label>
                    <select id="audit-outcome" name="outcome" class="mt-1 rounded border border-slate-300 px-3 py-2">
                        {[("", "All"), ("success", "Success"), ("failure", "Failure")].into_iter().map(|(v, l)| {
                            view! { <option value=v selected=v == outcome>{l}</option> }
                        }).collect_view()}
                    </select>
                </div>
                {input("audit-action", "action", "Action", current("action"))}
                {input("audit-person", "person", "Person", current("person"))}
                {input("audit-correlation", "correlation_id", "Correlation id", current("correlation_id"))}
                <div>
                    <label for="audit-since" class="block font-medium text-slate-700">"From (UTC)"</label>
                    <input id="audit-since" name="since" type="date" value=current("since") class="mt-1 rounded border border-slate-300 px-3 py-2" />
                </div>
                <div>
                    <label for="audit-until" class="block font-medium text-slate-700">"To (UTC)"</label>
                    <input id="audit-until" name="until" type="date" value=current("until") class="mt-1 rounded border border-slate-300 px-3 py-2" />
                </div>
                <button type="submit" class="rounded border border-slate-300 bg-white px-4 py-2 font-medium hover:bg-slate-50">"Filter"</button>
                <a href=export class="py-2 text-indigo-700 underline" download="portal-audit.csv">"Export CSV"</a>
            </form>
            <div class="mt-4 overflow-x-auto focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500" tabindex="0" role="region" aria-label="Audit events">
                <table class="min-w-full text-left text-sm">
                    <thead class="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                        <tr>
                            <th scope="col" class="py-2 pr-4">"Time"</th>
                            <th scope="col" class="py-2 pr-4">"Actor"</th>
                            <th scope="col" class="py-2 pr-4">"Action"</th>
                            <th scope="col" class="py-2 pr-4">"Target"</th>
                            <th scope="col" class="py-2 pr-4">"Outcome"</th>
                            <th scope="col" class="py-2 pr-4">"Correlation id"</th>
                            <th scope="col" class="py-2">"Details"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {view.rows.into_iter().map(|row| {
                            let failed = row.outcome == "failure";
                            view! {
                                <tr data-testid="audit-row">
                                    <td class="whitespace-nowrap py-2 pr-4 text-slate-600">{row.at}</td>
                                    <td class="py-2 pr-4">{row.actor}</td>
                                    <td class="py-2 pr-4 font-mono text-xs">{row.action}</td>
                                    <td class="py-2 pr-4">{row.target}</td>
                                    <td class="py-2 pr-4" class:text-red-700=failed>{row.outcome}</td>
                                    <td class="py-2 pr-4 font-mono text-xs">{row.correlation_id}</td>
                                    <td class="max-w-md break-all py-2 font-mono text-xs text-slate-600">{row.details}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(pages > 1).then(|| {
                let link = move |page: u64| format!("/settings/iam/audit?{filters}&page={page}");
                view! {
                    <nav aria-label="Pages" class="mt-4 flex items-center gap-4 text-sm">
                        {(view.page > 1).then(|| view! { <a class="text-indigo-700 underline" href=link(view.page - 1)>"Previous"</a> })}
                        <span class="text-slate-600">{format!("Page {} of {pages}", view.page)}</span>
                        {(view.page < pages).then(|| view! { <a class="text-indigo-700 underline" href=link(view.page + 1)>"Next"</a> })}
                    </nav>
                }
            })}
        </section>
    }
}
