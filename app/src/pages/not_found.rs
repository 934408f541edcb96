use leptos::prelude::*;

use crate::components::status::set_status;

#[component]
pub fn NotFound() -> impl IntoView {
    set_status(404);
    view! {
        <section class="mx-auto max-w-xl p-8">
            <h1 class="text-xl font-semibold">"Page not found"</h1>
            <p class="mt-2 text-slate-700">"There is no page at this address."</p>
            <p class="mt-4">
                <a class="text-indigo-700 underline" href="/">"Back to Portal"</a>
            </p>
        </section>
    }
}
