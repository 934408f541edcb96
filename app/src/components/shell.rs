//! The frame around every signed-in page: header with the person's menu, content, footer.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::api::{get_shell, page_data, SignOut};
use crate::components::status::PageError;
use crate::model::ShellInfo;

#[component]
pub fn Shell() -> impl IntoView {
    let shell = page_data(|| (), |_| get_shell());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match shell.await {
                    Ok(info) => {
                        provide_context(info.clone());
                        view! { <Frame info /> }.into_any()
                    }
                    Err(error) => view! { <PageError error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Frame(info: ShellInfo) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let name = info.me.display_name();
    let csrf = info.me.csrf_token.clone().expose();
    let is_admin = info.me.is_admin;
    let can_read_people = info.me.can_read_people;
    // Admins start at the identity configuration; Viewers at the people they may read.
    let settings_home = if is_admin {
        "/settings/iam/identity"
    } else {
        "/settings/iam/users"
    };
    view! {
        <div class="flex min-h-screen flex-col">
            <header class="border-b border-slate-200 bg-white">
                <div class="mx-auto flex max-w-6xl items-center justify-between px-6 py-3">
                    <A href="/" attr:class="text-lg font-semibold text-slate-900">
                        "Portal"
                    </A>
                    <nav class="flex items-center gap-4 text-sm" aria-label="Account">
                        <span data-testid="signed-in-as" class="text-slate-700">
                            {name}
                        </span>
                        <Show when=move || is_admin || can_read_people>
                            <A
                                href=settings_home
                                attr:class="rounded px-2 py-1 font-medium text-indigo-700 hover:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                            >
                                "Settings"
                            </A>
                        </Show>
                        <ActionForm action=sign_out>
                            <input type="hidden" name="csrf" value=csrf />
                            <button
                                type="submit"
                                class="rounded px-2 py-1 text-slate-700 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                            >
                                "Sign out"
                            </button>
                        </ActionForm>
                    </nav>
                </div>
            </header>
            <main class="mx-auto w-full max-w-6xl flex-1 px-6 py-6">
                <Outlet />
            </main>
            <footer class="border-t border-slate-200 py-3 text-center text-xs text-slate-500">
                "Portal release " <span data-testid="release">{info.release}</span>
            </footer>
        </div>
    }
}
