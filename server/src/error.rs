//! The service layer's one error type, and how it reads to a person on a page.

use app::model::AppError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("sign-in required")]
    SignInRequired,
    #[error("the session has expired")]
    SessionExpired,
    #[error("the API token is unknown or revoked")]
    InvalidToken,
    #[error("the caller lacks the role this needs")]
    Forbidden,
    #[error("email and password do not match")]
    BadCredentials,
    #[error("the account is deactivated")]
    AccountDisabled,
    #[error("too many failed password sign-ins in a row: locked for {minutes} more minutes")]
    SignInLocked { minutes: i64 },
    #[error("too many sign-in attempts from one address: wait {seconds} seconds")]
    TooManyAttempts { seconds: u64 },
    #[error("the CSRF token is missing or wrong")]
    CsrfRejected,
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(String),
    /// Someone else changed what this change was made from.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PortalError {
    /// `error`, or when it is a unique key refusing the write (a row made meanwhile by another
    /// admin or replica, past the check before it), the same refusal as that check's:
    /// `field` with `message`.
    pub fn unless_taken(
        error: DbErr,
        field: &str,
        message: impl FnOnce() -> String,
    ) -> PortalError {
        match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                PortalError::invalid(field, message())
            }
            _ => error.into(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> PortalError {
        PortalError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The database cannot be reached: the request may succeed if retried.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PortalError::Database(error) if crate::db::is_unreachable(error))
    }

    /// The page's view of this error. Unexpected failures are logged here, once, with the
    /// correlation id that the person is shown.
    pub fn for_page(self, correlation_id: &str) -> AppError {
        match self {
            PortalError::SignInRequired | PortalError::InvalidToken => AppError::SignInRequired,
            PortalError::SessionExpired => AppError::SessionExpired,
            PortalError::Forbidden => AppError::Forbidden,
            PortalError::BadCredentials => AppError::BadCredentials,
            PortalError::AccountDisabled => AppError::AccountDisabled,
            PortalError::SignInLocked { minutes } => AppError::SignInLocked { minutes },
            PortalError::TooManyAttempts { seconds } => AppError::TooManyAttempts { seconds },
            PortalError::CsrfRejected => AppError::CsrfRejected,
            PortalError::Invalid { field, message } => AppError::Invalid { field, message },
            PortalError::Conflict(message) => AppError::Invalid {
                field: String::new(),
                message,
            },
            PortalError::NotFound(what) => AppError::Invalid {
                field: String::new(),
                message: format!("{what} no longer exists."),
            },
            error if error.is_unavailable() => {
                tracing::warn!(correlation_id, %error, "database unavailable");
                AppError::Unavailable
            }
            error => {
                tracing::error!(correlation_id, %error, "request failed");
                AppError::Internal {
                    correlation_id: correlation_id.to_string(),
                }
            }
        }
    }
}
