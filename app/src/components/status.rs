//! How a page reacts to a failed load: send the person to sign in, or say why not.

use leptos::prelude::*;
use leptos_router::{components::Redirect, hooks::use_location};

use crate::model::AppError;

/// Renders the answer to a failed page load: a redirect to `/login` when there is no valid
/// session, a 403 page for a missing role, and the error's own sentence otherwise.
#[component]
pub fn PageError(error: AppError) -> impl IntoView {
    match error {
        AppError::SignInRequired | AppError::SessionExpired => {
            let location = use_location();
            let next = format!(
                "{}{}",
                location.pathname.get_untracked(),
                location.search.get_untracked()
            );
            let reason = if error == AppError::SessionExpired {
                "&expired=1"
            } else {
                ""
            };
            let to = format!("/login?next={}{reason}", urlencode(&next));
            // `Redirect` sets the Location header on the server; the status makes it a redirect.
            set_status(303);
            view! { <Redirect path=to /> }.into_any()
        }
        AppError::Forbidden => {
            set_status(403);
            view! {
                <section class="mx-auto max-w-xl p-8" data-testid="forbidden">
                    <h1 class="text-xl font-semibold">"You do not have access to this page"</h1>
                    <p class="mt-2 text-slate-700">{error.to_string()}</p>
                    <p class="mt-4">
                        <a class="text-indigo-700 underline" href="/">"Back to Portal"</a>
                    </p>
                </section>
            }
            .into_any()
        }
        other => {
            if other == AppError::Unavailable {
                set_status(503);
            }
            view! {
                <p role="alert" class="m-8 rounded border border-red-300 bg-red-50 p-4 text-red-800">
                    {other.to_string()}
                </p>
            }
            .into_any()
        }
    }
}

/// Sets the HTTP status of a server-rendered page; nothing in the browser.
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(code) {
            response.set_status(status);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// Percent-encodes a path for a query parameter, keeping `/` readable.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
