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

/// A card's Save button, which says when it is saving (disabled, "Saving…", `aria-busy`), and
/// the line that says what happened, read out by screen readers when it changes.
#[component]
pub fn SaveRow(
    label: &'static str,
    pending: Signal<bool>,
    result: Signal<Option<(bool, String)>>,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <div class="flex flex-wrap items-center gap-4" aria-busy=move || pending.get().to_string()>
            <button
                type="submit"
                class="rounded bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:cursor-wait disabled:opacity-60"
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
                    let class = if ok { "text-emerald-800" } else { "text-red-700" };
                    view! { <span class=class>{text}</span> }
                })}
            </p>
        </div>
    }
}

/// A labelled text input. The browser checks `required` and `kind` (`email`, `url`) as the person
/// types and before sending; its message, or the server's `error` about this field, shows under
/// the input and is tied to it with `aria-describedby` and `aria-invalid`.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    id: &'static str,
    value: String,
    placeholder: &'static str,
    /// The input's type: `text` unless given.
    #[prop(optional)]
    kind: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] max_length: Option<u32>,
    /// A hint under the input, always shown.
    #[prop(optional)]
    hint: Option<&'static str>,
    /// What the server said about this field when it refused the form.
    #[prop(optional, into)]
    error: MaybeProp<String>,
) -> impl IntoView {
    // What the browser's own check says, once the person has left the field or tried to send.
    let (local, set_local) = signal(None::<String>);
    let message = move || local.get().or_else(|| error.get());
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if message().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    let on_blur = move |event: leptos::ev::FocusEvent| {
        // Only what was typed is judged on leaving; an empty required field waits for Save.
        if let Some((value, text)) = browser_check(&event) {
            set_local.set((!value.is_empty()).then_some(text).flatten());
        }
    };
    let on_invalid = move |event: leptos::ev::Event| {
        if let Some((_, text)) = browser_check(&event) {
            set_local.set(text);
        }
    };
    view! {
        <div>
            <label for=id class="block text-sm font-medium text-slate-700">
                {label}
                {required.then(|| view! { <span class="text-slate-600">" (required)"</span> })}
            </label>
            <input
                id=id
                name=name
                type=kind.unwrap_or("text")
                value=value
                placeholder=placeholder
                required=required
                maxlength=max_length.map(|n| n.to_string())
                aria-invalid=move || message().is_some().then_some("true")
                aria-describedby=described_by
                on:invalid=on_invalid
                on:blur=on_blur
                on:input=move |_| set_local.set(None)
                class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 text-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500 aria-[invalid=true]:border-red-600"
            />
            {hint.map(|text| view! { <p id=hint_id class="mt-1 text-xs text-slate-600">{text}</p> })}
            {move || message().map(|text| view! {
                <p id=error_id.clone() data-testid=format!("{id}-error") class="mt-1 text-sm text-red-700">{text}</p>
            })}
        </div>
    }
}

/// A labelled textarea for pasted PEM or XML, with the server's `error` about it under it.
#[component]
pub fn TextArea(
    label: &'static str,
    name: &'static str,
    id: &'static str,
    #[prop(optional, into)] error: MaybeProp<String>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let described_by = {
        let error_id = error_id.clone();
        move || error.get().map(|_| error_id.clone())
    };
    view! {
        <div>
            <label for=id class="block text-sm font-medium text-slate-700">{label}</label>
            <textarea
                id=id
                name=name
                rows="3"
                aria-invalid=move || error.get().map(|_| "true")
                aria-describedby=described_by
                class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 font-mono text-xs focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500 aria-[invalid=true]:border-red-600"
            ></textarea>
            {move || error.get().map(|text| view! {
                <p id=error_id.clone() data-testid=format!("{id}-error") class="mt-1 text-sm text-red-700">{text}</p>
            })}
        </div>
    }
}

/// The input's value and the browser's complaint about it (`required`, `type`, `maxlength`).
#[cfg(feature = "hydrate")]
fn browser_check(event: &leptos::ev::Event) -> Option<(String, Option<String>)> {
    let input: web_sys::HtmlInputElement = event_target(event);
    let text = input.validation_message().unwrap_or_default();
    Some((input.value(), (!text.is_empty()).then_some(text)))
}

#[cfg(not(feature = "hydrate"))]
fn browser_check(_: &leptos::ev::Event) -> Option<(String, Option<String>)> {
    None
}

/// A value the admin copies into Okta, with a button that puts it on the clipboard.
#[component]
pub fn CopyValue(
    label: &'static str,
    value: String,
    testid: &'static str,
    /// What the copy button is called for screen readers, when "Copy {label}" is not unique.
    #[prop(optional, into)]
    copy_label: Option<String>,
) -> impl IntoView {
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
                    aria-label=copy_label.unwrap_or_else(|| format!("Copy {label}"))
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

/// The server's refusal of one field, to show under that input: `fields` are the names the
/// server gives it (`sso.saml.idp_certificates` also matches `sso.saml.idp_certificates[0]`).
pub fn field_error<T>(
    value: Option<Result<T, crate::model::AppError>>,
    fields: &[&str],
) -> Option<String> {
    match value {
        Some(Err(crate::model::AppError::Invalid { field, message })) => fields
            .iter()
            .any(|f| {
                field == *f
                    || field
                        .strip_prefix(f)
                        .is_some_and(|rest| rest.starts_with('['))
            })
            .then_some(message),
        _ => None,
    }
}
