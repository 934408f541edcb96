//! Replays, through the fuzzing entry points, the seed inputs of `server/fuzz/seeds/` and every
//! input a fuzzer ever found to crash Portal (`server/fuzz/regressions/`, filled by
//! `scripts/fuzz`). Each must be handled without a panic.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for folder in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
            continue;
        };
        for file in entries {
            let path = file.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| entry(&input));
            assert!(outcome.is_ok(), "{} panicked", path.display());
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no inputs for {target} under {}",
        fuzz.display()
    );
}

#[test]
fn acs_inputs_found_by_fuzzing_are_handled() {
    replay("acs_input", portal::fuzzing::acs_input);
}

#[test]
fn oidc_callback_queries_found_by_fuzzing_are_handled() {
    replay("oidc_callback_query", portal::fuzzing::oidc_callback_query);
}

#[test]
fn identity_documents_found_by_fuzzing_are_handled() {
    replay("identity_document", portal::fuzzing::identity_document);
}
