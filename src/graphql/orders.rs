//! What the organizer sees afterwards: the order list, invoices, the promo code report,
//! and outbound webhooks.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::auth::Caller;
use super::checkout::Order;
use super::errors::{self, ErrorCode, client_error};
use super::types::user_error::user_errors;
use super::types::{PageInfo, UserError, parse_id};
use crate::domain::Currency;
use crate::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::services::orders::{self, Cursor, OrderFilter as ServiceFilter, SortField};
use crate::services::reports;
use crate::services::webhooks::{self, WebhookSettings};
use crate::services::{self, UserErrorCode, accounts, invoices};

/// Order states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum OrderStatus {
    /// Waiting for the payment provider.
    Pending,
    /// Paid.
    Paid,
    /// Paid, part of it refunded.
    PartiallyRefunded,
    /// Paid, all of it refunded.
    Refunded,
    /// Payment failed or could not start.
    Cancelled,
    /// Not paid in time.
    Expired,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Paid => "PAID",
            OrderStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            OrderStatus::Refunded => "REFUNDED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Expired => "EXPIRED",
        }
    }
}

/// Filters of `orders`; all optional, combined.
#[derive(Debug, Default, InputObject)]
pub struct OrderFilter {
    /// Orders that redeemed this code (any case), e.g. "MARIA15".
    pub promo_code: Option<String>,
    /// Orders whose buyer came through a link with this `utm_source`, e.g. "instagram".
    pub utm_source: Option<String>,
    /// Orders in this state.
    pub status: Option<OrderStatus>,
    /// Orders of this buyer (aliases of one mailbox match too).
    pub email: Option<String>,
    /// Created at or after this instant (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
}

/// What to sort orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(remote = "crate::services::orders::SortField")]
pub enum OrderSortField {
    /// Creation time.
    #[default]
    CreatedAt,
    /// Redeemed code (orders without one sort first ascending).
    PromoCode,
    /// Order total.
    Total,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest (newest) first.
    #[default]
    Desc,
}

/// How to sort `orders`.
#[derive(Debug, Default, InputObject)]
pub struct OrderOrder {
    /// The key; CREATED_AT when omitted.
    #[graphql(default)]
    pub field: OrderSortField,
    /// The direction; DESC when omitted.
    #[graphql(default)]
    pub direction: SortDirection,
}

/// A page of orders (a Relay connection).
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// The orders with their cursors.
    pub edges: Vec<OrderEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
}

/// An order and its cursor.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// Pass as `after` for the orders following this one (same `orderBy`).
    pub cursor: String,
    /// The order.
    pub node: Order,
}

/// One line of an invoice, at its discounted price.
#[derive(SimpleObject)]
pub struct InvoiceLine {
    /// What was bought.
    pub description: String,
    /// How many.
    pub quantity: i32,
    /// Discounted unit price, decimal string.
    pub unit_price: String,
    /// unitPrice × quantity, decimal string.
    pub line_total: String,
    /// VAT rate in percent.
    pub vat_rate: String,
}

/// The invoice's promo code line.
#[derive(SimpleObject)]
pub struct InvoicePromo {
    /// The code as redeemed.
    pub code: String,
    /// E.g. "Promo code NEWS10 (10%)".
    pub label: String,
    /// The discount given, decimal string.
    pub discount_amount: String,
}

/// VAT of one rate on an invoice.
#[derive(SimpleObject)]
pub struct InvoiceVat {
    /// Rate in percent.
    pub rate: String,
    /// Net amount at this rate.
    pub net: String,
    /// VAT at this rate.
    pub vat: String,
}

/// An invoice: lines at discounted prices, the promo line, Net / VAT per rate / Total.
/// Amounts are decimal strings in `currency`.
#[derive(SimpleObject)]
pub struct Invoice {
    /// The order number.
    pub number: String,
    /// Payment (or order) date.
    pub issued_at: DateTime<Utc>,
    /// The organizer.
    pub seller: String,
    /// The buyer's email.
    pub buyer: String,
    /// ISO 4217.
    pub currency: String,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// Σ original prices before the discount.
    pub subtotal: String,
    /// The promo code line, when a code was redeemed.
    pub promo: Option<InvoicePromo>,
    /// Net total.
    pub net: String,
    /// VAT per rate.
    pub vat: Vec<InvoiceVat>,
    /// Total paid (= net + Σ VAT).
    pub total: String,
}

impl From<invoices::Invoice> for Invoice {
    fn from(i: invoices::Invoice) -> Self {
        Invoice {
            number: i.number,
            issued_at: i.issued_at,
            seller: i.seller,
            buyer: i.buyer,
            currency: i.currency,
            lines: i
                .lines
                .into_iter()
                .map(|l| InvoiceLine {
                    description: l.description,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    line_total: l.line_total,
                    vat_rate: l.vat_rate,
                })
                .collect(),
            subtotal: i.subtotal,
            promo: i.promo.map(|p| InvoicePromo { code: p.code, label: p.label, discount_amount: p.discount_amount }),
            net: i.net,
            vat: i.vat.into_iter().map(|v| InvoiceVat { rate: v.rate, net: v.net, vat: v.vat }).collect(),
            total: i.total,
        }
    }
}

/// How report rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(remote = "crate::services::reports::GroupBy")]
pub enum ReportGroupBy {
    /// One row per code.
    #[default]
    Code,
    /// One row per code and utm_source (which platform brought the click).
    CodeAndUtmSource,
}

/// One row of the promo code report: one code, by identity, however often it was renamed.
/// Amounts are decimal strings in `currency`.
#[derive(SimpleObject)]
pub struct PromoCodeReportRow {
    /// The code's id (what `promoCode(id:)` and `updatePromoCode` take); null when the
    /// code no longer exists, its orders then grouped by the string they were redeemed under.
    pub promo_code_id: Option<ID>,
    /// The code as it is named now (a renamed code keeps one row); for a code that no
    /// longer exists, the string its orders were redeemed under.
    pub code: String,
    /// Every string the row's orders were redeemed under, first used first: more than one
    /// after a rename; empty when the row has link visits but no orders.
    pub redeemed_as: Vec<String>,
    /// The utm_source (grouped by CODE_AND_UTM_SOURCE only).
    pub utm_source: Option<String>,
    /// ISO 4217.
    pub currency: String,
    /// Sessions that arrived through a `?promo=` link of the code (once per session).
    pub link_visits: i64,
    /// Paid orders with the code (refunded ones included), typed in or from a link.
    pub orders: i64,
    /// Of `orders`, those from a buyer who arrived through a `?promo=` link of the code
    /// (the cart's session has a link visit of it); typed-in codes are not counted.
    pub link_orders: i64,
    /// linkOrders / linkVisits, decimal string with 4 places; null without visits.
    /// Typed-in codes do not count as conversions.
    pub conversion: Option<String>,
    /// Tickets in those orders.
    pub tickets: i64,
    /// Σ totals paid, gross: refunds not deducted.
    pub revenue: String,
    /// revenue − refunds: what the orders brought in after refunds.
    pub revenue_net_of_refunds: String,
    /// Σ discounts given.
    pub discount_given: String,
    /// Σ refunded.
    pub refunds: String,
    /// Redemptions in the period.
    pub redemptions_ever: i64,
    /// Of those, not fully refunded.
    pub redemptions_active: i64,
    /// Orders that pushed the code past its usage limit.
    pub orders_over_cap: i64,
}

/// An outbound webhook receiver.
#[derive(SimpleObject)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: ID,
    /// Where events are POSTed.
    pub url: String,
    /// Subscribed events: "order.paid", "order.refunded".
    pub events: Vec<String>,
    /// False while paused.
    pub active: bool,
    /// Free text.
    pub description: Option<String>,
    /// When it was registered (UTC, RFC 3339).
    pub created_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for WebhookEndpoint {
    fn from(e: webhook_endpoint::Model) -> Self {
        WebhookEndpoint {
            id: ID::from(e.id.to_string()),
            url: e.url,
            events: e.events.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            active: e.active,
            description: e.description,
            created_at: e.created_at,
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// When.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long it took, milliseconds.
    pub latency_ms: i64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One event to one endpoint, with its attempts.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// Its id (what `redeliverWebhook` takes).
    pub id: ID,
    /// The endpoint.
    pub endpoint_id: ID,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    /// "order.paid" or "order.refunded".
    pub event_type: String,
    /// PENDING (queued or retrying), DELIVERED or FAILED (given up).
    pub status: String,
    /// Attempts so far.
    pub attempt_count: i32,
    /// When the next attempt is due (PENDING only).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body sent.
    pub payload: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

fn delivery(d: webhook_delivery::Model, attempts: Vec<webhook_attempt::Model>) -> WebhookDelivery {
    WebhookDelivery {
        id: ID::from(d.id.to_string()),
        endpoint_id: ID::from(d.endpoint_id.to_string()),
        message_id: d.message_id,
        event_type: d.event_type,
        status: d.status,
        attempt_count: d.attempts,
        next_attempt_at: d.next_attempt_at,
        delivered_at: d.delivered_at,
        payload: d.payload,
        attempts: attempts
            .into_iter()
            .map(|a| WebhookAttempt {
                attempted_at: a.attempted_at,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error,
            })
            .collect(),
    }
}

/// Order, report and webhook queries (read or admin key).
#[derive(Default)]
pub struct OrdersAdminQuery;

/// Order, report and webhook queries (read or admin key).
#[Object]
impl OrdersAdminQuery {
    /// Your shop's orders: filter and sort by promo code, utm_source, status, buyer and
    /// date to see what each partner drove. A Relay connection.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Filters; all orders when omitted.")] filter: Option<OrderFilter>,
        #[graphql(desc = "Sort; newest first when omitted.")] order_by: Option<OrderOrder>,
        #[graphql(desc = "Page size, 1–200.", default = 50)] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page (same `orderBy`).")] after: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        let principal = Caller::of(ctx).reader()?;
        if !(1..=200).contains(&first) {
            return Err(client_error(ErrorCode::BadUserInput, "`first` must be between 1 and 200"));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let filter = filter.unwrap_or_default();
        let sort = order_by.unwrap_or_default();
        let service_filter = ServiceFilter {
            promo_code: filter.promo_code,
            utm_source: filter.utm_source,
            status: filter.status.map(|s| s.as_str().to_owned()),
            email: filter.email,
            created_after: filter.created_after,
            created_before: filter.created_before,
        };
        let field: SortField = sort.field.into();
        let descending = sort.direction == SortDirection::Desc;
        let page = errors::query(
            orders::list(db, principal.account_id, &service_filter, field, descending, first as u64, after.as_deref())
                .await,
        )?;
        // Items, refunds, codes and the account of the whole page: one batch each.
        let related = std::sync::Arc::new(super::checkout::Related::load(ctx, &page.items).await?);
        let edges: Vec<OrderEdge> = page
            .items
            .into_iter()
            .map(|o| OrderEdge { cursor: Cursor::after(&o, field).encode(), node: Order(o, Some(related.clone())) })
            .collect();
        let page_info = PageInfo {
            has_previous_page: after.is_some(),
            has_next_page: page.has_next,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(OrderConnection { edges, page_info })
    }

    /// Per code (or code × utm_source): link visits, orders and link orders, conversion,
    /// tickets, revenue gross and net of refunds, discount given, refunds, redemptions
    /// ever vs active, orders over the cap, for orders and visits created in [from, to).
    /// A code is one row under its current name, renamed or not. Also as CSV at
    /// `/admin/reports/promo_codes.csv`.
    async fn promo_code_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start, inclusive (RFC 3339).")] from: DateTime<Utc>,
        #[graphql(desc = "End, exclusive (RFC 3339).")] to: DateTime<Utc>,
        #[graphql(desc = "CODE or CODE_AND_UTM_SOURCE.", default)] group_by: ReportGroupBy,
    ) -> async_graphql::Result<Vec<PromoCodeReportRow>> {
        let principal = Caller::of(ctx).reader()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let account = errors::query(accounts::find(db, principal.account_id).await)?
            .ok_or_else(|| client_error(ErrorCode::Unauthenticated, "the key's account no longer exists"))?;
        let currency = Currency::parse(&account.currency).map_err(|e| errors::internal(&e))?;
        let rows = errors::query(reports::promo_report(db, principal.account_id, from, to, group_by.into()).await)?;
        Ok(rows.into_iter().map(|r| report_row(r, currency)).collect())
    }

    /// Your webhook endpoints.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let principal = Caller::of(ctx).reader()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(errors::query(webhooks::endpoints(db, principal.account_id).await)?.into_iter().map(Into::into).collect())
    }

    /// The delivery log, newest first, with every attempt.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this endpoint's deliveries.")] endpoint_id: Option<ID>,
        #[graphql(desc = "How many, 1–200.", default = 50)] first: i32,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let principal = Caller::of(ctx).reader()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let endpoint = endpoint_id.as_ref().map(|id| parse_id(id).unwrap_or(0));
        let rows = errors::query(webhooks::deliveries(db, principal.account_id, endpoint, first.max(1) as u64).await)?;
        Ok(rows.into_iter().map(|(d, a)| delivery(d, a)).collect())
    }
}

fn report_row(r: reports::ReportRow, currency: Currency) -> PromoCodeReportRow {
    let money = |minor: i64| crate::domain::Money::from_minor(minor, currency).to_string();
    PromoCodeReportRow {
        conversion: r.conversion().map(|c| format!("{c:.4}")),
        revenue_net_of_refunds: money(r.revenue_net_of_refunds()),
        promo_code_id: r.promo_code_id.map(|id| ID::from(id.to_string())),
        code: r.code,
        redeemed_as: r.redeemed_as,
        utm_source: r.utm_source,
        currency: currency.code().to_owned(),
        link_visits: r.link_visits,
        orders: r.orders,
        link_orders: r.link_orders,
        tickets: r.tickets,
        revenue: money(r.revenue),
        discount_given: money(r.discount),
        refunds: money(r.refunds),
        redemptions_ever: r.redemptions_ever,
        redemptions_active: r.redemptions_active,
        orders_over_cap: r.over_cap,
    }
}

/// A new webhook endpoint.
#[derive(Debug, InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to POST events: http(s), a public address (private, loopback and cloud
    /// metadata addresses are refused).
    pub url: String,
    /// Events to receive: "order.paid", "order.refunded".
    pub events: Vec<String>,
    /// Free text, e.g. "CRM".
    pub description: Option<String>,
}

/// Changes to an endpoint; omitted fields stay.
#[derive(Debug, InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// New URL.
    pub url: Option<String>,
    /// New event list.
    pub events: Option<Vec<String>>,
    /// Pause (false) or resume (true).
    pub active: Option<bool>,
    /// New description.
    pub description: Option<String>,
}

/// Result of creating or changing an endpoint.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint; null when refused.
    pub endpoint: Option<WebhookEndpoint>,
    /// On creation only: the signing secret (`whsec_…`), shown this once. Verify
    /// `webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` with it.
    pub secret: Option<String>,
    /// Why the input was refused.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteWebhookEndpoint` / `redeliverWebhook`.
#[derive(SimpleObject)]
pub struct WebhookActionPayload {
    /// True when done.
    pub ok: bool,
    /// The delivery, for `redeliverWebhook`.
    pub delivery: Option<WebhookDelivery>,
    /// Why it was refused.
    pub user_errors: Vec<UserError>,
}

/// Webhook management (admin key).
#[derive(Default)]
pub struct WebhookMutation;

/// Webhook management (admin key).
#[Object]
impl WebhookMutation {
    /// Registers an endpoint for order events and returns its signing secret once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "URL, events, description.")] input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let principal = Caller::of(ctx).admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let settings = ctx.data_unchecked::<WebhookSettings>();
        match errors::split(
            webhooks::create_endpoint(db, settings, principal.account_id, &input.url, &input.events, input.description)
                .await,
        )? {
            Ok(e) => {
                let secret = e.secret.clone();
                Ok(WebhookEndpointPayload { endpoint: Some(e.into()), secret: Some(secret), user_errors: vec![] })
            }
            Err(e) => Ok(WebhookEndpointPayload { endpoint: None, secret: None, user_errors: user_errors(e) }),
        }
    }

    /// Changes an endpoint.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let principal = Caller::of(ctx).admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let settings = ctx.data_unchecked::<WebhookSettings>();
        let id = parse_id(&id).unwrap_or(0);
        let changes = webhooks::EndpointChanges {
            url: input.url,
            events: input.events,
            active: input.active,
            description: input.description.map(Some),
        };
        let result = webhooks::update_endpoint(db, settings, principal.account_id, id, changes).await;
        match errors::split(result)? {
            Ok(e) => Ok(WebhookEndpointPayload { endpoint: Some(e.into()), secret: None, user_errors: vec![] }),
            Err(e) => Ok(WebhookEndpointPayload { endpoint: None, secret: None, user_errors: user_errors(e) }),
        }
    }

    /// Deletes an endpoint and its delivery log.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> async_graphql::Result<WebhookActionPayload> {
        let principal = Caller::of(ctx).admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        match errors::split(webhooks::delete_endpoint(db, principal.account_id, parse_id(&id).unwrap_or(0)).await)? {
            Ok(()) => Ok(WebhookActionPayload { ok: true, delivery: None, user_errors: vec![] }),
            Err(e) => Ok(WebhookActionPayload { ok: false, delivery: None, user_errors: user_errors(e) }),
        }
    }

    /// Sends a delivery again now, with the same `webhook-id`.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id.")] delivery_id: ID,
    ) -> async_graphql::Result<WebhookActionPayload> {
        let principal = Caller::of(ctx).admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let Some(id) = parse_id(&delivery_id) else {
            let e = services::UserError::new("deliveryId", UserErrorCode::NotFound, "no delivery with this id");
            return Ok(WebhookActionPayload { ok: false, delivery: None, user_errors: user_errors(vec![e]) });
        };
        match errors::split(webhooks::redeliver(db, principal.account_id, id).await)? {
            Ok(d) => Ok(WebhookActionPayload { ok: true, delivery: Some(delivery(d, vec![])), user_errors: vec![] }),
            Err(e) => Ok(WebhookActionPayload { ok: false, delivery: None, user_errors: user_errors(e) }),
        }
    }
}
