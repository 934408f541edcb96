//! Portal's server: configuration, persistence, sign-in and the identity configuration.
//! A first Okta login is handled by `sso::saml::acs` (or the OIDC callback), which hands the
//! verified person to `provisioning::JitProvisioner`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod fuzzing;
pub mod identity;
pub mod janitor;
pub mod metrics;
pub mod people;
pub mod pools;
pub mod provisioning;
pub mod secret_key;
pub mod sso;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
