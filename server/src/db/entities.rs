//! One module per table. Rows are plain data; the rules live in the services.

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub email: String,
        #[sea_orm(unique)]
        pub email_normalized: String,
        pub first_name: String,
        pub last_name: String,
        /// `manual`, `sso_jit` or `scim`.
        pub source: String,
        pub jit_provisioned: bool,
        pub idp_provider: Option<String>,
        pub idp_subject: Option<String>,
        pub password_hash: Option<HashedPassword>,
        pub active: bool,
        pub created_at: DateTimeUtc,
        pub last_login_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// A local password's Argon2id hash, as stored. Its `Debug` prints none of it, so that an
    /// account or a change to one, printed, carries nothing to attack offline.
    #[derive(Clone, PartialEq, Eq, DeriveValueType)]
    pub struct HashedPassword(pub(crate) String);

    impl std::fmt::Debug for HashedPassword {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("HashedPassword(..)")
        }
    }
}

pub mod role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "roles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub key: String,
        pub name: String,
        pub description: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod agent_pool {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_pools")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub name: String,
        pub is_default: bool,
        pub agent_key_hash: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pool_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pool_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pool_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pool_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod identity_config {
    use sea_orm::entity::prelude::*;

    /// The one row (id 1) of the identity configuration: one identity provider at a time.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_config")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub login_method: String,
        pub sso_protocol: Option<String>,
        /// The SAML settings as a JSON document, when SAML is the protocol.
        #[sea_orm(column_type = "Text", nullable)]
        pub saml: Option<String>,
        /// The OIDC settings as a JSON document, when OIDC is the protocol.
        #[sea_orm(column_type = "Text", nullable)]
        pub oidc: Option<String>,
        pub provisioning_method: String,
        pub updated_by: Option<i32>,
        pub updated_by_email: Option<String>,
        pub updated_at: Option<DateTimeUtc>,
        /// One more with each save: what a sign-in checks, when it writes its session, to know
        /// that the configuration it was decided on is still the one in force.
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    /// A signed-in browser. The cookie holds the secret; only its SHA-256 is stored here.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub user_id: i32,
        pub csrf_token: CsrfToken,
        pub created_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }

    /// The synchronizer token the session's forms must send back. Its `Debug` prints none of
    /// it, so that a session, printed, carries nothing another page could forge a form with.
    #[derive(Clone, PartialEq, Eq, DeriveValueType)]
    pub struct CsrfToken(pub(crate) String);

    impl std::fmt::Debug for CsrfToken {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("CsrfToken(..)")
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The person signed in, read with the session in one statement.
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        pub name: String,
        #[sea_orm(unique)]
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod password_failure {
    use sea_orm::entity::prelude::*;

    /// Failed password sign-ins in a row for one email as typed (lower-cased), account or not;
    /// or, keyed `device <email> <id>`, for one browser that signed in with it before
    /// (`auth::device`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_failures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub email_normalized: String,
        /// Since the last sign-in that worked, or the last lock.
        pub failures: i32,
        /// Until when a password sign-in for this email is refused without checking it.
        pub locked_until: Option<DateTimeUtc>,
        pub last_failure_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub at: DateTimeUtc,
        pub actor_id: Option<i32>,
        pub actor: String,
        pub action: String,
        pub target: String,
        pub outcome: String,
        #[sea_orm(column_type = "Text")]
        pub details: String,
        pub correlation_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod saml_request {
    use sea_orm::entity::prelude::*;

    /// An SP-initiated AuthnRequest awaiting its answer; consumed by the first response to it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub relay_state: String,
        pub expires_at: DateTimeUtc,
        /// The digest of the cookie of the browser that was sent to Okta with this request
        /// (under https); empty where the answer is not bound to a browser (plain http).
        pub browser_hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod saml_assertion_seen {
    use sea_orm::entity::prelude::*;

    /// The replay cache: each assertion id is accepted once, remembered until it expires.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_assertions_seen")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub assertion_id: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oidc_login {
    use sea_orm::entity::prelude::*;

    /// An OIDC sign-in awaiting its callback: found by the SHA-256 of its `state`, bound to the
    /// browser that started it, consumed by the first callback that names it. Its `Debug`
    /// leaves the nonce and the PKCE verifier out.
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_logins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub browser_hash: String,
        pub nonce: String,
        pub pkce_verifier: String,
        pub return_to: String,
        pub expires_at: DateTimeUtc,
        /// [`crate::identity::OidcSettings::client_key`] of the settings it was started with;
        /// empty for one started before migration `m20261205_000005`, or by a replica of an
        /// earlier release.
        pub client_key: String,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("oidc_login::Model")
                .field("state_hash", &self.state_hash)
                .field("return_to", &self.return_to)
                .field("expires_at", &self.expires_at)
                .finish_non_exhaustive()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
