//! Portal's pages and the server functions they call. Server functions stay thin: each one
//! hands its input to the server-side [`backend::Backend`] and maps the answer.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod model;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

use crate::components::shell::Shell;
use crate::pages::{
    audit::AuditLogPage,
    home::HomePage,
    identity::IdentityConfigurationPage,
    login::LoginPage,
    not_found::NotFound,
    person::PersonPage,
    pools::{AgentPoolPage, AgentPoolsPage},
    roles::RolesPage,
    users::UsersPage,
};

/// The HTML document around every page, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Flips only in the browser: end-to-end tests wait for it before they click.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/portal.css" />
        <Title text="Portal" />
        <span
            id="hydration-state"
            class="hidden"
            data-state=move || if hydrated.get() { "hydrated" } else { "ssr" }
        ></span>
        <Router>
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=Shell ssr=SsrMode::Async>
                    <Route path=path!("") view=HomePage ssr=SsrMode::Async />
                    <Route
                        path=path!("settings/iam/identity")
                        view=IdentityConfigurationPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("settings/iam/users") view=UsersPage ssr=SsrMode::Async />
                    <Route path=path!("settings/iam/users/:id") view=PersonPage ssr=SsrMode::Async />
                    <Route path=path!("settings/iam/agent-pools") view=AgentPoolsPage ssr=SsrMode::Async />
                    <Route path=path!("settings/iam/agent-pools/:id") view=AgentPoolPage ssr=SsrMode::Async />
                    <Route path=path!("settings/iam/roles") view=RolesPage ssr=SsrMode::Async />
                    <Route path=path!("settings/iam/audit") view=AuditLogPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
