//! The browser entry point: hydrates the server-rendered pages of `app`.
//! Compiled to wasm32 only; nothing here touches the server's crates.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
