//! Settings' frame: the section column and the Identity and Access Management tabs.
//! A tab appears here once its page exists.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn SettingsFrame(children: Children) -> impl IntoView {
    // Identity Configuration is for Admins; the other tabs are for Admins and Viewers.
    let is_admin = use_context::<crate::model::ShellInfo>().is_some_and(|info| info.me.is_admin);
    let section_home = if is_admin {
        "/settings/iam/identity"
    } else {
        "/settings/iam/users"
    };
    view! {
        <div class="flex gap-8">
            <nav aria-label="Settings sections" class="w-56 shrink-0">
                <p class="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-500">"Settings"</p>
                <ul>
                    <li>
                        <A
                            href=section_home
                            attr:class="block rounded bg-indigo-50 px-3 py-2 text-sm font-medium text-indigo-800"
                        >
                            "Identity and Access Management"
                        </A>
                    </li>
                </ul>
            </nav>
            <div class="min-w-0 flex-1">
                <h1 class="text-2xl font-semibold">"Identity and Access Management"</h1>
                <nav aria-label="Identity and Access Management" class="mt-4 border-b border-slate-200">
                    <ul class="flex gap-6 text-sm">
                        {is_admin.then(|| view! { <li><Tab href="/settings/iam/identity" label="Identity Configuration" /></li> })}
                        <li><Tab href="/settings/iam/users" label="Users" /></li>
                        <li><Tab href="/settings/iam/agent-pools" label="Agent Pools" /></li>
                        <li><Tab href="/settings/iam/roles" label="Roles" /></li>
                        <li><Tab href="/settings/iam/audit" label="Audit Log" /></li>
                    </ul>
                </nav>
                <div class="mt-6">{children()}</div>
            </div>
        </div>
    }
}

/// A tab of Identity and Access Management; the router marks the current one
/// (`aria-current="page"`), which is also what styles it.
#[component]
fn Tab(href: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <A
            href=href
            attr:class="-mb-px inline-block border-b-2 border-transparent pb-2 text-slate-600 hover:text-slate-900 aria-[current=page]:border-indigo-600 aria-[current=page]:font-medium aria-[current=page]:text-indigo-800"
        >
            {label}
        </A>
    }
}
