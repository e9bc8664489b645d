//! The whole data model in one first migration.
//!
//! Conventions: money columns are integer minor units (`BIGINT`), rates and percentages
//! are integer basis points (1900 = 19.00 %), timestamps are `TIMESTAMPTZ` (text on
//! SQLite, always UTC). Ids are 64-bit autoincrement; ids a buyer must not guess (carts,
//! order access) are separate random tokens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
    Slug,
    Name,
    Currency,
    VatRateBp,
    PricesIncludeVat,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Id,
    AccountId,
    Name,
    Venue,
    StartsAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketTypes {
    Table,
    Id,
    AccountId,
    EventId,
    Name,
    Price,
    VatRateBp,
    Capacity,
    SoldCount,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoCodes {
    Table,
    Id,
    AccountId,
    Code,
    DiscountType,
    PercentOffBp,
    AmountOff,
    EventId,
    ExpiresAt,
    UsageLimit,
    MaxPerCustomer,
    RedemptionsCount,
    Active,
    Description,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    Data,
    ExpiryDate,
}

#[derive(DeriveIden, Clone, Copy)]
enum Carts {
    Table,
    Id,
    Token,
    AccountId,
    SessionId,
    Email,
    PromoCodeId,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CartLines {
    Table,
    Id,
    CartId,
    TicketTypeId,
    Quantity,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    AccountId,
    Number,
    AccessToken,
    CartId,
    Email,
    CustomerKey,
    Status,
    Provider,
    ProviderRef,
    Currency,
    PricesIncludeVat,
    Subtotal,
    DiscountAmount,
    NetAmount,
    VatAmount,
    Total,
    RefundedAmount,
    PromoCodeId,
    PromoCode,
    PromoDiscountType,
    PromoPercentOffBp,
    PromoAmountOff,
    OverCap,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    FailureReason,
    ExpiresAt,
    PaidAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderItems {
    Table,
    Id,
    OrderId,
    LineNo,
    TicketTypeId,
    EventId,
    Name,
    Quantity,
    OriginalPrice,
    DiscountAmount,
    UnitPrice,
    LineTotal,
    VatRateBp,
    VatAmount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Redemptions {
    Table,
    Id,
    AccountId,
    PromoCodeId,
    OrderId,
    CustomerKey,
    OverCap,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Refunds {
    Table,
    Id,
    AccountId,
    OrderId,
    Amount,
    ProviderRef,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PaymentEvents {
    Table,
    Id,
    Provider,
    EventType,
    ReceivedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    AccountId,
    Name,
    Prefix,
    KeyHash,
    Scope,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoints {
    Table,
    Id,
    AccountId,
    Url,
    Secret,
    Events,
    Active,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    Id,
    AccountId,
    EndpointId,
    MessageId,
    EventType,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    Error,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoLinkVisits {
    Table,
    Id,
    AccountId,
    PromoCodeId,
    SessionId,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    CreatedAt,
}

/// A foreign key from `table.column` to `parent.id`.
fn fk<T, C, P, PI>(
    table: T,
    column: C,
    parent: P,
    parent_id: PI,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    T: IntoIden,
    C: IntoIden,
    P: IntoIden,
    PI: IntoIden,
{
    ForeignKey::create().from(table, column).to(parent, parent_id).on_delete(on_delete).to_owned()
}

/// A plain (or unique) index named after its table and columns.
fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    name: &str,
    table: T,
    columns: &[C],
    unique: bool,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in columns {
        stmt.col(*c);
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(big_pk_auto(Accounts::Id))
                .col(string_len_uniq(Accounts::Slug, 64))
                .col(string(Accounts::Name))
                .col(string_len(Accounts::Currency, 3))
                .col(integer(Accounts::VatRateBp))
                .col(boolean(Accounts::PricesIncludeVat))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(big_pk_auto(Events::Id))
                .col(big_integer(Events::AccountId))
                .col(string(Events::Name))
                .col(string_null(Events::Venue))
                .col(timestamp_with_time_zone(Events::StartsAt))
                .col(timestamp_with_time_zone(Events::CreatedAt))
                .foreign_key(&mut fk(Events::Table, Events::AccountId, Accounts::Table, Accounts::Id, Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_events_account_starts",
            Events::Table,
            &[Events::AccountId, Events::StartsAt],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(TicketTypes::Table)
                .col(big_pk_auto(TicketTypes::Id))
                .col(big_integer(TicketTypes::AccountId))
                .col(big_integer(TicketTypes::EventId))
                .col(string(TicketTypes::Name))
                .col(big_integer(TicketTypes::Price))
                .col(integer_null(TicketTypes::VatRateBp))
                .col(big_integer_null(TicketTypes::Capacity))
                .col(big_integer(TicketTypes::SoldCount).default(0))
                .col(timestamp_with_time_zone(TicketTypes::CreatedAt))
                .foreign_key(&mut fk(
                    TicketTypes::Table,
                    TicketTypes::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                    Cascade,
                ))
                .foreign_key(&mut fk(TicketTypes::Table, TicketTypes::EventId, Events::Table, Events::Id, Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_ticket_types_event", TicketTypes::Table, &[TicketTypes::EventId], false)).await?;

        m.create_table(
            Table::create()
                .table(PromoCodes::Table)
                .col(big_pk_auto(PromoCodes::Id))
                .col(big_integer(PromoCodes::AccountId))
                .col(string_len(PromoCodes::Code, 32))
                .col(string_len(PromoCodes::DiscountType, 16))
                .col(integer_null(PromoCodes::PercentOffBp))
                .col(big_integer_null(PromoCodes::AmountOff))
                .col(big_integer_null(PromoCodes::EventId))
                .col(timestamp_with_time_zone_null(PromoCodes::ExpiresAt))
                .col(big_integer_null(PromoCodes::UsageLimit))
                .col(big_integer_null(PromoCodes::MaxPerCustomer))
                .col(big_integer(PromoCodes::RedemptionsCount).default(0))
                .col(boolean(PromoCodes::Active).default(true))
                .col(text_null(PromoCodes::Description))
                .col(timestamp_with_time_zone_null(PromoCodes::DeletedAt))
                .col(timestamp_with_time_zone(PromoCodes::CreatedAt))
                .col(timestamp_with_time_zone(PromoCodes::UpdatedAt))
                .foreign_key(&mut fk(PromoCodes::Table, PromoCodes::AccountId, Accounts::Table, Accounts::Id, Cascade))
                .foreign_key(&mut fk(PromoCodes::Table, PromoCodes::EventId, Events::Table, Events::Id, Restrict))
                .to_owned(),
        )
        .await?;
        // Unique among codes not deleted: a soft-deleted code's string is free for reuse.
        // A partial index is the same SQL on SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_promo_codes_account_code_live \
                 ON promo_codes (account_id, code) WHERE deleted_at IS NULL",
            )
            .await?;
        m.create_index(index(
            "idx_promo_codes_account_created",
            PromoCodes::Table,
            &[PromoCodes::AccountId, PromoCodes::CreatedAt],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(string_len(Sessions::Id, 128).primary_key())
                .col(text(Sessions::Data))
                .col(timestamp_with_time_zone(Sessions::ExpiryDate))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_sessions_expiry", Sessions::Table, &[Sessions::ExpiryDate], false)).await?;

        m.create_table(
            Table::create()
                .table(Carts::Table)
                .col(big_pk_auto(Carts::Id))
                .col(string_len_uniq(Carts::Token, 64))
                .col(big_integer(Carts::AccountId))
                .col(string_len_null(Carts::SessionId, 128))
                .col(string_null(Carts::Email))
                .col(big_integer_null(Carts::PromoCodeId))
                .col(string_null(Carts::UtmSource))
                .col(string_null(Carts::UtmMedium))
                .col(string_null(Carts::UtmCampaign))
                .col(string_len(Carts::Status, 16))
                .col(timestamp_with_time_zone(Carts::CreatedAt))
                .col(timestamp_with_time_zone(Carts::UpdatedAt))
                .foreign_key(&mut fk(Carts::Table, Carts::AccountId, Accounts::Table, Accounts::Id, Cascade))
                .foreign_key(&mut fk(Carts::Table, Carts::PromoCodeId, PromoCodes::Table, PromoCodes::Id, SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_carts_session", Carts::Table, &[Carts::SessionId], false)).await?;
        m.create_index(index("idx_carts_promo_code", Carts::Table, &[Carts::PromoCodeId], false)).await?;

        m.create_table(
            Table::create()
                .table(CartLines::Table)
                .col(big_pk_auto(CartLines::Id))
                .col(big_integer(CartLines::CartId))
                .col(big_integer(CartLines::TicketTypeId))
                .col(integer(CartLines::Quantity))
                .col(timestamp_with_time_zone(CartLines::CreatedAt))
                .foreign_key(&mut fk(CartLines::Table, CartLines::CartId, Carts::Table, Carts::Id, Cascade))
                .foreign_key(&mut fk(
                    CartLines::Table,
                    CartLines::TicketTypeId,
                    TicketTypes::Table,
                    TicketTypes::Id,
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "uq_cart_lines_cart_ticket_type",
            CartLines::Table,
            &[CartLines::CartId, CartLines::TicketTypeId],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Orders::Table)
                .col(big_pk_auto(Orders::Id))
                .col(big_integer(Orders::AccountId))
                .col(string_len(Orders::Number, 32))
                .col(string_len_uniq(Orders::AccessToken, 64))
                .col(big_integer_null(Orders::CartId))
                .col(string(Orders::Email))
                .col(string(Orders::CustomerKey))
                .col(string_len(Orders::Status, 24))
                .col(string_len(Orders::Provider, 16))
                .col(string_null(Orders::ProviderRef))
                .col(string_len(Orders::Currency, 3))
                .col(boolean(Orders::PricesIncludeVat))
                .col(big_integer(Orders::Subtotal))
                .col(big_integer(Orders::DiscountAmount))
                .col(big_integer(Orders::NetAmount))
                .col(big_integer(Orders::VatAmount))
                .col(big_integer(Orders::Total))
                .col(big_integer(Orders::RefundedAmount).default(0))
                .col(big_integer_null(Orders::PromoCodeId))
                .col(string_len_null(Orders::PromoCode, 32))
                .col(string_len_null(Orders::PromoDiscountType, 16))
                .col(integer_null(Orders::PromoPercentOffBp))
                .col(big_integer_null(Orders::PromoAmountOff))
                .col(boolean(Orders::OverCap).default(false))
                .col(string_null(Orders::UtmSource))
                .col(string_null(Orders::UtmMedium))
                .col(string_null(Orders::UtmCampaign))
                .col(text_null(Orders::FailureReason))
                .col(timestamp_with_time_zone_null(Orders::ExpiresAt))
                .col(timestamp_with_time_zone_null(Orders::PaidAt))
                .col(timestamp_with_time_zone(Orders::CreatedAt))
                .col(timestamp_with_time_zone(Orders::UpdatedAt))
                .foreign_key(&mut fk(Orders::Table, Orders::AccountId, Accounts::Table, Accounts::Id, Cascade))
                .foreign_key(&mut fk(Orders::Table, Orders::CartId, Carts::Table, Carts::Id, SetNull))
                .foreign_key(&mut fk(Orders::Table, Orders::PromoCodeId, PromoCodes::Table, PromoCodes::Id, SetNull))
                .to_owned(),
        )
        .await?;
        // The admin order list filters and sorts by these, always within one account.
        m.create_index(index("uq_orders_account_number", Orders::Table, &[Orders::AccountId, Orders::Number], true))
            .await?;
        m.create_index(index(
            "idx_orders_account_created",
            Orders::Table,
            &[Orders::AccountId, Orders::CreatedAt],
            false,
        ))
        .await?;
        m.create_index(index(
            "idx_orders_account_promo_created",
            Orders::Table,
            &[Orders::AccountId, Orders::PromoCode, Orders::CreatedAt],
            false,
        ))
        .await?;
        m.create_index(index(
            "idx_orders_account_utm_created",
            Orders::Table,
            &[Orders::AccountId, Orders::UtmSource, Orders::CreatedAt],
            false,
        ))
        .await?;
        m.create_index(index(
            "idx_orders_account_status_created",
            Orders::Table,
            &[Orders::AccountId, Orders::Status, Orders::CreatedAt],
            false,
        ))
        .await?;
        // Soft-cap and per-customer checks count a code's orders by status and buyer.
        m.create_index(index(
            "idx_orders_promo_status_customer",
            Orders::Table,
            &[Orders::PromoCodeId, Orders::Status, Orders::CustomerKey],
            false,
        ))
        .await?;
        m.create_index(index(
            "idx_orders_provider_ref",
            Orders::Table,
            &[Orders::Provider, Orders::ProviderRef],
            false,
        ))
        .await?;
        m.create_index(index("idx_orders_status_expires", Orders::Table, &[Orders::Status, Orders::ExpiresAt], false))
            .await?;

        m.create_table(
            Table::create()
                .table(OrderItems::Table)
                .col(big_pk_auto(OrderItems::Id))
                .col(big_integer(OrderItems::OrderId))
                .col(integer(OrderItems::LineNo))
                .col(big_integer_null(OrderItems::TicketTypeId))
                .col(big_integer_null(OrderItems::EventId))
                .col(string(OrderItems::Name))
                .col(integer(OrderItems::Quantity))
                .col(big_integer(OrderItems::OriginalPrice))
                .col(big_integer(OrderItems::DiscountAmount))
                .col(big_integer(OrderItems::UnitPrice))
                .col(big_integer(OrderItems::LineTotal))
                .col(integer(OrderItems::VatRateBp))
                .col(big_integer(OrderItems::VatAmount))
                .foreign_key(&mut fk(OrderItems::Table, OrderItems::OrderId, Orders::Table, Orders::Id, Cascade))
                .foreign_key(&mut fk(
                    OrderItems::Table,
                    OrderItems::TicketTypeId,
                    TicketTypes::Table,
                    TicketTypes::Id,
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_order_items_order", OrderItems::Table, &[OrderItems::OrderId], false)).await?;

        m.create_table(
            Table::create()
                .table(Redemptions::Table)
                .col(big_pk_auto(Redemptions::Id))
                .col(big_integer(Redemptions::AccountId))
                .col(big_integer(Redemptions::PromoCodeId))
                .col(big_integer_uniq(Redemptions::OrderId))
                .col(string(Redemptions::CustomerKey))
                .col(boolean(Redemptions::OverCap).default(false))
                .col(timestamp_with_time_zone(Redemptions::CreatedAt))
                .foreign_key(&mut fk(
                    Redemptions::Table,
                    Redemptions::PromoCodeId,
                    PromoCodes::Table,
                    PromoCodes::Id,
                    Restrict,
                ))
                .foreign_key(&mut fk(Redemptions::Table, Redemptions::OrderId, Orders::Table, Orders::Id, Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_redemptions_promo", Redemptions::Table, &[Redemptions::PromoCodeId], false)).await?;

        m.create_table(
            Table::create()
                .table(Refunds::Table)
                .col(big_pk_auto(Refunds::Id))
                .col(big_integer(Refunds::AccountId))
                .col(big_integer(Refunds::OrderId))
                .col(big_integer(Refunds::Amount))
                .col(string_null(Refunds::ProviderRef))
                .col(text_null(Refunds::Reason))
                .col(timestamp_with_time_zone(Refunds::CreatedAt))
                .foreign_key(&mut fk(Refunds::Table, Refunds::OrderId, Orders::Table, Orders::Id, Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_refunds_order", Refunds::Table, &[Refunds::OrderId], false)).await?;
        // A provider's refund (e.g. Stripe `re_…`) is recorded once, however often it is reported.
        m.create_index(index("uq_refunds_provider_ref", Refunds::Table, &[Refunds::ProviderRef], true)).await?;

        m.create_table(
            Table::create()
                .table(PaymentEvents::Table)
                .col(string_len(PaymentEvents::Id, 255).primary_key())
                .col(string_len(PaymentEvents::Provider, 16))
                .col(string(PaymentEvents::EventType))
                .col(timestamp_with_time_zone(PaymentEvents::ReceivedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(big_pk_auto(ApiKeys::Id))
                .col(big_integer(ApiKeys::AccountId))
                .col(string(ApiKeys::Name))
                .col(string_len(ApiKeys::Prefix, 16))
                .col(string_len_uniq(ApiKeys::KeyHash, 64))
                .col(string_len(ApiKeys::Scope, 8))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .foreign_key(&mut fk(ApiKeys::Table, ApiKeys::AccountId, Accounts::Table, Accounts::Id, Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_api_keys_account", ApiKeys::Table, &[ApiKeys::AccountId], false)).await?;

        m.create_table(
            Table::create()
                .table(WebhookEndpoints::Table)
                .col(big_pk_auto(WebhookEndpoints::Id))
                .col(big_integer(WebhookEndpoints::AccountId))
                .col(text(WebhookEndpoints::Url))
                .col(string(WebhookEndpoints::Secret))
                .col(text(WebhookEndpoints::Events))
                .col(boolean(WebhookEndpoints::Active).default(true))
                .col(text_null(WebhookEndpoints::Description))
                .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                .foreign_key(&mut fk(
                    WebhookEndpoints::Table,
                    WebhookEndpoints::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_webhook_endpoints_account",
            WebhookEndpoints::Table,
            &[WebhookEndpoints::AccountId],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(big_pk_auto(WebhookDeliveries::Id))
                .col(big_integer(WebhookDeliveries::AccountId))
                .col(big_integer(WebhookDeliveries::EndpointId))
                .col(string_len(WebhookDeliveries::MessageId, 64))
                .col(string_len(WebhookDeliveries::EventType, 64))
                .col(text(WebhookDeliveries::Payload))
                .col(string_len(WebhookDeliveries::Status, 16))
                .col(integer(WebhookDeliveries::Attempts).default(0))
                .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                .col(timestamp_with_time_zone_null(WebhookDeliveries::LockedUntil))
                .col(integer_null(WebhookDeliveries::LastStatusCode))
                .col(text_null(WebhookDeliveries::LastError))
                .col(timestamp_with_time_zone_null(WebhookDeliveries::DeliveredAt))
                .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt))
                .foreign_key(&mut fk(
                    WebhookDeliveries::Table,
                    WebhookDeliveries::EndpointId,
                    WebhookEndpoints::Table,
                    WebhookEndpoints::Id,
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        // The dispatcher claims due rows by status and time.
        m.create_index(index(
            "idx_webhook_deliveries_due",
            WebhookDeliveries::Table,
            &[WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            false,
        ))
        .await?;
        m.create_index(index(
            "idx_webhook_deliveries_endpoint_created",
            WebhookDeliveries::Table,
            &[WebhookDeliveries::EndpointId, WebhookDeliveries::CreatedAt],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookAttempts::Table)
                .col(big_pk_auto(WebhookAttempts::Id))
                .col(big_integer(WebhookAttempts::DeliveryId))
                .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                .col(integer_null(WebhookAttempts::StatusCode))
                .col(big_integer(WebhookAttempts::LatencyMs))
                .col(text_null(WebhookAttempts::Error))
                .foreign_key(&mut fk(
                    WebhookAttempts::Table,
                    WebhookAttempts::DeliveryId,
                    WebhookDeliveries::Table,
                    WebhookDeliveries::Id,
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_webhook_attempts_delivery",
            WebhookAttempts::Table,
            &[WebhookAttempts::DeliveryId],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PromoLinkVisits::Table)
                .col(big_pk_auto(PromoLinkVisits::Id))
                .col(big_integer(PromoLinkVisits::AccountId))
                .col(big_integer(PromoLinkVisits::PromoCodeId))
                .col(string_len(PromoLinkVisits::SessionId, 128))
                .col(string_null(PromoLinkVisits::UtmSource))
                .col(string_null(PromoLinkVisits::UtmMedium))
                .col(string_null(PromoLinkVisits::UtmCampaign))
                .col(timestamp_with_time_zone(PromoLinkVisits::CreatedAt))
                .foreign_key(&mut fk(
                    PromoLinkVisits::Table,
                    PromoLinkVisits::PromoCodeId,
                    PromoCodes::Table,
                    PromoCodes::Id,
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        // One visit per code and session, however often the link is opened.
        m.create_index(index(
            "uq_promo_link_visits_code_session",
            PromoLinkVisits::Table,
            &[PromoLinkVisits::PromoCodeId, PromoLinkVisits::SessionId],
            true,
        ))
        .await?;
        m.create_index(index(
            "idx_promo_link_visits_account_created",
            PromoLinkVisits::Table,
            &[PromoLinkVisits::AccountId, PromoLinkVisits::CreatedAt],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents.
        let tables: Vec<DynIden> = vec![
            PromoLinkVisits::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            PaymentEvents::Table.into_iden(),
            Refunds::Table.into_iden(),
            Redemptions::Table.into_iden(),
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
            CartLines::Table.into_iden(),
            Carts::Table.into_iden(),
            Sessions::Table.into_iden(),
            PromoCodes::Table.into_iden(),
            TicketTypes::Table.into_iden(),
            Events::Table.into_iden(),
            Accounts::Table.into_iden(),
        ];
        for t in tables {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
