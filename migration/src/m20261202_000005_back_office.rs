//! The organizer's back office:
//! - `accounts`: time zone, seller details printed on invoices, storefront URL;
//! - `events`: end, status (DRAFT, ON_SALE, SALES_ENDED, CANCELLED), description,
//!   soft delete; events that existed before are ON_SALE, as they were sold before;
//! - `ticket_types`: sales window, hidden flag, soft delete;
//! - `orders`: the seller details as they were when the order was placed, for its invoice;
//! - `audit_log`: one row per admin write, never updated or deleted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    TimeZone,
    SellerLegalName,
    SellerAddress,
    SellerVatId,
    StorefrontUrl,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    EndsAt,
    Status,
    Description,
    DeletedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketTypes {
    Table,
    SalesFrom,
    SalesUntil,
    Hidden,
    DeletedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    SellerName,
    SellerAddress,
    SellerVatId,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    AccountId,
    At,
    KeyId,
    KeyName,
    Via,
    Operation,
    TargetType,
    TargetId,
    Changes,
}

/// Adds one column per statement: SQLite's ALTER TABLE adds one at a time.
async fn add(m: &SchemaManager<'_>, table: impl IntoIden + Copy + 'static, column: ColumnDef) -> Result<(), DbErr> {
    let mut column = column;
    m.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add(m, Accounts::Table, string_len(Accounts::TimeZone, 64).default("UTC").to_owned()).await?;
        add(m, Accounts::Table, string_null(Accounts::SellerLegalName).to_owned()).await?;
        add(m, Accounts::Table, text_null(Accounts::SellerAddress).to_owned()).await?;
        add(m, Accounts::Table, string_len_null(Accounts::SellerVatId, 32).to_owned()).await?;
        add(m, Accounts::Table, text_null(Accounts::StorefrontUrl).to_owned()).await?;
        add(m, Accounts::Table, timestamp_with_time_zone_null(Accounts::UpdatedAt).to_owned()).await?;

        add(m, Events::Table, timestamp_with_time_zone_null(Events::EndsAt).to_owned()).await?;
        add(m, Events::Table, string_len(Events::Status, 16).default("ON_SALE").to_owned()).await?;
        add(m, Events::Table, text_null(Events::Description).to_owned()).await?;
        add(m, Events::Table, timestamp_with_time_zone_null(Events::DeletedAt).to_owned()).await?;
        add(m, Events::Table, timestamp_with_time_zone_null(Events::UpdatedAt).to_owned()).await?;

        add(m, TicketTypes::Table, timestamp_with_time_zone_null(TicketTypes::SalesFrom).to_owned()).await?;
        add(m, TicketTypes::Table, timestamp_with_time_zone_null(TicketTypes::SalesUntil).to_owned()).await?;
        add(m, TicketTypes::Table, boolean(TicketTypes::Hidden).default(false).to_owned()).await?;
        add(m, TicketTypes::Table, timestamp_with_time_zone_null(TicketTypes::DeletedAt).to_owned()).await?;
        add(m, TicketTypes::Table, timestamp_with_time_zone_null(TicketTypes::UpdatedAt).to_owned()).await?;

        add(m, Orders::Table, string_null(Orders::SellerName).to_owned()).await?;
        add(m, Orders::Table, text_null(Orders::SellerAddress).to_owned()).await?;
        add(m, Orders::Table, string_len_null(Orders::SellerVatId, 32).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(big_integer(AuditLog::AccountId))
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(big_integer_null(AuditLog::KeyId))
                .col(string(AuditLog::KeyName))
                .col(string_len(AuditLog::Via, 16))
                .col(string_len(AuditLog::Operation, 64))
                .col(string_len(AuditLog::TargetType, 32))
                .col(big_integer(AuditLog::TargetId))
                .col(text(AuditLog::Changes))
                .to_owned(),
        )
        .await?;
        for (name, columns) in [
            ("idx_audit_log_account", vec![AuditLog::AccountId, AuditLog::Id]),
            ("idx_audit_log_target", vec![AuditLog::AccountId, AuditLog::TargetType, AuditLog::TargetId]),
            ("idx_audit_log_key", vec![AuditLog::AccountId, AuditLog::KeyId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditLog::Table);
            for c in columns {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }
        // Nobody changes history: the database itself refuses updates and deletes.
        let db = m.get_connection();
        match m.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log \
                     FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()",
                )
                .await?;
            }
            _ => {
                for action in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_log_no_{} BEFORE {action} ON audit_log \
                         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
                        action.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditLog::Table).to_owned()).await?;
        if m.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            m.get_connection().execute_unprepared("DROP FUNCTION IF EXISTS audit_log_is_append_only()").await?;
        }
        for column in [Orders::SellerVatId, Orders::SellerAddress, Orders::SellerName] {
            m.alter_table(Table::alter().table(Orders::Table).drop_column(column).to_owned()).await?;
        }
        for column in [
            TicketTypes::UpdatedAt,
            TicketTypes::DeletedAt,
            TicketTypes::Hidden,
            TicketTypes::SalesUntil,
            TicketTypes::SalesFrom,
        ] {
            m.alter_table(Table::alter().table(TicketTypes::Table).drop_column(column).to_owned()).await?;
        }
        for column in [Events::UpdatedAt, Events::DeletedAt, Events::Description, Events::Status, Events::EndsAt] {
            m.alter_table(Table::alter().table(Events::Table).drop_column(column).to_owned()).await?;
        }
        for column in [
            Accounts::UpdatedAt,
            Accounts::StorefrontUrl,
            Accounts::SellerVatId,
            Accounts::SellerAddress,
            Accounts::SellerLegalName,
            Accounts::TimeZone,
        ] {
            m.alter_table(Table::alter().table(Accounts::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
