//! A test identity provider that signs SAML Responses with its own key, as Okta does, and
//! lets each test bend one rule at a time.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use openssl::{
    asn1::Asn1Time,
    bn::BigNum,
    hash::MessageDigest,
    pkey::{PKey, Private},
    rsa::Rsa,
    x509::{X509NameBuilder, X509},
};
use samael::crypto::{CryptoProvider, XmlSec};

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
pub const RSA_MD5: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5";
pub const MD5: &str = "http://www.w3.org/2001/04/xmldsig-more#md5";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// XPath filtering (XML-DSig 6.6.3): a transform xmlsec runs, which Okta never applies.
pub const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
pub const XSLT: &str = "http://www.w3.org/TR/1999/REC-xslt-19991116";
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

pub struct TestIdp {
    pub entity_id: String,
    pub key: PKey<Private>,
    pub cert: X509,
}

impl TestIdp {
    pub fn new(entity_id: &str) -> TestIdp {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = self_signed(&key, "test-idp.example", 365);
        TestIdp {
            entity_id: entity_id.into(),
            key,
            cert,
        }
    }

    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap()).unwrap()
    }

    /// The IdP metadata XML, as Okta's "Identity Provider metadata" link serves it.
    pub fn metadata_xml(&self, sso_url: &str) -> String {
        let cert = STANDARD.encode(self.cert.to_der().unwrap());
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            entity = self.entity_id,
            sso = sso_url,
        )
    }

    /// Signs the first unsigned `<ds:Signature>` template in `xml` with this IdP's key.
    pub fn sign(&self, xml: &str) -> String {
        XmlSec::sign_xml(xml, &self.key.rsa().unwrap().private_key_to_der().unwrap()).unwrap()
    }
}

/// The AuthnRequest's ID in an SP-initiated redirect to the identity provider (HTTP-Redirect
/// binding: deflated, base64, in the `SAMLRequest` parameter).
pub fn authn_request_id(location: &str) -> String {
    use std::io::Read;
    let encoded = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .expect("a SAMLRequest parameter")
        .1
        .to_string();
    let deflated = STANDARD.decode(encoded).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    xml.split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// A certificate that expired yesterday.
pub fn expired_certificate_pem() -> String {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let now = Utc::now().timestamp();
    let cert = certificate(&key, "expired-idp.example", now - 30 * 86_400, now - 86_400);
    String::from_utf8(cert.to_pem().unwrap()).unwrap()
}

pub fn self_signed(key: &PKey<Private>, common_name: &str, days: u32) -> X509 {
    let now = Utc::now().timestamp();
    certificate(key, common_name, now - 60, now + i64::from(days) * 86_400)
}

fn certificate(key: &PKey<Private>, common_name: &str, not_before: i64, not_after: i64) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder
        .set_serial_number(
            &BigNum::from_u32(rand::random::<u32>())
                .unwrap()
                .to_asn1_integer()
                .unwrap(),
        )
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    builder.sign(key, MessageDigest::sha256()).unwrap();
    builder.build()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signed {
    Assertion,
    Response,
    Both,
    Neither,
}

/// Everything a Response says, defaulting to what Okta sends for a good sign-in.
#[derive(Clone, Debug)]
pub struct ResponseSpec {
    pub issuer: String,
    pub destination: Option<String>,
    pub recipient: String,
    pub audience: Option<String>,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: Vec<(String, String)>,
    pub assertion_id: String,
    pub response_id: String,
    pub status: String,
    pub issued: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub confirmation_not_on_or_after: DateTime<Utc>,
    pub bearer: bool,
    pub signed: Signed,
    pub signature_algorithm: String,
    pub digest_algorithm: String,
    /// The signature's SignedInfo canonicalization.
    pub canonicalization: String,
    /// The signature reference's `ds:Transform` elements, in order.
    pub transforms: String,
    /// Changes to the assertion's XML before it is signed: each text, found once, replaced.
    pub assertion_edits: Vec<(String, String)>,
}

impl ResponseSpec {
    pub fn new(idp: &TestIdp, sp_entity_id: &str, acs_url: &str, email: &str) -> ResponseSpec {
        let now = Utc::now();
        ResponseSpec {
            issuer: idp.entity_id.clone(),
            destination: Some(acs_url.into()),
            recipient: acs_url.into(),
            audience: Some(sp_entity_id.into()),
            in_response_to: None,
            name_id: email.into(),
            name_id_format: EMAIL_FORMAT.into(),
            attributes: vec![
                ("firstName".into(), "Ada".into()),
                ("lastName".into(), "Lovelace".into()),
            ],
            assertion_id: format!("_a{}", hex::encode(rand::random::<[u8; 16]>())),
            response_id: format!("_r{}", hex::encode(rand::random::<[u8; 16]>())),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            issued: now,
            not_before: now - TimeDelta::seconds(5),
            not_on_or_after: now + TimeDelta::minutes(5),
            confirmation_not_on_or_after: now + TimeDelta::minutes(5),
            bearer: true,
            signed: Signed::Assertion,
            signature_algorithm: RSA_SHA256.into(),
            digest_algorithm: SHA256.into(),
            canonicalization: EXC_C14N.into(),
            transforms: format!(
                r#"<ds:Transform Algorithm="{ENVELOPED_SIGNATURE}"/><ds:Transform Algorithm="{EXC_C14N}"/>"#
            ),
            assertion_edits: Vec::new(),
        }
    }

    pub fn assertion_xml(&self, idp: &TestIdp, with_template: bool) -> String {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let in_response_to = self
            .in_response_to
            .as_ref()
            .map(|id| format!(r#" InResponseTo="{id}""#))
            .unwrap_or_default();
        let audience = self
            .audience
            .as_ref()
            .map(|a| format!("<saml:AudienceRestriction><saml:Audience>{a}</saml:Audience></saml:AudienceRestriction>"))
            .unwrap_or_default();
        let method = if self.bearer {
            "urn:oasis:names:tc:SAML:2.0:cm:bearer"
        } else {
            "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
        };
        let attributes: String = self
            .attributes
            .iter()
            .map(|(name, value)| format!(r#"<saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>"#))
            .collect();
        let signature = if with_template {
            self.template(idp, &self.assertion_id)
        } else {
            String::new()
        };
        let xml = format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" IssueInstant="{issued}" Version="2.0"><saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="{format}">{name_id}</saml:NameID><saml:SubjectConfirmation Method="{method}"><saml:SubjectConfirmationData NotOnOrAfter="{confirm}" Recipient="{recipient}"{in_response_to}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_after}">{audience}</saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>"#,
            id = self.assertion_id,
            issued = t(self.issued),
            issuer = self.issuer,
            format = self.name_id_format,
            name_id = self.name_id,
            confirm = t(self.confirmation_not_on_or_after),
            recipient = self.recipient,
            not_before = t(self.not_before),
            not_after = t(self.not_on_or_after),
        );
        self.assertion_edits.iter().fold(xml, |xml, (from, to)| {
            assert!(
                xml.contains(from.as_str()),
                "{from} is not in the assertion"
            );
            xml.replacen(from.as_str(), to, 1)
        })
    }

    /// The Response around `assertion` (already signed or not), optionally with a template.
    pub fn wrap(&self, idp: &TestIdp, assertion: &str, with_template: bool) -> String {
        let destination = self
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let in_response_to = self
            .in_response_to
            .as_ref()
            .map(|id| format!(r#" InResponseTo="{id}""#))
            .unwrap_or_default();
        let signature = if with_template {
            self.template(idp, &self.response_id)
        } else {
            String::new()
        };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}"{destination}{in_response_to}><saml:Issuer>{issuer}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            id = self.response_id,
            issued = self
                .issued
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            issuer = self.issuer,
            status = self.status,
        )
    }

    /// The signed Response XML, as Okta would post it.
    pub fn xml(&self, idp: &TestIdp) -> String {
        let sign_assertion = matches!(self.signed, Signed::Assertion | Signed::Both);
        let sign_response = matches!(self.signed, Signed::Response | Signed::Both);
        let mut assertion = self.assertion_xml(idp, sign_assertion);
        if sign_assertion {
            // Sign the assertion on its own, then cut it out of the signed document.
            let signed = idp.sign(&self.wrap(idp, &assertion, false));
            let start = signed.find("<saml:Assertion").unwrap();
            let end = signed.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            assertion = signed[start..end].to_string();
        }
        let response = self.wrap(idp, &assertion, sign_response);
        let response = if sign_response {
            idp.sign(&response)
        } else {
            response
        };
        response
            .trim_start_matches("<?xml version=\"1.0\"?>")
            .trim()
            .to_string()
    }

    pub fn encoded(&self, idp: &TestIdp) -> String {
        STANDARD.encode(self.xml(idp))
    }

    fn template(&self, idp: &TestIdp, reference: &str) -> String {
        let cert = STANDARD.encode(idp.cert.to_der().unwrap());
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{reference}"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
            c14n = self.canonicalization,
            sig = self.signature_algorithm,
            transforms = self.transforms,
            digest = self.digest_algorithm,
        )
    }
}
