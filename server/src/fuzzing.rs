//! The entry points that `server/fuzz` drives with hostile input, and that
//! `tests/fuzz_regressions.rs` replays with every input the fuzzers ever found to crash. Each
//! takes bytes as they arrive from the network and runs what Portal runs on them before any
//! database or identity provider is involved; none may panic, whatever the bytes.

use std::sync::OnceLock;

use axum::response::IntoResponse;
use samael::crypto::CertificateDer;

use crate::config::{Plan, Release};
use crate::sso::saml::verify::{self, Expectations};

/// The body of `POST /sso/saml/acs` (form-encoded `SAMLResponse`, base64 of XML) through
/// decoding and every check of [`verify::verify`].
pub fn acs_input(data: &[u8]) {
    quiet_xmlsec();
    let Some((_, encoded)) =
        url::form_urlencoded::parse(data).find(|(key, _)| key == "SAMLResponse")
    else {
        return;
    };
    let Ok(xml) = verify::decode(&encoded) else {
        return;
    };
    let certificates = [certificate().clone()];
    let _ = verify::verify(
        &xml,
        &Expectations {
            idp_entity_id: "http://www.okta.com/exkfuzz",
            certificates: &certificates,
            sp_entity_id: "https://portal.fuzz.example/sso/saml/metadata",
            acs_url: "https://portal.fuzz.example/sso/saml/acs",
            now: chrono::Utc::now(),
            max_skew: crate::sso::saml::MAX_SKEW,
        },
    );
}

/// The raw query of `GET /sso/oidc/callback`, up to the page its failure would show.
pub fn oidc_callback_query(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(failure) = crate::sso::oidc::read_callback_query(raw) {
        drop(failure.into_response());
    }
}

/// A body of `PUT /api/v1/identity` through parsing and every offline check (pasted SAML
/// metadata and certificates included), on both release lines.
pub fn identity_document(data: &[u8]) {
    for release in ["1.53", "1.54"] {
        let release: Release = release.parse().expect("a release");
        let _ = crate::identity::check_offline(data, release, Plan::Enterprise);
    }
}

/// A fixed IdP certificate: the fuzzers' responses are signed by anything but this, as an
/// attacker's would be.
fn certificate() -> &'static CertificateDer {
    static CERTIFICATE: OnceLock<CertificateDer> = OnceLock::new();
    CERTIFICATE.get_or_init(|| {
        let pem = pem::parse(include_str!("fuzzing/idp-certificate.pem")).expect("a PEM file");
        CertificateDer::from(pem.contents().to_vec())
    })
}

/// xmlsec reports every failed check on stderr; millions of them would drown the fuzzer's own
/// output and slow it down.
fn quiet_xmlsec() {
    static QUIET: OnceLock<()> = OnceLock::new();
    QUIET.get_or_init(|| {
        extern "C" {
            fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::ffi::c_int);
        }
        // SAFETY: sets one global flag of libxmlsec1, which samael links; no pointers involved.
        unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) };
    });
}
