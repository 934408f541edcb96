//! The demo switch: `portal --demo FILE` (or `PORTAL_DEMO=FILE`) applies the identity
//! configuration in FILE at start, exactly as `PUT /api/v1/identity` would, on behalf of the
//! first active admin. Only `scripts/run` sets it, pointing at the demo identity provider it
//! starts beside Portal; without the switch Portal never configures an identity provider by
//! itself.

use std::path::Path;

use anyhow::Context;
use sea_orm::EntityTrait;

use crate::auth::caller::{Caller, Via};
use crate::db::entities::user;
use crate::identity::{IdentityConfig, IdentityDocument};
use crate::people;
use crate::state::{CorrelationId, Portal};

/// Reads the identity document in `file` and puts it in force, or says why it cannot.
#[tracing::instrument(skip_all)]
pub async fn apply(portal: &Portal, file: &Path) -> anyhow::Result<IdentityConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--demo: cannot read {}", file.display()))?;
    let document: IdentityDocument = serde_json::from_str(&text).with_context(|| {
        format!(
            "--demo: {} is not an identity document as PUT /api/v1/identity takes it",
            file.display()
        )
    })?;
    let admin_id = people::admin::active_admins(&portal.db)
        .await?
        .into_iter()
        .next()
        .context("--demo: there is no active admin to apply the demo configuration")?;
    let user = user::Entity::find_by_id(admin_id)
        .one(&portal.db)
        .await?
        .context("--demo: the admin account vanished")?;
    let roles = people::effective_roles(&portal.db, user.id).await?;
    let admin = Caller {
        user,
        roles,
        via: Via::Token,
    };
    let correlation = CorrelationId::new();
    portal
        .replace_identity(&admin, document, &correlation.0)
        .await
        .map_err(|e| anyhow::anyhow!("--demo: the demo identity configuration was refused: {e}"))
}
