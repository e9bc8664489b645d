//! Hardening under real traffic:
//! - `ticket_types.held_count`: tickets held by pending paid checkouts, so capacity is
//!   checked in one conditional `UPDATE` (`sold_count + held_count + n <= capacity`);
//! - `orders.redirect_url`: the provider page of a pending order, so a repeated checkout
//!   of the same cart returns the same payable session instead of a second one;
//! - `orders.refund_due`: a payment arrived for seats that are gone; the refund through
//!   the provider is owed until it succeeds;
//! - `payment_events.waiting_for` / `payload`: a provider event that names a payment we
//!   cannot match yet is kept and applied once the order carries that reference;
//! - `rate_limits`: failed promo code attempts per key and window, shared by instances.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TicketTypes {
    Table,
    HeldCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    RedirectUrl,
    RefundDue,
}

#[derive(DeriveIden, Clone, Copy)]
enum PaymentEvents {
    Table,
    WaitingFor,
    Payload,
}

#[derive(DeriveIden, Clone, Copy)]
enum RateLimits {
    Table,
    Key,
    WindowStart,
    Failures,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        m.alter_table(
            Table::alter()
                .table(TicketTypes::Table)
                .add_column(big_integer(TicketTypes::HeldCount).default(0))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE ticket_types SET held_count = (SELECT COALESCE(SUM(i.quantity), 0) FROM order_items i \
                 JOIN orders o ON o.id = i.order_id WHERE o.status = 'PENDING' AND i.ticket_type_id = ticket_types.id)",
            )
            .await?;
        m.alter_table(Table::alter().table(Orders::Table).add_column(text_null(Orders::RedirectUrl)).to_owned())
            .await?;
        m.alter_table(
            Table::alter().table(Orders::Table).add_column(boolean(Orders::RefundDue).default(false)).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(PaymentEvents::Table).add_column(string_null(PaymentEvents::WaitingFor)).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(PaymentEvents::Table).add_column(text_null(PaymentEvents::Payload)).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_payment_events_waiting_for")
                .table(PaymentEvents::Table)
                .col(PaymentEvents::WaitingFor)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RateLimits::Table)
                .col(string_len(RateLimits::Key, 255).primary_key())
                .col(timestamp_with_time_zone(RateLimits::WindowStart))
                .col(integer(RateLimits::Failures))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_rate_limits_window_start")
                .table(RateLimits::Table)
                .col(RateLimits::WindowStart)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateLimits::Table).to_owned()).await?;
        m.drop_index(Index::drop().name("idx_payment_events_waiting_for").table(PaymentEvents::Table).to_owned())
            .await?;
        for column in [PaymentEvents::Payload, PaymentEvents::WaitingFor] {
            m.alter_table(Table::alter().table(PaymentEvents::Table).drop_column(column).to_owned()).await?;
        }
        for column in [Orders::RefundDue, Orders::RedirectUrl] {
            m.alter_table(Table::alter().table(Orders::Table).drop_column(column).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(TicketTypes::Table).drop_column(TicketTypes::HeldCount).to_owned()).await
    }
}
