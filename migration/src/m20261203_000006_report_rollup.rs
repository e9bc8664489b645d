//! The promo code report over a month is read from a roll-up instead of every order:
//! - `orders.via_link`: the order's cart's session had a `?promo=` link visit of the
//!   order's code (set at checkout, and when such a visit is recorded later);
//! - `promo_report_months`: per account, UTC month, code (id and the string redeemed
//!   under) and utm_source, the sums the report shows. Database triggers keep it equal to
//!   the sums over the orders: every insert or change of a reported order subtracts the
//!   old row's share and adds the new one, in the writing transaction (on PostgreSQL at
//!   its commit, so a checkout holds the roll-up row's lock only for that instant);
//! - on PostgreSQL the `(account_id, created_at)` index of orders carries the reported
//!   columns, so the days outside whole months are read from the index alone.
//!
//! Existing orders are counted in when the migration runs.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    ViaLink,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoReportMonths {
    Table,
    AccountId,
    Month,
    CodeKey,
    PromoCode,
    UtmKey,
    Orders,
    LinkOrders,
    Tickets,
    Revenue,
    Discount,
    Refunds,
    Active,
    OverCap,
    FirstAt,
}

/// The statuses of orders the report counts.
const REPORTED: &str = "('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')";

/// One order's share of its roll-up row, as `(column, expression)` over `row` (`NEW`,
/// `OLD` or a table alias).
fn shares(row: &str) -> [(&'static str, String); 8] {
    [
        ("orders", "1".to_owned()),
        ("link_orders", format!("CASE WHEN {row}.via_link THEN 1 ELSE 0 END")),
        ("tickets", format!("{row}.ticket_count")),
        ("revenue", format!("{row}.total")),
        ("discount", format!("{row}.discount_amount")),
        ("refunds", format!("{row}.refunded_amount")),
        ("active", format!("CASE WHEN {row}.status = 'REFUNDED' THEN 0 ELSE 1 END")),
        ("over_cap", format!("CASE WHEN {row}.over_cap THEN 1 ELSE 0 END")),
    ]
}

/// The UTC month of a timestamp as the integer YYYYMM.
fn month(backend: DatabaseBackend, at: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            "(CAST(EXTRACT(YEAR FROM {at} AT TIME ZONE 'UTC') AS INTEGER) * 100 + CAST(EXTRACT(MONTH FROM {at} AT TIME ZONE 'UTC') AS INTEGER))"
        ),
        // Timestamps are stored as RFC 3339 text in UTC.
        _ => format!("CAST(strftime('%Y%m', {at}) AS INTEGER)"),
    }
}

/// The key columns of a row's roll-up row, in the table's order.
fn key(backend: DatabaseBackend, row: &str) -> [(&'static str, String); 5] {
    [
        ("account_id", format!("{row}.account_id")),
        ("month", month(backend, &format!("{row}.created_at"))),
        ("code_key", format!("COALESCE({row}.promo_code_id, 0)")),
        ("promo_code", format!("{row}.promo_code")),
        ("utm_key", format!("COALESCE({row}.utm_source, '')")),
    ]
}

/// `row` is an order the report counts.
fn reported(row: &str) -> String {
    format!("{row}.promo_code IS NOT NULL AND {row}.status IN {REPORTED}")
}

/// Subtracts `OLD`'s share (when it was reported).
fn subtract_old(backend: DatabaseBackend) -> String {
    let set: Vec<String> = shares("OLD").iter().map(|(c, e)| format!("{c} = {c} - {e}")).collect();
    let filter: Vec<String> = key(backend, "OLD").iter().map(|(c, e)| format!("{c} = {e}")).collect();
    format!("UPDATE promo_report_months SET {} WHERE {} AND {}", set.join(", "), filter.join(" AND "), reported("OLD"))
}

/// Adds `NEW`'s share (when it is reported), creating its row on first use.
fn add_new(backend: DatabaseBackend) -> String {
    let key = key(backend, "NEW");
    let shares = shares("NEW");
    let columns: Vec<&str> = key.iter().chain(shares.iter()).map(|(c, _)| *c).chain(["first_at"]).collect();
    let values: Vec<String> =
        key.iter().chain(shares.iter()).map(|(_, e)| e.clone()).chain(["NEW.created_at".to_owned()]).collect();
    let keys: Vec<&str> = key.iter().map(|(c, _)| *c).collect();
    let mut update: Vec<String> =
        shares.iter().map(|(c, _)| format!("{c} = promo_report_months.{c} + excluded.{c}")).collect();
    let earliest = if backend == DatabaseBackend::Postgres { "LEAST" } else { "MIN" };
    update.push(format!("first_at = {earliest}(promo_report_months.first_at, excluded.first_at)"));
    // `WHERE` after the SELECT also keeps SQLite from reading ON CONFLICT as a join's.
    format!(
        "INSERT INTO promo_report_months ({}) SELECT {} WHERE {} ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        values.join(", "),
        reported("NEW"),
        keys.join(", "),
        update.join(", ")
    )
}

/// The order columns a roll-up row depends on: a change of another column (an email
/// written, a provider reference) leaves the roll-up alone.
const WATCHED: [&str; 12] = [
    "account_id",
    "created_at",
    "promo_code_id",
    "promo_code",
    "utm_source",
    "status",
    "via_link",
    "ticket_count",
    "total",
    "discount_amount",
    "refunded_amount",
    "over_cap",
];

/// An update that moves a reported order's share: a watched column changed and the order
/// is reported before or after (a pending order expiring leaves the roll-up alone).
fn changed(backend: DatabaseBackend) -> String {
    let old: Vec<String> = WATCHED.iter().map(|c| format!("OLD.{c}")).collect();
    let new: Vec<String> = WATCHED.iter().map(|c| format!("NEW.{c}")).collect();
    let differs = match backend {
        DatabaseBackend::Postgres => format!("({}) IS DISTINCT FROM ({})", old.join(", "), new.join(", ")),
        _ => WATCHED.iter().map(|c| format!("OLD.{c} IS NOT NEW.{c}")).collect::<Vec<_>>().join(" OR "),
    };
    format!("({differs}) AND (({}) OR ({}))", reported("OLD"), reported("NEW"))
}

/// The roll-up of the orders that exist.
fn backfill(backend: DatabaseBackend) -> String {
    let key = key(backend, "o");
    let shares = shares("o");
    let columns: Vec<&str> = key.iter().chain(shares.iter()).map(|(c, _)| *c).chain(["first_at"]).collect();
    let mut select: Vec<String> = key.iter().map(|(_, e)| e.clone()).collect();
    select.extend(shares.iter().map(|(_, e)| format!("SUM({e})")));
    select.push("MIN(o.created_at)".to_owned());
    let group: Vec<String> = key.iter().map(|(_, e)| e.clone()).collect();
    format!(
        "INSERT INTO promo_report_months ({}) SELECT {} FROM orders o WHERE {} GROUP BY {}",
        columns.join(", "),
        select.join(", "),
        reported("o"),
        group.join(", ")
    )
}

/// The columns the report reads, carried by PostgreSQL's `(account_id, created_at)` index.
const COVERED: &str = "promo_code_id, promo_code, utm_source, status, via_link, ticket_count, total, \
                       discount_amount, refunded_amount, over_cap";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        let db = m.get_connection();
        m.alter_table(
            Table::alter().table(Orders::Table).add_column(boolean(Orders::ViaLink).default(false)).to_owned(),
        )
        .await?;
        db.execute_unprepared(
            "UPDATE orders SET via_link = TRUE WHERE promo_code_id IS NOT NULL AND EXISTS (\
             SELECT 1 FROM carts ct JOIN promo_link_visits v ON v.session_id = ct.session_id \
             WHERE ct.id = orders.cart_id AND v.promo_code_id = orders.promo_code_id)",
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PromoReportMonths::Table)
                .col(big_integer(PromoReportMonths::AccountId))
                .col(integer(PromoReportMonths::Month))
                .col(big_integer(PromoReportMonths::CodeKey))
                .col(string_len(PromoReportMonths::PromoCode, 32))
                .col(string(PromoReportMonths::UtmKey))
                .col(big_integer(PromoReportMonths::Orders))
                .col(big_integer(PromoReportMonths::LinkOrders))
                .col(big_integer(PromoReportMonths::Tickets))
                .col(big_integer(PromoReportMonths::Revenue))
                .col(big_integer(PromoReportMonths::Discount))
                .col(big_integer(PromoReportMonths::Refunds))
                .col(big_integer(PromoReportMonths::Active))
                .col(big_integer(PromoReportMonths::OverCap))
                .col(timestamp_with_time_zone(PromoReportMonths::FirstAt))
                .primary_key(
                    Index::create()
                        .col(PromoReportMonths::AccountId)
                        .col(PromoReportMonths::Month)
                        .col(PromoReportMonths::CodeKey)
                        .col(PromoReportMonths::PromoCode)
                        .col(PromoReportMonths::UtmKey),
                )
                .to_owned(),
        )
        .await?;
        db.execute_unprepared(&backfill(backend)).await?;

        match backend {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION promo_report_months_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF TG_OP = 'UPDATE' THEN {}; END IF; {}; RETURN NULL; END $$",
                    subtract_old(backend),
                    add_new(backend)
                ))
                .await?;
                // Deferred to the commit: the roll-up row (one per code and month, shared
                // by concurrent checkouts) is locked for the commit's instant only.
                db.execute_unprepared(&format!(
                    "CREATE CONSTRAINT TRIGGER promo_report_months_on_insert AFTER INSERT ON orders \
                     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({}) EXECUTE FUNCTION promo_report_months_count()",
                    reported("NEW")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE CONSTRAINT TRIGGER promo_report_months_on_update AFTER UPDATE ON orders \
                     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({}) EXECUTE FUNCTION promo_report_months_count()",
                    changed(backend)
                ))
                .await?;
                db.execute_unprepared("DROP INDEX IF EXISTS idx_orders_account_created").await?;
                db.execute_unprepared(&format!(
                    "CREATE INDEX idx_orders_account_created ON orders (account_id, created_at) INCLUDE ({COVERED})"
                ))
                .await?;
                // The planner's guess of the report's groups (codes × sources), so it
                // hashes them instead of sorting a million rows.
                db.execute_unprepared(
                    "CREATE STATISTICS IF NOT EXISTS orders_report_groups (ndistinct) \
                     ON account_id, promo_code_id, promo_code, utm_source FROM orders",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER promo_report_months_on_insert AFTER INSERT ON orders WHEN {} \
                     BEGIN {}; END",
                    reported("NEW"),
                    add_new(backend)
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER promo_report_months_on_update AFTER UPDATE ON orders WHEN {} \
                     BEGIN {}; {}; END",
                    changed(backend),
                    subtract_old(backend),
                    add_new(backend)
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS promo_report_months_on_insert ON orders").await?;
            db.execute_unprepared("DROP TRIGGER IF EXISTS promo_report_months_on_update ON orders").await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS promo_report_months_count()").await?;
            db.execute_unprepared("DROP STATISTICS IF EXISTS orders_report_groups").await?;
            db.execute_unprepared("DROP INDEX IF EXISTS idx_orders_account_created").await?;
            db.execute_unprepared("CREATE INDEX idx_orders_account_created ON orders (account_id, created_at)").await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS promo_report_months_on_insert").await?;
            db.execute_unprepared("DROP TRIGGER IF EXISTS promo_report_months_on_update").await?;
        }
        m.drop_table(Table::drop().table(PromoReportMonths::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::ViaLink).to_owned()).await
    }
}
