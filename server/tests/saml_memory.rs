//! Verifying a SAML response leaves nothing behind on the heap, however it is signed: a storm of
//! first sign-ins must not grow the portal's memory by what each one parsed. A test binary of its
//! own, so that no other test allocates while this one reads the heap.

mod support;

use portal::sso::saml::verify::{self, Expectations};
use samael::crypto::CertificateDer;
use support::saml::{ResponseSpec, Signed, TestIdp};

const SP: &str = "https://portal.example/sso/saml/metadata";
const ACS: &str = "https://portal.example/sso/saml/acs";

/// Bytes malloc has handed out and not had back, over every arena and mmap.
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads malloc's own counters.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

#[test]
fn verifying_a_thousand_responses_leaves_the_heap_as_it_was() {
    let idp = TestIdp::new("http://www.okta.com/exkmemory");
    let certificates = [CertificateDer::from(idp.cert.to_der().unwrap())];
    for signed in [Signed::Assertion, Signed::Response, Signed::Both] {
        let mut spec = ResponseSpec::new(&idp, SP, ACS, "ada@example.com");
        spec.signed = signed;
        let xml = spec.xml(&idp);
        let verify_once = || {
            let verified = verify::verify(
                &xml,
                &Expectations {
                    idp_entity_id: &idp.entity_id,
                    certificates: &certificates,
                    sp_entity_id: SP,
                    acs_url: ACS,
                    now: chrono::Utc::now(),
                    max_skew: portal::sso::saml::MAX_SKEW,
                },
            )
            .unwrap_or_else(|rejection| panic!("{signed:?}: {rejection}"));
            assert_eq!(verified.name_id, "ada@example.com");
            assert_eq!(verified.attribute("firstName"), Some("Ada"));
        };
        // xmlsec, libxml and OpenSSL fill caches of their own over the first few hundred
        // (about 90 KB, then nothing more).
        for _ in 0..1000 {
            verify_once();
        }
        let before = heap_in_use();
        for _ in 0..1000 {
            verify_once();
        }
        let grown = heap_in_use().saturating_sub(before);
        // Losing the parsed Response each time, as samael does when it makes a signed Assertion
        // the root, is 2.5 MB here.
        assert!(
            grown < 32 * 1024,
            "{signed:?}: the heap grew by {grown} bytes over 1,000 verifications"
        );
    }
}
