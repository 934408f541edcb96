//! The smallest front end of Portal's kind, and what one more form adds to it. A form loads its
//! settings, toggles one, takes a line of text and saves both through a server function that
//! answers in postcard. `full` hydrates whole pages under a router, as Portal does today, each
//! page's data in a postcard Resource; `islands` hydrates the forms alone, each an island
//! given its settings as props. `more` adds seven such forms, each with its own types and
//! server function, to measure what one more form adds.
use leptos::prelude::*;
use leptos::server_fn::codec::Postcard;
use serde::{Deserialize, Serialize};

macro_rules! form {
    ($module:ident, $island:ident, $page:ident) => {
        pub mod $module {
            use super::*;

            #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
            pub struct Settings {
                pub on: bool,
                pub name: String,
                pub reason: Option<String>,
            }

            #[server(output = Postcard)]
            pub async fn save(on: Option<String>, name: String) -> Result<Settings, ServerFnError> {
                Ok(Settings { on: on.is_some(), name, reason: None })
            }

            #[server(output = Postcard)]
            pub async fn load() -> Result<Settings, ServerFnError> {
                Ok(Settings { on: false, name: stringify!($module).into(), reason: None })
            }

            pub fn form(settings: Settings) -> impl IntoView {
                let save = ServerAction::<Save>::new();
                let (on, set_on) = signal(settings.on);
                view! {
                    <ActionForm action=save>
                        <label>
                            <input type="checkbox" name="on" prop:checked=on
                                on:change=move |_| set_on.update(|v| *v = !*v) />
                            {stringify!($module)}
                        </label>
                        <input type="text" name="name" value=settings.name.clone() />
                        <button type="submit" disabled=move || save.pending().get()>"Save"</button>
                    </ActionForm>
                    <p>{move || save.value().get().map(|answer| match answer {
                        Ok(saved) => format!("{} is {}", saved.name, if saved.on { "on" } else { "off" }),
                        Err(e) => e.to_string(),
                    })}</p>
                    {settings.reason.map(|reason| view! { <p class="reason">{reason}</p> })}
                }
            }

            #[cfg(feature = "islands")]
            #[island]
            pub fn $island(settings: Settings) -> impl IntoView {
                form(settings)
            }

            #[cfg(feature = "full")]
            #[component]
            pub fn $page() -> impl IntoView {
                // As Portal's pages read their data: a Resource carried in postcard in the HTML.
                let settings: Resource<Result<Settings, ServerFnError>, codee::binary::PostcardCodec> =
                    Resource::new_with_options(|| (), |_| load(), false);
                view! {
                    <Suspense fallback=|| "Loading">
                        {move || settings.get().map(|s| s.map(form).map_err(|e| e.to_string()))}
                    </Suspense>
                }
            }
        }
    };
}

form!(f0, Island0, Page0);
#[cfg(feature = "more")]
form!(f1, Island1, Page1);
#[cfg(feature = "more")]
form!(f2, Island2, Page2);
#[cfg(feature = "more")]
form!(f3, Island3, Page3);
#[cfg(feature = "more")]
form!(f4, Island4, Page4);
#[cfg(feature = "more")]
form!(f5, Island5, Page5);
#[cfg(feature = "more")]
form!(f6, Island6, Page6);
#[cfg(feature = "more")]
form!(f7, Island7, Page7);

#[cfg(feature = "islands")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}

#[cfg(feature = "full")]
#[component]
pub fn App() -> impl IntoView {
    use leptos_router::{
        components::{Route, Router, Routes},
        path,
    };
    #[cfg(not(feature = "more"))]
    return view! {
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("") view=f0::Page0 />
            </Routes>
        </Router>
    };
    #[cfg(feature = "more")]
    view! {
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("") view=f0::Page0 />
                <Route path=path!("1") view=f1::Page1 />
                <Route path=path!("2") view=f2::Page2 />
                <Route path=path!("3") view=f3::Page3 />
                <Route path=path!("4") view=f4::Page4 />
                <Route path=path!("5") view=f5::Page5 />
                <Route path=path!("6") view=f6::Page6 />
                <Route path=path!("7") view=f7::Page7 />
            </Routes>
        </Router>
    }
}

#[cfg(feature = "full")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
