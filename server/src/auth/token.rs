//! API bearer tokens for automation: shown once at creation, stored as SHA-256, revocable.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use crate::db::entities::{api_token, user};

pub const PREFIX: &str = "portal_";

/// Creates a token for `user_id`; returns the secret (never stored) and the row.
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i32,
    name: &str,
) -> Result<(String, api_token::Model), DbErr> {
    let secret = format!("{PREFIX}{}", super::random_secret());
    let row = api_token::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_string()),
        token_hash: Set(super::digest(&secret)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((secret, row))
}

/// The active account behind a presented token, if the token is known and not revoked.
pub async fn resolve(
    db: &impl ConnectionTrait,
    secret: &str,
) -> Result<Option<user::Model>, DbErr> {
    let Some(token) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(super::digest(secret)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(owner) = user::Entity::find_by_id(token.user_id)
        .one(db)
        .await?
        .filter(|u| u.active)
    else {
        return Ok(None);
    };
    let mut touched: api_token::ActiveModel = token.into();
    touched.last_used_at = Set(Some(Utc::now()));
    touched.update(db).await?;
    Ok(Some(owner))
}

/// Revokes token `id`; false when there is no such active token.
pub async fn revoke(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    let result = api_token::Entity::update_many()
        .col_expr(
            api_token::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
