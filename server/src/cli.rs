//! The `portal` command: serve (the default), and API token management for automation.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::audit::{self, AuditEvent, Outcome};
use crate::config::Config;
use crate::domain::{Email, Role};
use crate::people::{self, FirstAdmin};
use crate::startup::Application;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Portal: Management Portal with Okta SSO and JIT provisioning"
)]
pub struct Cli {
    /// A TOML configuration file; PORTAL_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Demo only: at start, apply the identity configuration in FILE (as PUT /api/v1/identity
    /// takes it). `scripts/run` sets it for the demo identity provider it starts.
    #[arg(long, env = "PORTAL_DEMO", value_name = "FILE")]
    demo: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Portal (the default).
    Serve,
    /// Manage API tokens for /api/v1.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The way back in for whoever runs Portal's server.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Make EMAIL an active Admin with a new password, printed once (the account is created if
    /// there is none). Its sessions end and its password lock is lifted. For when no admin can
    /// sign in: SSO broken, the password forgotten, the admin demoted or deactivated.
    Reset {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token for an admin and print it once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a token by its id.
    Revoke { id: i32 },
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config)?;
    crate::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, cli.demo).await,
        Command::Token { action } => token(config, action).await,
        Command::Admin {
            action: AdminAction::Reset { email },
        } => reset_admin(config, &email).await,
    }
}

async fn serve(config: Config, demo: Option<PathBuf>) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if let Some(file) = demo {
        let identity = crate::demo::apply(app.portal(), &file).await?;
        tracing::info!(
            provider = identity.summary().unwrap_or_default(),
            "demo: single sign-on uses the demo identity provider, SSO JIT is on"
        );
    }
    match app.first_admin() {
        FirstAdmin::Created {
            email,
            generated_password: Some(password),
        } => {
            // Printed once, on the start that created the admin; never logged again.
            eprintln!(
                "\n================================================================\n  Portal created the first admin account.\n  Email:    {email}\n  Password: {password}\n  Sign in at {} and keep this password safe;\n  it is not shown again.\n================================================================\n",
                app.portal().config.public_url
            );
        }
        FirstAdmin::Created {
            email,
            generated_password: None,
        } => {
            tracing::info!(%email, "created the first admin from PORTAL_ADMIN_EMAIL / PORTAL_ADMIN_PASSWORD");
        }
        FirstAdmin::AlreadyPresent => {}
    }
    tracing::info!(
        addr = %app.local_addr(),
        public_url = %app.portal().config.public_url,
        release = %app.portal().config.release,
        "Portal is listening"
    );
    if app.portal().config.public_url_in_clear() {
        tracing::warn!(
            public_url = %app.portal().config.public_url,
            "PORTAL_PUBLIC_URL is plain http on a host other than this machine's loopback: \
             passwords, session cookies and Okta's answers cross the network in clear, and \
             cookies are not marked Secure. Serve Portal over TLS (a load balancer or proxy in \
             front of it will do) and set PORTAL_PUBLIC_URL to its https:// URL"
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}

async fn reset_admin(config: Config, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(anyhow::Error::msg)?;
    let db = crate::db::connect_and_migrate(&config.database_url).await?;
    let password = crate::auth::password::generate();
    let hash = crate::auth::password::hash(password.clone()).await?;
    // A writer's transaction, queued behind a running server's writes.
    let txn = crate::db::begin_write(&db).await?;
    let account = people::restore_admin(&txn, &email, hash).await?;
    crate::auth::session::end_all_for(&txn, account.id).await?;
    let correlation = crate::state::CorrelationId::new();
    audit::record(
        &txn,
        AuditEvent {
            actor_id: None,
            actor: "portal admin reset",
            action: "account.admin_reset",
            target: &account.email,
            outcome: Outcome::Success,
            details: serde_json::json!({ "via": "cli" }),
            correlation_id: &correlation.0,
        },
    )
    .await?;
    txn.commit().await?;
    eprintln!(
        "{} is an active Admin again and signs in at {}/login with this password, shown only now:",
        account.email,
        config.public_url.as_str().trim_end_matches('/')
    );
    println!("{password}");
    Ok(())
}

async fn token(config: Config, action: TokenAction) -> anyhow::Result<()> {
    let db = crate::db::connect_and_migrate(&config.database_url).await?;
    match action {
        TokenAction::Create { email, name } => {
            let email = Email::parse(&email).map_err(anyhow::Error::msg)?;
            let account = people::find_by_email(&db, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account has the email {email}"))?;
            let roles = people::effective_roles(&db, account.id).await?;
            if !roles.iter().any(|r| r == Role::Admin.key()) {
                anyhow::bail!("{email} is not an admin; API tokens are for admins");
            }
            let (secret, row) = crate::auth::token::create(&db, account.id, &name).await?;
            let correlation = crate::state::CorrelationId::new();
            audit::record(
                &db,
                AuditEvent {
                    actor_id: Some(account.id),
                    actor: &account.email,
                    action: "api_token.create",
                    target: &format!("token {}", row.id),
                    outcome: Outcome::Success,
                    details: serde_json::json!({ "name": name, "via": "cli" }),
                    correlation_id: &correlation.0,
                },
            )
            .await?;
            eprintln!(
                "Created API token {} for {}. It is shown only now:",
                row.id, account.email
            );
            println!("{secret}");
        }
        TokenAction::Revoke { id } => {
            // Revoked and audited together: a token revoked off the record cannot be told from
            // one that never was.
            let txn = crate::db::begin_write(&db).await?;
            if !crate::auth::token::revoke(&txn, id).await? {
                anyhow::bail!("there is no active API token with id {id}");
            }
            let correlation = crate::state::CorrelationId::new();
            audit::record(
                &txn,
                AuditEvent {
                    actor_id: None,
                    actor: "portal token revoke",
                    action: "api_token.revoke",
                    target: &format!("token {id}"),
                    outcome: Outcome::Success,
                    details: serde_json::json!({ "via": "cli" }),
                    correlation_id: &correlation.0,
                },
            )
            .await?;
            txn.commit().await?;
            eprintln!("Revoked API token {id}.");
        }
    }
    Ok(())
}
