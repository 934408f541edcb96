//! Portal's server: configuration, persistence, sign-in and the identity configuration.
//! A first Okta login will be handled by `sso` and `provisioning` (see the issues).

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod identity;
pub mod people;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
