//! Checks a SAML Response before anything in it is believed. The order matters: size and
//! shape first, then the signature against the configured certificates only, then every
//! condition read from the signed XML alone. samael does the XML signature cryptography;
//! every rule it leaves open (no certificate, weak digests, missing audience, wrapping) is
//! closed here.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use roxmltree::{Document, Node};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const EMAIL_NAME_ID: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// The largest `SAMLResponse` form value read; Okta's responses are a few kilobytes.
pub const MAX_ENCODED_LEN: usize = 256 * 1024;
/// The most of a refused status's name (`Requester`, `AuthnFailed`, …) that Portal repeats.
const STATUS_NAME_LIMIT: usize = 64;

const SIGNATURE_ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];
const DIGEST_ALGORITHMS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// The canonicalizations a signature may name for its SignedInfo and apply to what it signs:
/// exclusive (Okta's), inclusive 1.0 and 1.1, each with or without comments.
const CANONICALIZATIONS: [&str; 6] = [
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
];
const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// How long after its IssueInstant an assertion is taken, beyond the clock skew, whatever
/// validity it claims: Okta's are good for five minutes and posted at once, so an older one has
/// been kept somewhere. It also bounds how long the replay cache holds an assertion's id.
pub const MAX_ASSERTION_AGE: TimeDelta = TimeDelta::minutes(10);
/// The most transforms a reference may list. xmlsec runs them before it checks the signature,
/// so their number is the sender's to choose; Okta lists two.
const MAX_TRANSFORMS: usize = 4;

/// What a Response must match: the configured identity provider and this portal.
pub struct Expectations<'a> {
    pub idp_entity_id: &'a str,
    pub certificates: &'a [CertificateDer],
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub now: DateTime<Utc>,
    pub max_skew: TimeDelta,
}

/// The facts of a verified assertion, every one read from signed XML.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Attribute name → values, as the identity provider sent them.
    pub attributes: HashMap<String, Vec<String>>,
    /// The request this answers, when it was solicited.
    pub in_response_to: Option<String>,
    /// Until when the assertion could be replayed: the replay cache keeps its id that long.
    pub replayable_until: DateTime<Utc>,
    /// The latest the session Okta vouched for may last (the AuthnStatement's
    /// SessionNotOnOrAfter), when it says.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
}

impl VerifiedAssertion {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// Why a Response was refused. `code` goes to the audit log, `Display` to the admin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("the SAML response is larger than {MAX_ENCODED_LEN} bytes")]
    TooLarge,
    #[error("the request is not a form post carrying a SAMLResponse field: {0}")]
    NotAFormPost(String),
    #[error("the SAMLResponse field is not base64")]
    NotBase64,
    #[error("the SAML response is not well-formed XML: {0}")]
    Malformed(String),
    #[error("the SAML response carries a DOCTYPE or entity declaration, which is never accepted")]
    Doctype,
    #[error("the document is not a SAML 2.0 Response")]
    NotAResponse,
    #[error("the identity provider answered with status {0} instead of Success")]
    Status(String),
    #[error("the response must carry exactly one assertion, directly inside the Response; it carries {0}")]
    AssertionCount(usize),
    #[error("encrypted assertions are not supported; turn assertion encryption off in Okta")]
    Encrypted,
    #[error("the response is not signed; Okta signs assertions by default, check the app's SAML settings")]
    Unsigned,
    #[error("a signature is placed where it covers neither the Response nor its Assertion")]
    SignaturePlacement,
    #[error("a signature's reference does not point at the element that holds it")]
    ReferenceMismatch,
    #[error("the signature uses {0}, which is too weak; SHA-256 or stronger is required")]
    WeakAlgorithm(String),
    #[error("the signature applies {0}; only the enveloped-signature transform and canonicalization are accepted, as Okta signs")]
    Transform(String),
    #[error("a signature carries {0}; Okta's signatures hold only SignedInfo, SignatureValue and KeyInfo")]
    SignatureContent(String),
    #[error("the element {element} carries the attribute {attribute} {how}, which libxml2 and Portal would read differently; SAML and signature elements take their attributes once and without a namespace")]
    ForeignAttribute {
        element: String,
        attribute: String,
        how: String,
    },
    #[error("the signature does not verify with the configured IdP certificate(s)")]
    BadSignature,
    #[error("the assertion was issued by '{found}', not by the configured identity provider '{expected}'")]
    Issuer { found: String, expected: String },
    #[error("the assertion names no audience; it must be restricted to this portal")]
    AudienceMissing,
    #[error("the assertion is meant for another service ({0}), not this portal")]
    Audience(String),
    #[error("the response was sent to {found}, not to this portal's ACS URL {expected}")]
    Destination { found: String, expected: String },
    #[error("the assertion's recipient is {found}, not this portal's ACS URL {expected}")]
    Recipient { found: String, expected: String },
    #[error("the assertion has no bearer subject confirmation")]
    NotBearer,
    #[error("the assertion is not valid yet (NotBefore {0}); check the clocks")]
    NotYetValid(String),
    #[error("the assertion was issued in the future (IssueInstant {0}); check the clocks")]
    IssuedInFuture(String),
    #[error("the assertion has expired (NotOnOrAfter {0}); sign in again")]
    Expired(String),
    #[error("the assertion was issued at {0}, more than ten minutes ago; sign in again")]
    TooOld(String),
    #[error("the assertion carries no AuthnStatement, so it does not say that the identity provider authenticated the person (SAML profiles 4.1.4.2)")]
    NoAuthnStatement,
    #[error("the session the identity provider granted has ended (SessionNotOnOrAfter {0}); sign in again")]
    SessionEnded(String),
    #[error("the assertion carries no conditions with a validity period")]
    NoValidity,
    #[error("the assertion names no subject (NameID)")]
    NoSubject,
    #[error("the response names a request it answers (InResponseTo) outside what is signed")]
    UnsignedInResponseTo,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::NotAFormPost(_) => "not_a_form_post",
            Rejection::NotBase64 => "not_base64",
            Rejection::Malformed(_) => "malformed",
            Rejection::Doctype => "doctype",
            Rejection::NotAResponse => "not_a_response",
            Rejection::Status(_) => "status",
            Rejection::AssertionCount(_) => "assertion_count",
            Rejection::Encrypted => "encrypted",
            Rejection::Unsigned => "unsigned",
            Rejection::SignaturePlacement => "signature_placement",
            Rejection::ReferenceMismatch => "reference_mismatch",
            Rejection::WeakAlgorithm(_) => "weak_algorithm",
            Rejection::Transform(_) => "transform",
            Rejection::SignatureContent(_) => "signature_content",
            Rejection::ForeignAttribute { .. } => "foreign_attribute",
            Rejection::BadSignature => "bad_signature",
            Rejection::Issuer { .. } => "issuer",
            Rejection::AudienceMissing => "audience_missing",
            Rejection::Audience(_) => "audience",
            Rejection::Destination { .. } => "destination",
            Rejection::Recipient { .. } => "recipient",
            Rejection::NotBearer => "not_bearer",
            Rejection::NotYetValid(_) => "not_yet_valid",
            Rejection::IssuedInFuture(_) => "issued_in_future",
            Rejection::Expired(_) => "expired",
            Rejection::TooOld(_) => "too_old",
            Rejection::NoAuthnStatement => "no_authn_statement",
            Rejection::SessionEnded(_) => "session_ended",
            Rejection::NoValidity => "no_validity",
            Rejection::NoSubject => "no_subject",
            Rejection::UnsignedInResponseTo => "in_response_to_unsigned",
        }
    }
}

/// Decodes the `SAMLResponse` form value, refusing oversized input before any work.
pub fn decode(encoded: &str) -> Result<String, Rejection> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(Rejection::TooLarge);
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD.decode(compact).map_err(|_| Rejection::NotBase64)?;
    String::from_utf8(bytes).map_err(|_| Rejection::Malformed("not UTF-8".into()))
}

/// Runs every check on a decoded Response. CPU-bound (xmlsec): call it off the async workers.
pub fn verify(xml: &str, expect: &Expectations) -> Result<VerifiedAssertion, Rejection> {
    if expect.certificates.is_empty() {
        // Never reached with a checked configuration; refusing is the only safe answer.
        return Err(Rejection::BadSignature);
    }
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(Rejection::Doctype);
    }
    // The checks here read the text as UTF-8; xmlsec's parser would honour another declared
    // encoding (UTF-7 among them), and the two would not read the same document.
    if let Some(encoding) = declared_encoding(xml).filter(|e| !e.eq_ignore_ascii_case("UTF-8")) {
        return Err(Rejection::Malformed(format!(
            "it declares the encoding {encoding}, and only UTF-8 is read"
        )));
    }
    let shape = check_shape(xml)?;
    check_strictly_well_formed(xml)?;
    let signed = signed_part(xml, expect.certificates)?;
    let signed_doc = Document::parse(&signed).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let root = signed_doc.root_element();
    // The signed XML is the Response (signed, or the shell of one) with its one Assertion, or an
    // Assertion alone.
    let assertion = if is(root, ASSERTION, "Assertion") {
        root
    } else if is(root, PROTOCOL, "Response") {
        let mut found = children(root, ASSERTION, "Assertion");
        match (found.next(), found.next()) {
            (Some(a), None) => a,
            _ => return Err(Rejection::SignaturePlacement),
        }
    } else {
        return Err(Rejection::SignaturePlacement);
    };
    if attr(assertion, "ID") != Some(shape.assertion_id.as_str()) {
        return Err(Rejection::SignaturePlacement);
    }
    // As the shell around a signed Assertion, an unsigned Response keeps none of its
    // attributes: an InResponseTo on the signed root is the Response's own, signed.
    let signed_outer = is(root, PROTOCOL, "Response")
        .then(|| attr(root, "InResponseTo"))
        .flatten();
    check_assertion(assertion, &shape, signed_outer, expect)
}

/// What of `xml` is signed by one of `certificates` with an allowed algorithm, as xmlsec
/// reduces it: the one call to xmlsec a sign-in makes, and all the login storm's floor runs.
pub fn signed_part(xml: &str, certificates: &[CertificateDer]) -> Result<String, Rejection> {
    // `ValidateAndMark` keeps the signed elements and, above them, their ancestors as empty
    // shells: no attributes, no children but the signed ones. Only the one Assertion inside is
    // read. `ValidateAndMarkNoAncestors` would make a signed Assertion the root, but samael then
    // moves it to the document root through a libxml call that drops the Response it replaces
    // without freeing it: about 2.5 KB lost with every sign-in (tests/saml_memory.rs).
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certificates,
        ReduceMode::ValidateAndMark,
        Some(&SIGNATURE_ALGORITHMS),
    )
    .map_err(|_| Rejection::BadSignature)
}

/// samael has libxml2 parse the response in recover mode, which reads on past an error: a name
/// beyond libxml2's limits (50,000 characters) is dropped where roxmltree reads the whole, and
/// what follows it becomes markup that Portal never checked. A response libxml2 does not read
/// as well-formed, strictly and without the network, is refused; one it does read, recover mode
/// reads alike.
fn check_strictly_well_formed(xml: &str) -> Result<(), Rejection> {
    let strict = libxml::parser::ParserOptions {
        recover: false,
        no_net: true,
        ..Default::default()
    };
    libxml::parser::Parser::default()
        .parse_string_with_options(xml, strict)
        .map(drop)
        .map_err(|_| {
            Rejection::Malformed(
                "libxml2, which checks the signature, reads it only in recover mode (a name, a nesting or a text beyond its limits)".into(),
            )
        })
}

/// What the unsigned outer document says, checked before the signature.
struct Shape {
    assertion_id: String,
    destination: Option<String>,
    in_response_to: Option<String>,
}

fn check_shape(xml: &str) -> Result<Shape, Rejection> {
    let doc = Document::parse(xml).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Rejection::Doctype,
        other => Rejection::Malformed(other.to_string()),
    })?;
    let response = doc.root_element();
    if !is(response, PROTOCOL, "Response") {
        return Err(Rejection::NotAResponse);
    }
    if doc.descendants().any(|n| n.is_pi()) {
        return Err(Rejection::Malformed(
            "it carries a processing instruction, which SAML responses never do".into(),
        ));
    }
    let status = children(response, PROTOCOL, "Status")
        .flat_map(|s| children(s, PROTOCOL, "StatusCode"))
        .next()
        .and_then(|c| attr(c, "Value"))
        .unwrap_or("(none)");
    if status != SUCCESS {
        // The status is not signed: what reaches the audit log and the page is bounded.
        let name = status.rsplit(':').next().unwrap_or(status);
        return Err(Rejection::Status(
            name.chars().take(STATUS_NAME_LIMIT).collect(),
        ));
    }
    if doc
        .descendants()
        .any(|n| is(n, ASSERTION, "EncryptedAssertion"))
    {
        return Err(Rejection::Encrypted);
    }
    let all: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, ASSERTION, "Assertion"))
        .collect();
    if all.len() != 1 || all[0].parent() != Some(response) {
        return Err(Rejection::AssertionCount(all.len()));
    }
    let assertion = all[0];
    check_attribute_namespaces(&doc)?;
    let mut signed_something = false;
    for signature in doc.descendants().filter(|n| is(*n, DSIG, "Signature")) {
        check_signature_content(signature)?;
        let holder = signature
            .parent()
            .filter(|p| *p == response || *p == assertion)
            .ok_or(Rejection::SignaturePlacement)?;
        let holder_id = attr(holder, "ID").ok_or(Rejection::ReferenceMismatch)?;
        let signed_info = children(signature, DSIG, "SignedInfo")
            .next()
            .ok_or(Rejection::BadSignature)?;
        let references: Vec<Node> = children(signed_info, DSIG, "Reference").collect();
        if references.len() != 1
            || attr(references[0], "URI") != Some(format!("#{holder_id}").as_str())
        {
            return Err(Rejection::ReferenceMismatch);
        }
        let method = children(signed_info, DSIG, "SignatureMethod")
            .next()
            .and_then(|m| attr(m, "Algorithm"))
            .unwrap_or("");
        if !SIGNATURE_ALGORITHMS
            .iter()
            .any(|a| a.signature_uri() == method)
        {
            return Err(Rejection::WeakAlgorithm(algorithm_name(method)));
        }
        let digest = children(references[0], DSIG, "DigestMethod")
            .next()
            .and_then(|m| attr(m, "Algorithm"))
            .unwrap_or("");
        if !DIGEST_ALGORITHMS.contains(&digest) {
            return Err(Rejection::WeakAlgorithm(algorithm_name(digest)));
        }
        check_transforms(signed_info, references[0])?;
        signed_something = true;
    }
    if !signed_something {
        return Err(Rejection::Unsigned);
    }
    Ok(Shape {
        assertion_id: attr(assertion, "ID")
            .ok_or(Rejection::ReferenceMismatch)?
            .to_string(),
        destination: attr(response, "Destination").map(str::to_string),
        in_response_to: attr(response, "InResponseTo").map(str::to_string),
    })
}

/// Portal reads an attribute by its name without a namespace (roxmltree), where libxml2, and so
/// xmlsec and samael, take the first attribute of that local name in any namespace, `xml:`
/// included: `x:Algorithm` or `xml:URI` placed first would have xmlsec run another transform, or
/// fetch another URI, than the one checked here. No element may carry two attributes of one
/// local name, and SAML and signature elements take no namespaced attribute but `xsi:type` and
/// `xsi:nil` (Okta types its attribute values).
fn check_attribute_namespaces(doc: &Document) -> Result<(), Rejection> {
    let read_here = |n: Node| {
        [PROTOCOL, ASSERTION, DSIG].contains(&n.tag_name().namespace().unwrap_or_default())
    };
    for element in doc.descendants().filter(|n| n.is_element()) {
        let refuse = |attribute: &roxmltree::Attribute, how: String| {
            Err(Rejection::ForeignAttribute {
                element: element.tag_name().name().to_string(),
                attribute: attribute.name().to_string(),
                how,
            })
        };
        for (index, attribute) in element.attributes().enumerate() {
            if element
                .attributes()
                .skip(index + 1)
                .any(|other| other.name() == attribute.name())
            {
                return refuse(&attribute, "twice, in two namespaces".into());
            }
            let allowed = !read_here(element)
                || match attribute.namespace() {
                    None => true,
                    Some(XSI) => matches!(attribute.name(), "type" | "nil"),
                    Some(_) => false,
                };
            if !allowed {
                let namespace = attribute.namespace().unwrap_or_default();
                return refuse(&attribute, format!("in the namespace {namespace}"));
            }
        }
    }
    Ok(())
}

/// A signature holds SignedInfo, SignatureValue and KeyInfo, and nothing else: xmlsec would
/// follow the references of an `Object`'s `Manifest` before it checks the signature, running
/// their transforms and fetching their URIs, none of which anyone has signed yet.
fn check_signature_content(signature: Node) -> Result<(), Rejection> {
    for child in signature.children().filter(|c| c.is_element()) {
        let name = child.tag_name().name();
        let known = child.tag_name().namespace() == Some(DSIG)
            && matches!(name, "SignedInfo" | "SignatureValue" | "KeyInfo");
        if !known {
            return Err(Rejection::SignatureContent(format!("an element {name}")));
        }
    }
    Ok(())
}

/// Refuses any canonicalization or transform but the few Okta's signatures use, before xmlsec
/// runs them: XSLT, XPath and the like would run on unsigned input, and could make the signed
/// bytes differ from what Portal reads.
fn check_transforms(signed_info: Node, reference: Node) -> Result<(), Rejection> {
    let canonicalization = children(signed_info, DSIG, "CanonicalizationMethod")
        .next()
        .and_then(|m| attr(m, "Algorithm"))
        .unwrap_or("");
    if !CANONICALIZATIONS.contains(&canonicalization) {
        return Err(Rejection::Transform(format!(
            "the canonicalization {}",
            algorithm_name(canonicalization)
        )));
    }
    let transforms: Vec<Node> = children(reference, DSIG, "Transforms")
        .flat_map(|list| children(list, DSIG, "Transform"))
        .collect();
    if transforms.len() > MAX_TRANSFORMS {
        return Err(Rejection::Transform(format!(
            "{} transforms, where at most {MAX_TRANSFORMS} are read",
            transforms.len()
        )));
    }
    for transform in transforms {
        let algorithm = attr(transform, "Algorithm").unwrap_or("");
        if algorithm != ENVELOPED_SIGNATURE && !CANONICALIZATIONS.contains(&algorithm) {
            return Err(Rejection::Transform(format!(
                "the transform {}",
                algorithm_name(algorithm)
            )));
        }
    }
    Ok(())
}

fn check_assertion(
    assertion: Node,
    shape: &Shape,
    signed_outer_in_response_to: Option<&str>,
    expect: &Expectations,
) -> Result<VerifiedAssertion, Rejection> {
    let issuer = children(assertion, ASSERTION, "Issuer")
        .next()
        .map(full_text)
        .unwrap_or_default();
    if issuer != expect.idp_entity_id {
        return Err(Rejection::Issuer {
            found: issuer,
            expected: expect.idp_entity_id.to_string(),
        });
    }
    // SAML core 2.3.3: every assertion says when it was issued. The Response's own IssueInstant
    // is left unread: where only the assertion is signed, anyone could have written it.
    let issued = time_attr(assertion, "IssueInstant")?
        .ok_or_else(|| Rejection::Malformed("the assertion has no IssueInstant".into()))?;
    if expect.now + expect.max_skew < issued {
        return Err(Rejection::IssuedInFuture(issued.to_rfc3339()));
    }
    let taken_until = issued + MAX_ASSERTION_AGE + expect.max_skew;
    if expect.now >= taken_until {
        return Err(Rejection::TooOld(issued.to_rfc3339()));
    }
    match &shape.destination {
        Some(destination) if destination == expect.acs_url => {}
        other => {
            return Err(Rejection::Destination {
                found: other.clone().unwrap_or_else(|| "(none)".into()),
                expected: expect.acs_url.to_string(),
            })
        }
    }

    let conditions = children(assertion, ASSERTION, "Conditions")
        .next()
        .ok_or(Rejection::NoValidity)?;
    let not_before = time_attr(conditions, "NotBefore")?;
    let not_on_or_after = time_attr(conditions, "NotOnOrAfter")?.ok_or(Rejection::NoValidity)?;
    if let Some(not_before) = not_before {
        if expect.now + expect.max_skew < not_before {
            return Err(Rejection::NotYetValid(not_before.to_rfc3339()));
        }
    }
    if expect.now - expect.max_skew >= not_on_or_after {
        return Err(Rejection::Expired(not_on_or_after.to_rfc3339()));
    }
    let restrictions: Vec<Node> = children(conditions, ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(Rejection::AudienceMissing);
    }
    // Every restriction must admit this portal (SAML core 2.5.1.4).
    for restriction in &restrictions {
        let audiences: Vec<String> = children(*restriction, ASSERTION, "Audience")
            .map(full_text)
            .collect();
        if !audiences.iter().any(|a| a == expect.sp_entity_id) {
            return Err(Rejection::Audience(audiences.join(", ")));
        }
    }

    let subject = children(assertion, ASSERTION, "Subject")
        .next()
        .ok_or(Rejection::NoSubject)?;
    let name_id_node = children(subject, ASSERTION, "NameID")
        .next()
        .ok_or(Rejection::NoSubject)?;
    let name_id = full_text(name_id_node).trim().to_string();
    if name_id.is_empty() {
        return Err(Rejection::NoSubject);
    }
    let bearer = children(subject, ASSERTION, "SubjectConfirmation")
        .find(|c| attr(*c, "Method") == Some(BEARER))
        .ok_or(Rejection::NotBearer)?;
    let data = children(bearer, ASSERTION, "SubjectConfirmationData")
        .next()
        .ok_or(Rejection::NotBearer)?;
    let recipient = attr(data, "Recipient").unwrap_or("(none)");
    if recipient != expect.acs_url {
        return Err(Rejection::Recipient {
            found: recipient.to_string(),
            expected: expect.acs_url.to_string(),
        });
    }
    let confirm_until = time_attr(data, "NotOnOrAfter")?.ok_or(Rejection::NoValidity)?;
    if expect.now - expect.max_skew >= confirm_until {
        return Err(Rejection::Expired(confirm_until.to_rfc3339()));
    }
    // The SAML profiles leave a bearer confirmation no NotBefore; one that names it is held to it.
    if let Some(confirm_from) = time_attr(data, "NotBefore")? {
        if expect.now + expect.max_skew < confirm_from {
            return Err(Rejection::NotYetValid(confirm_from.to_rfc3339()));
        }
    }
    // The request this answers: the assertion's InResponseTo, else the signed Response's. A
    // response that names one must answer one this portal made, so a name outside what is
    // signed is refused rather than ignored; where both are given they must agree.
    let inner = attr(data, "InResponseTo");
    if let (Some(inner), Some(outer)) = (inner, &shape.in_response_to) {
        if inner != outer {
            return Err(Rejection::SignaturePlacement);
        }
    }
    let in_response_to = match inner.or(signed_outer_in_response_to) {
        Some(request) => Some(request.to_string()),
        None if shape.in_response_to.is_some() => return Err(Rejection::UnsignedInResponseTo),
        None => None,
    };

    // SAML profiles 4.1.4.2: the assertion says how the person was authenticated, and
    // perhaps until when that authentication may serve a session.
    let mut session_not_on_or_after: Option<DateTime<Utc>> = None;
    let mut authenticated = false;
    for statement in children(assertion, ASSERTION, "AuthnStatement") {
        authenticated = true;
        if let Some(until) = time_attr(statement, "SessionNotOnOrAfter")? {
            session_not_on_or_after = Some(session_not_on_or_after.map_or(until, |u| u.min(until)));
        }
    }
    if !authenticated {
        return Err(Rejection::NoAuthnStatement);
    }
    if let Some(until) = session_not_on_or_after {
        if expect.now - expect.max_skew >= until {
            return Err(Rejection::SessionEnded(until.to_rfc3339()));
        }
    }

    let mut attributes: HashMap<String, Vec<String>> = HashMap::new();
    for statement in children(assertion, ASSERTION, "AttributeStatement") {
        for attribute in children(statement, ASSERTION, "Attribute") {
            let Some(name) = attr(attribute, "Name") else {
                continue;
            };
            let values = children(attribute, ASSERTION, "AttributeValue").map(full_text);
            attributes
                .entry(name.to_string())
                .or_default()
                .extend(values);
        }
    }
    Ok(VerifiedAssertion {
        assertion_id: shape.assertion_id.clone(),
        name_id,
        name_id_format: attr(name_id_node, "Format").map(str::to_string),
        attributes,
        in_response_to,
        replayable_until: (not_on_or_after.max(confirm_until) + expect.max_skew).min(taken_until),
        session_not_on_or_after,
    })
}

fn is(node: Node, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn children<'a, 'i>(
    node: Node<'a, 'i>,
    namespace: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(*c, namespace, name))
}

fn attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name)
}

/// All text inside an element, comments skipped: `a<!-- -->b` reads as `ab`, never as `a`
/// (the CVE-2017-11427 family truncates at the comment).
fn full_text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

fn time_attr(node: Node, name: &str) -> Result<Option<DateTime<Utc>>, Rejection> {
    match attr(node, name) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| Rejection::Malformed(format!("{name} is not a time: {text}"))),
    }
}

/// The encoding the XML declaration at the start of `xml` names, if it names one.
fn declared_encoding(xml: &str) -> Option<&str> {
    let declaration = xml.trim_start_matches('\u{feff}').strip_prefix("<?xml")?;
    let declaration = &declaration[..declaration.find("?>")?];
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let value = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &value[1..];
    Some(&value[..value.find(quote)?])
}

fn algorithm_name(uri: &str) -> String {
    if uri.is_empty() {
        "no algorithm".into()
    } else {
        uri.rsplit(['#', '/']).next().unwrap_or(uri).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_in_full_across_comments() {
        let doc = Document::parse(
            r#"<n:NameID xmlns:n="urn:oasis:names:tc:SAML:2.0:assertion">victim@example.com<!---->.evil.example</n:NameID>"#,
        )
        .unwrap();
        assert_eq!(
            full_text(doc.root_element()),
            "victim@example.com.evil.example"
        );
    }

    #[test]
    fn doctype_is_refused_before_any_parsing() {
        let expect = Expectations {
            idp_entity_id: "idp",
            certificates: &[CertificateDer::from(vec![1, 2, 3])],
            sp_entity_id: "sp",
            acs_url: "acs",
            now: Utc::now(),
            max_skew: TimeDelta::minutes(3),
        };
        let xml = r#"<!DOCTYPE r [<!ENTITY x "y">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
        assert_eq!(verify(xml, &expect), Err(Rejection::Doctype));
        assert_eq!(
            verify(
                "<r/>",
                &Expectations {
                    certificates: &[],
                    ..expect
                }
            ),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        assert_eq!(
            decode(&"A".repeat(MAX_ENCODED_LEN + 1)),
            Err(Rejection::TooLarge)
        );
        assert_eq!(decode("***"), Err(Rejection::NotBase64));
    }

    #[test]
    fn the_declared_encoding_is_read_from_the_declaration_only() {
        let named = |xml: &str| declared_encoding(xml).map(str::to_string);
        assert_eq!(
            named(r#"<?xml version="1.0" encoding="UTF-7"?><a/>"#).as_deref(),
            Some("UTF-7")
        );
        assert_eq!(
            named("\u{feff}<?xml version='1.0' encoding = 'utf-8' ?><a/>").as_deref(),
            Some("utf-8")
        );
        assert_eq!(named(r#"<?xml version="1.0"?><a encoding="UTF-7"/>"#), None);
        assert_eq!(named(r#"<a/><?xml version="1.0" encoding="UTF-7"?>"#), None);
    }
}
