//! The pieces every settings form is made of: a card, a labelled field, a Save button with its
//! result line, a value to copy into Okta, and the three role checkboxes.

use leptos::prelude::*;

#[component]
pub fn Card(title: &'static str, id: &'static str, children: Children) -> impl IntoView {
    view! {
        <section aria-labelledby=id class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
            <h2 id=id class="text-lg font-semibold">{title}</h2>
            {children()}
        </section>
    }
}

/// A card's Save button, which says when it is saving, and the line that says what happened.
#[component]
pub fn SaveRow(
    label: &'static str,
    pending: Signal<bool>,
    result: Signal<Option<(bool, String)>>,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <div class="flex items-center gap-4">
            <button
                type="submit"
                class="rounded bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60"
                disabled=move || pending.get()
            >
                {move || if pending.get() { "Saving…" } else { label }}
            </button>
            <p
                role="status"
                data-testid=testid
                data-outcome=move || match result.get() {
                    Some((true, _)) => "saved",
                    Some((false, _)) => "refused",
                    None => "",
                }
                class="text-sm"
            >
                {move || result.get().map(|(ok, text)| {
                    let class = if ok { "text-emerald-700" } else { "text-red-700" };
                    view! { <span class=class>{text}</span> }
                })}
            </p>
        </div>
    }
}

#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    id: &'static str,
    value: String,
    placeholder: &'static str,
) -> impl IntoView {
    view! {
        <div>
            <label for=id class="block text-sm font-medium text-slate-700">{label}</label>
            <input
                id=id
                name=name
                type="text"
                value=value
                placeholder=placeholder
                class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 text-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"
            />
        </div>
    }
}

/// A value the admin copies into Okta, with a button that puts it on the clipboard.
#[component]
pub fn CopyValue(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
        set_copied.set(true);
    };
    view! {
        <div>
            <dt class="text-xs text-slate-600">{label}</dt>
            <dd class="mt-0.5 flex items-center gap-2">
                <code data-testid=testid class="min-w-0 flex-1 break-all rounded bg-white px-2 py-1 text-xs">{value}</code>
                <button
                    type="button"
                    on:click=copy
                    aria-label=format!("Copy {label}")
                    class="rounded border border-slate-300 bg-white px-2 py-1 text-xs hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </dd>
        </div>
    }
}

/// The Admin, User and Viewer checkboxes, named `admin`, `user` and `viewer`.
#[component]
pub fn RoleChoices(checked: Vec<String>, legend: &'static str) -> impl IntoView {
    view! {
        <fieldset class="flex flex-wrap gap-5 text-sm">
            <legend class="mb-1 text-sm font-medium text-slate-700">{legend}</legend>
            {[("admin", "Admin"), ("user", "User"), ("viewer", "Viewer")].into_iter().map(|(key, label)| {
                let on = checked.iter().any(|c| c == key);
                view! {
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name=key value="on" checked=on class="h-4 w-4 rounded border-slate-300 text-indigo-600 focus:ring-2 focus:ring-indigo-500" />
                        {label}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// The words for a form's outcome: `saved` when it worked, the error's sentence when not.
pub fn outcome<T>(
    value: Option<Result<T, crate::model::AppError>>,
    saved: &str,
) -> Option<(bool, String)> {
    value.map(|outcome| match outcome {
        Ok(_) => (true, saved.to_string()),
        Err(error) => (false, error.to_string()),
    })
}
