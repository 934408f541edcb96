//! The landing page after sign-in.

use leptos::prelude::*;

use crate::model::ShellInfo;

#[component]
pub fn HomePage() -> impl IntoView {
    let info = expect_context::<ShellInfo>();
    let name = info.me.display_name();
    let email = info.me.email.clone();
    let is_admin = info.me.is_admin;
    let roles = if info.me.roles.is_empty() {
        "none yet".to_string()
    } else {
        info.me.roles.join(", ")
    };
    view! {
        <section class="max-w-2xl">
            <h1 class="text-2xl font-semibold">"Welcome, " {name}</h1>
            <p class="mt-2 text-slate-700">
                "You are signed in as " <strong>{email}</strong> ". Your roles: "
                <span data-testid="my-roles">{roles}</span> "."
            </p>
            <Show when=move || is_admin>
                <p class="mt-4">
                    <a class="text-indigo-700 underline" href="/settings/iam/identity">
                        "Open Settings > Identity and Access Management"
                    </a>
                </p>
            </Show>
        </section>
    }
}
