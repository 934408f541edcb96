//! The words of the domain as types whose constructors are the only way in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An email address, trimmed; [`Email::normalized`] is the form that makes addresses unique
/// regardless of the case of their ASCII letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, String> {
        let text = text.trim();
        let invalid = || format!("'{text}' is not an email address");
        if text.len() > 254 || text.chars().any(unseen) {
            return Err(invalid());
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
        {
            return Err(invalid());
        }
        Ok(Email(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ASCII letters lower-cased, every other character as it is. Unicode's lower-casing would
    /// make distinct addresses one (a Kelvin sign, U+212A, becomes `k`), and an identity
    /// provider's address could then be linked to another person's account.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A character an address may not hold because nobody sees it, or sees it for another: white
/// space, control characters, and format characters (Unicode's Cf: zero-width spaces and
/// joiners, bidirectional overrides, the byte order mark, tags), with which an address would
/// look like another person's on every page and in the audit log.
fn unseen(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_whitespace() || c.is_control() || c.general_category() == GeneralCategory::Format
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How people sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Password,
    Sso,
}

/// Which single sign-on protocol the one identity provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    Saml,
    Oidc,
}

/// How accounts come to exist; exactly one method is in force at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvisioningMethod {
    /// Admins add people by hand.
    Manual,
    /// Accounts are created at a person's first SSO sign-in ("SAML JIT" before release 1.54).
    SsoJit,
    /// Accounts are pushed by the identity provider over SCIM.
    Scim,
}

macro_rules! text_forms {
    ($($ty:ident { $($variant:ident => $text:literal),+ $(,)? })+) => {$(
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            pub fn from_stored(text: &str) -> Option<$ty> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }
        }
    )+};
}

text_forms! {
    LoginMethod { Password => "password", Sso => "sso" }
    SsoProtocol { Saml => "saml", Oidc => "oidc" }
    ProvisioningMethod { Manual => "manual", SsoJit => "sso_jit", Scim => "scim" }
}

/// Where an account came from, as shown to admins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountSource {
    Manual,
    SsoJit,
    Scim,
}

impl AccountSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountSource::Manual => "manual",
            AccountSource::SsoJit => "sso_jit",
            AccountSource::Scim => "scim",
        }
    }
}

/// The predefined roles.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    User,
    Viewer,
}

impl Role {
    pub fn key(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.key() == key)
    }

    pub const ALL: [Role; 3] = [Role::Admin, Role::User, Role::Viewer];

    /// What the role allows, as the read-only Roles matrix shows it. The checks themselves are
    /// on every server function and API route.
    pub fn capabilities(self) -> &'static [&'static str] {
        match self {
            Role::Admin => &[
                "sign in",
                "read users, agent pools and the audit log",
                "change the identity configuration",
                "add, change, deactivate and remove people",
                "manage agent pools and their keys",
            ],
            Role::Viewer => &["sign in", "read users, agent pools and the audit log"],
            Role::User => &["sign in", "use Portal"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_without_case() {
        let a = Email::parse(" Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Ada.Lovelace@Example.COM");
        assert_eq!(a.normalized(), "ada.lovelace@example.com");
    }

    #[test]
    fn only_ascii_letters_are_folded_so_no_other_character_becomes_one() {
        let kelvin = Email::parse("\u{212A}evin@example.com").unwrap();
        assert_ne!(kelvin.normalized(), "kevin@example.com");
        let dotted = Email::parse("\u{130}nga@example.com").unwrap();
        assert_ne!(
            dotted.normalized(),
            Email::parse("i\u{307}nga@example.com")
                .unwrap()
                .normalized()
        );
        assert_eq!(
            Email::parse("\u{D6}LAF@Example.com").unwrap().normalized(),
            "\u{D6}laf@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@.example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_address_with_characters_nobody_sees_is_refused() {
        for address in [
            "ada\u{200B}@example.com",
            "ada@exa\u{200D}mple.com",
            "\u{FEFF}ada@example.com",
            "ada\u{AD}@example.com",
            "ada@\u{202E}moc.elpmaxe",
            "ada\u{2066}@example.com",
            "ada\u{E0041}@example.com",
        ] {
            assert!(Email::parse(address).is_err(), "{address:?} accepted");
        }
        // Letters of any script stay addresses.
        for address in ["jos\u{E9}@example.com", "\u{5F20}\u{4E09}@example.cn"] {
            assert!(Email::parse(address).is_ok(), "{address:?} refused");
        }
    }

    #[test]
    fn stored_forms_round_trip() {
        for method in [
            ProvisioningMethod::Manual,
            ProvisioningMethod::SsoJit,
            ProvisioningMethod::Scim,
        ] {
            assert_eq!(
                ProvisioningMethod::from_stored(method.as_str()),
                Some(method)
            );
        }
        assert_eq!(ProvisioningMethod::from_stored("saml_jit"), None);
    }
}
