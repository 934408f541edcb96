//! `/login`: the local email and password form. Local sign-in always works, whatever the
//! SSO settings say, so that an admin can never be locked out (break-glass).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{get_login_page, page_data, SignIn};

#[component]
pub fn LoginPage() -> impl IntoView {
    let page = page_data(|| (), |_| get_login_page());
    let sign_in = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    let notice = move || {
        query.with(|q| {
            if q.get("expired").is_some() {
                Some("Your session has expired. Sign in again.")
            } else if q.get("signed_out").is_some() {
                Some("You have signed out.")
            } else {
                None
            }
        })
    };
    let error = move || {
        sign_in
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|e| e.to_string())
    };

    view! {
        <main class="flex min-h-screen items-center justify-center px-4">
            <div class="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-8 shadow-sm">
                <h1 class="text-2xl font-semibold">"Sign in to Portal"</h1>
                {move || notice().map(|text| view! {
                    <p role="status" data-testid="login-notice" class="mt-4 rounded bg-slate-100 p-3 text-sm text-slate-800">
                        {text}
                    </p>
                })}
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let info = page.await;
                        let (csrf, release, sso_start, sso_first) = match info {
                            Ok(info) => (info.csrf_token.expose(), info.release, info.sso_start, info.sso_is_login_method),
                            Err(_) => (String::new(), String::new(), None, false),
                        };
                        let okta = sso_start.map(|start| {
                            let href = format!("{start}?return_to={}", crate::components::status::urlencode(&next()));
                            view! {
                                <a
                                    href=href
                                    rel="external"
                                    data-testid="sign-in-with-okta"
                                    class="mt-6 block w-full rounded bg-indigo-600 px-4 py-2 text-center font-medium text-white hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
                                >
                                    "Sign in with Okta"
                                </a>
                            }
                        });
                        let has_okta = okta.is_some();
                        let form = view! {
                            <ActionForm action=sign_in attr:class="mt-6 space-y-4">
                                <input type="hidden" name="csrf" value=csrf />
                                <input type="hidden" name="next" value=next />
                                <div>
                                    <label for="email" class="block text-sm font-medium text-slate-700">"Email"</label>
                                    <input
                                        id="email"
                                        name="email"
                                        type="email"
                                        autocomplete="username"
                                        required
                                        class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"
                                    />
                                </div>
                                <div>
                                    <label for="password" class="block text-sm font-medium text-slate-700">"Password"</label>
                                    <input
                                        id="password"
                                        name="password"
                                        type="password"
                                        autocomplete="current-password"
                                        required
                                        class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"
                                    />
                                </div>
                                {move || error().map(|text| view! {
                                    <p role="alert" data-testid="login-error" class="rounded bg-red-50 p-3 text-sm text-red-800">
                                        {text}
                                    </p>
                                })}
                                <button
                                    type="submit"
                                    class=if has_okta {
                                        "w-full rounded border border-slate-300 bg-white px-4 py-2 font-medium text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60"
                                    } else {
                                        "w-full rounded bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60"
                                    }
                                    disabled=move || sign_in.pending().get()
                                >
                                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                                </button>
                            </ActionForm>
                        };
                        view! {
                            {okta}
                            {if sso_first {
                                view! {
                                    <details class="mt-6">
                                        <summary class="cursor-pointer text-sm text-slate-600">"Sign in with a local account"</summary>
                                        {form}
                                    </details>
                                }
                                .into_any()
                            } else {
                                form.into_any()
                            }}
                            <p class="mt-6 text-center text-xs text-slate-500">"Portal release " {release}</p>
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
