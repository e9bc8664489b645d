//! Use cases over the database: each public function is one unit of work, and every
//! state change is one transaction. Services translate between `entities` rows and
//! `domain` values; the GraphQL, REST and CLI edges call only these.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod batch;
pub mod capacity;
pub mod capture;
pub mod carts;
pub mod checkout;
pub mod demo;
pub mod error;
pub mod events;
pub mod invoices;
pub mod orders;
pub mod payment_events;
pub mod promo_codes;
pub mod reports;
pub mod ticket_types;
pub mod webhooks;

pub use error::{ServiceError, ServiceResult, UserError, UserErrorCode};

/// The current time, truncated to microseconds so that values read back from either
/// database compare equal to the ones written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// `text` with LIKE's wildcards escaped (`\` the escape character), to match it literally.
pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A failure that is ours, not the caller's (a template or CSV writer failing): logged
/// by the edge with its cause chain, shown as "internal error".
pub(crate) fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!(e.to_string()))
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: it takes the
/// write lock up front (waiting per the busy timeout), where a deferred transaction
/// that read first would fail with SQLITE_BUSY when another connection committed in
/// between. PostgreSQL ignores the option. Inside a transaction it opens a savepoint.
pub async fn begin_write(
    db: &impl sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
