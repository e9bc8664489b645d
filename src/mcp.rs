//! The AI assistant's edge: a Model Context Protocol server (rmcp) over the same services
//! the GraphQL and REST edges call, scoped to one API key's shop.
//!
//! `tixshop mcp` speaks it over stdio (key from `TIXSHOP_API_KEY`); the server mounts it
//! over Streamable HTTP at `/mcp` (the key as a bearer token on every request). Safe by
//! construction:
//! - there is no tool that runs arbitrary GraphQL or SQL: one tool per admin task;
//! - a read-scope key is offered the read tools only (and a write call is refused);
//! - a write tool without `confirm: true` only previews, through the service's dry-run
//!   path, and says in words what it would do; with `confirm: true` it writes, and the
//!   audit log records the key, through `MCP`;
//! - refused input comes back as a tool error with the `userErrors` codes and messages,
//!   so the model can correct itself.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::calendar::ShopZone;
use crate::domain::promo::DiscountType;
use crate::domain::{Money, VatRate};
use crate::entities::enums::{AuditVia, OrderStatus};
use crate::entities::{account, promo_code};
use crate::events::CartEvents;
use crate::http::rest::PromoCodeJson;
use crate::services::api_keys::{self, Principal};
use crate::services::audit::Actor;
use crate::services::promo_codes::{self, NewPromoCode, PromoCodePatch, PromoCodeView, StatusFilter};
use crate::services::{self, ServiceError, UserError, UserErrorCode, accounts, events as event_service, now, orders};

/// The URI of the shop resource (what `shop_info` returns).
pub const SHOP_RESOURCE: &str = "tixshop://shop";

/// How calls are authenticated.
#[derive(Clone)]
pub enum KeySource {
    /// One key for the whole session (stdio: `TIXSHOP_API_KEY`, checked at start).
    Fixed(Principal),
    /// The bearer key of each HTTP request (`/mcp`).
    PerRequest,
}

/// The MCP server of one session.
#[derive(Clone)]
pub struct TixMcp {
    db: DatabaseConnection,
    events: Arc<CartEvents>,
    keys: KeySource,
}

/// Where a call goes wrong.
enum Refusal {
    /// The input was refused: a tool error with the user errors.
    User(Vec<UserError>),
    /// Our fault: a protocol error (logged).
    Internal(String),
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::User(errors) => Refusal::User(errors),
            other => {
                tracing::error!(error = ?other, "internal error in an MCP tool");
                Refusal::Internal("internal error".into())
            }
        }
    }
}

fn user(field: &str, code: UserErrorCode, message: impl Into<String>) -> Refusal {
    Refusal::User(vec![UserError::new(field, code, message)])
}

type Outcome = Result<(Value, String), Refusal>;

/// The status filter of `list_promo_codes`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CodeStatus {
    /// Every code that is not deleted.
    #[default]
    All,
    /// Codes that apply to carts now.
    Active,
    /// Codes whose start is still ahead.
    Scheduled,
    /// Codes past their expiry.
    Expired,
    /// Codes whose redemptions reached their usage limit.
    Exhausted,
    /// Deactivated codes.
    Inactive,
    /// Soft-deleted codes (kept for order history).
    Deleted,
}

/// How a code discounts.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Discount {
    /// `percent_off` percent of the eligible lines, rounded half-up to the cent.
    Percentage,
    /// `amount_off` in the shop currency, at most the eligible subtotal.
    FixedAmount,
}

/// `generate_promo_codes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenerateInput {
    /// A name for the batch, e.g. "November newsletter".
    batch_name: String,
    /// What every code starts with: 1–16 letters and digits, e.g. "NEWS"; codes read
    /// PREFIX- and 10 random characters.
    prefix: String,
    /// How many codes for anyone, 1–10,000 (a giveaway). Give this or recipients.
    count: Option<i64>,
    /// One code per email, each usable only by that buyer (a newsletter). Give this or count.
    recipients: Option<Vec<String>>,
    /// PERCENTAGE (give percent_off) or FIXED_AMOUNT (give amount_off).
    discount_type: Discount,
    /// For PERCENTAGE: "1"–"100".
    percent_off: Option<String>,
    /// For FIXED_AMOUNT: a decimal string in the shop currency.
    amount_off: Option<String>,
    /// Paid redemptions per code; default 1 (single-use).
    usage_per_code: Option<i64>,
    /// First day the codes apply, "YYYY-MM-DD" in the shop's time zone.
    starts_on: Option<NaiveDate>,
    /// Last day they apply, "YYYY-MM-DD" in the shop's time zone.
    expires_on: Option<NaiveDate>,
    /// The eligible subtotal a cart needs, e.g. "50.00".
    minimum_subtotal: Option<String>,
    /// The partner's name (see list_partners) the codes belong to.
    partner: Option<String>,
    /// Free text for the organizer.
    description: Option<String>,
    /// false or omitted: only preview with sample codes (nothing is written). true: create them.
    #[serde(default)]
    confirm: bool,
}

/// `create_partner`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PartnerInput {
    /// Their name, unique in the shop, e.g. "Maria".
    name: String,
    /// How the organizer reaches them (never shown to anyone else).
    contact: Option<String>,
    /// false or omitted: only preview. true: add them.
    #[serde(default)]
    confirm: bool,
}

/// `create_share_link`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShareInput {
    /// The partner's name (all their codes). Give this or code.
    partner: Option<String>,
    /// One code, any case. Give this or partner.
    code: Option<String>,
    /// false or omitted: only preview. true: make the link.
    #[serde(default)]
    confirm: bool,
}

/// `shop_info` takes nothing.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct NoInput {}

/// `list_promo_codes`.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct ListCodesInput {
    /// Which codes: ALL (every code not deleted, the default), ACTIVE, EXPIRED,
    /// EXHAUSTED, INACTIVE or DELETED.
    #[serde(default)]
    status: CodeStatus,
    /// Case-insensitive substring of the code or its description, e.g. "15".
    search: Option<String>,
    /// How many, 1–200 (default 50), newest first.
    first: Option<u64>,
}

/// Tools that name one code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CodeInput {
    /// The code string, any case, e.g. "ALEX15".
    code: String,
}

/// Writes that name one code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CodeWriteInput {
    /// The code string, any case, e.g. "ALEX15".
    code: String,
    /// false or omitted: only preview what would happen (nothing is written). true: do it.
    #[serde(default)]
    confirm: bool,
}

/// `create_promo_code`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateCodeInput {
    /// The code buyers type: 3–32 letters, digits, '-' or '_'; stored upper-case, unique
    /// in the shop case-insensitively. Example: "FALL26".
    code: String,
    /// PERCENTAGE (give percent_off) or FIXED_AMOUNT (give amount_off).
    discount_type: Discount,
    /// For PERCENTAGE: a decimal string from "1" to "100", at most two decimals ("15", "12.5").
    percent_off: Option<String>,
    /// For FIXED_AMOUNT: a decimal string in the shop currency above 0 ("5.00").
    amount_off: Option<String>,
    /// Restrict the code to this event id of the shop (see list_events); omit for every event.
    event_id: Option<i64>,
    /// The last day the code applies, "YYYY-MM-DD", in the shop's time zone (see
    /// shop_info): it expires at 23:59:59.999 of that day on the shop's clock. "End of
    /// October" is the coming 31 October. Must lie in the future. Give this or expires_at.
    expires_on: Option<NaiveDate>,
    /// The instant the code stops applying, RFC 3339 with offset, in the future.
    expires_at: Option<DateTime<Utc>>,
    /// The first day the code applies, "YYYY-MM-DD" in the shop's time zone (from 00:00
    /// there); before it buyers are told it has not started. Omit to start at once.
    starts_on: Option<NaiveDate>,
    /// The cart's subtotal (of the tickets the code covers, before discount) needed for
    /// the discount, a decimal string in the shop currency ("50.00"); omit for none.
    minimum_subtotal: Option<String>,
    /// Total paid redemptions across all buyers, at least 1; omit for unlimited.
    usage_limit: Option<i64>,
    /// Paid redemptions per buyer email, at least 1 (1 = once per customer); omit for unlimited.
    max_per_customer: Option<i64>,
    /// Free text for the organizer, at most 500 characters, e.g. "Influencer Maria".
    description: Option<String>,
    /// The partner's name (see list_partners) who hands the code out.
    partner: Option<String>,
    /// The one buyer the code is for: it works only with this email.
    recipient_email: Option<String>,
    /// false or omitted: only preview (nothing is written). true: create it.
    #[serde(default)]
    confirm: bool,
}

/// `update_promo_code`: omitted fields stay as they are.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateCodeInput {
    /// The code to change, any case.
    code: String,
    /// A new code string.
    new_code: Option<String>,
    /// A new percentage (PERCENTAGE codes), "1"–"100".
    percent_off: Option<String>,
    /// A new fixed amount (FIXED_AMOUNT codes) in the shop currency.
    amount_off: Option<String>,
    /// A new last day, "YYYY-MM-DD" in the shop's time zone (see create_promo_code).
    expires_on: Option<NaiveDate>,
    /// A new expiry instant, RFC 3339 with offset.
    expires_at: Option<DateTime<Utc>>,
    /// A new total cap, at least 1.
    usage_limit: Option<i64>,
    /// A new per-buyer cap, at least 1.
    max_per_customer: Option<i64>,
    /// A new description.
    description: Option<String>,
    /// false or omitted: only preview (nothing is written). true: save it.
    #[serde(default)]
    confirm: bool,
}

/// How the report groups.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Grouping {
    /// One row per code (the default).
    #[default]
    Code,
    /// One row per code and utm_source: which platform drove which sales.
    CodeAndUtmSource,
    /// One row per partner (a creator, a newsletter): the sums of their codes.
    Partner,
}

/// `promo_report`.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct ReportInput {
    /// First day, "YYYY-MM-DD" in the shop's time zone; default 30 days ago.
    from: Option<NaiveDate>,
    /// Last day included, "YYYY-MM-DD" in the shop's time zone; default today.
    to: Option<NaiveDate>,
    /// CODE (default), CODE_AND_UTM_SOURCE or PARTNER.
    #[serde(default)]
    group_by: Grouping,
}

/// `list_orders`.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct OrdersInput {
    /// Orders that redeemed this code (any case), e.g. "MARIA15".
    promo_code: Option<String>,
    /// Orders whose buyer arrived with this utm_source, e.g. "instagram".
    utm_source: Option<String>,
    /// PENDING, PAID, PARTIALLY_REFUNDED, REFUNDED, EXPIRED or CANCELLED.
    status: Option<String>,
    /// How many, 1–200 (default 50), newest first.
    first: Option<u64>,
}

/// What a tool is.
struct ToolSpec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

fn schema<T: JsonSchema>() -> Arc<JsonObject> {
    let value = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({ "type": "object" }));
    match value {
        Value::Object(mut map) => {
            map.remove("$schema");
            map.remove("title");
            Arc::new(map)
        }
        _ => Arc::new(JsonObject::new()),
    }
}

const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "shop_info",
        title: "Shop info",
        description: "The shop this key belongs to: name, currency, VAT setting, IANA time zone and today's date there. Read it before turning a day such as \"end of October\" into `expires_on`.",
        schema: schema::<NoInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "list_promo_codes",
        title: "List promo codes",
        description: "The shop's promo codes, newest first, with usage counters (redemptions_count, usage_limit, remaining, max_per_customer), expiry and status. Filter by status (e.g. ACTIVE) and search text.",
        schema: schema::<ListCodesInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "get_promo_code",
        title: "Get a promo code",
        description: "One promo code by its string (any case), with its usage counters.",
        schema: schema::<CodeInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "create_promo_code",
        title: "Create a promo code",
        description: "Creates a promo code. Without confirm: true it only previews what would be stored and writes nothing; show the preview to the organizer, then call again with confirm: true. Example, 15% off once per customer until the end of October: {\"code\": \"FALL26\", \"discount_type\": \"PERCENTAGE\", \"percent_off\": \"15\", \"max_per_customer\": 1, \"expires_on\": \"{COMING_OCTOBER_31}\"}.",
        schema: schema::<CreateCodeInput>,
        read_only: false,
        destructive: false,
        idempotent: false,
    },
    ToolSpec {
        name: "update_promo_code",
        title: "Change a promo code",
        description: "Changes a promo code; omitted fields stay as they are. Carts holding the code are repriced; orders keep their snapshot. Without confirm: true it only previews.",
        schema: schema::<UpdateCodeInput>,
        read_only: false,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "deactivate_promo_code",
        title: "Deactivate a promo code",
        description: "Turns a code off: carts lose its discount at once, orders keep their snapshot, and reactivate_promo_code turns it back on. Without confirm: true it only previews.",
        schema: schema::<CodeWriteInput>,
        read_only: false,
        destructive: true,
        idempotent: true,
    },
    ToolSpec {
        name: "reactivate_promo_code",
        title: "Reactivate a promo code",
        description: "Turns a deactivated code back on. Without confirm: true it only previews.",
        schema: schema::<CodeWriteInput>,
        read_only: false,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "delete_promo_code",
        title: "Delete a promo code",
        description: "Deletes a code. A code any order used is kept (soft delete: status DELETED, order history intact, its string free for reuse); a never-used code is removed for good. The preview (without confirm: true) says which.",
        schema: schema::<CodeWriteInput>,
        read_only: false,
        destructive: true,
        idempotent: true,
    },
    ToolSpec {
        name: "promo_report",
        title: "Promo code report",
        description: "Per code (or per code and utm_source) for a period of days in the shop's time zone: link visits, paid orders, conversion, tickets, revenue gross and net of refunds, discount given, redemptions ever vs active, orders over cap. Amounts are decimal strings in the shop currency.",
        schema: schema::<ReportInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "list_orders",
        title: "List orders",
        description: "The shop's orders, newest first, with the code each redeemed and its utm_source: filter by promo code, utm_source and status to see what a partner drove.",
        schema: schema::<OrdersInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "list_partners",
        title: "List partners",
        description: "The shop's partners (creators, newsletters, venues who hand out codes) with their codes. Reports can group by partner (promo_report group_by PARTNER).",
        schema: schema::<NoInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "create_partner",
        title: "Add a partner",
        description: "Adds a partner, e.g. {\"name\": \"Maria\"}; give their codes the partner (create_promo_code or generate_promo_codes `partner`). Without confirm: true it only previews.",
        schema: schema::<PartnerInput>,
        read_only: false,
        destructive: false,
        idempotent: false,
    },
    ToolSpec {
        name: "generate_promo_codes",
        title: "Generate a batch of codes",
        description: "Makes many unguessable codes at once: `count` single-use codes for anyone, or one code per email in `recipients`, each usable only with that email (a newsletter reward). Without confirm: true it only previews with sample codes. Example: {\"batch_name\": \"November newsletter\", \"prefix\": \"NEWS\", \"recipients\": [\"ann@example.com\"], \"discount_type\": \"PERCENTAGE\", \"percent_off\": \"10\"}. The codes' CSV (with each recipient) is at the batch's csv_path.",
        schema: schema::<GenerateInput>,
        read_only: false,
        destructive: false,
        idempotent: false,
    },
    ToolSpec {
        name: "list_promo_batches",
        title: "List batches of codes",
        description: "The shop's generated batches, newest first, with their counters: codes redeemed of all, redemptions, revenue and discount given.",
        schema: schema::<NoInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
    ToolSpec {
        name: "create_share_link",
        title: "Share a partner's figures",
        description: "Makes a read-only link (path /partners/…) for one partner or one code: link visits, orders, tickets and revenue by source and by day, never a buyer. Give it to the partner; the organizer can revoke it in the dashboard. Without confirm: true it only previews.",
        schema: schema::<ShareInput>,
        read_only: false,
        destructive: false,
        idempotent: false,
    },
    ToolSpec {
        name: "list_events",
        title: "List events",
        description: "The shop's events (drafts included) with their ticket types: price, capacity, sold, held and available. Event ids scope codes (create_promo_code's event_id).",
        schema: schema::<NoInput>,
        read_only: true,
        destructive: false,
        idempotent: true,
    },
];

/// The coming 31 October (UTC's today): an example date that is always in the future.
fn coming_october_31() -> NaiveDate {
    use chrono::Datelike;
    let today = now().date_naive();
    let this_year = NaiveDate::from_ymd_opt(today.year(), 10, 31).unwrap_or(today);
    if this_year > today { this_year } else { NaiveDate::from_ymd_opt(today.year() + 1, 10, 31).unwrap_or(today) }
}

fn tool(spec: &ToolSpec) -> Tool {
    let description = spec.description.replace("{COMING_OCTOBER_31}", &coming_october_31().to_string());
    let mut annotations = ToolAnnotations::with_title(spec.title)
        .read_only(spec.read_only)
        .destructive(spec.destructive)
        .idempotent(spec.idempotent);
    annotations = annotations.open_world(false);
    let mut tool = Tool::new(spec.name, description, (spec.schema)());
    tool.title = Some(spec.title.to_owned());
    tool.annotations = Some(annotations);
    tool
}

/// The tools a key of `scope` is offered: a read key gets the read tools only.
pub fn tools(can_write: bool) -> Vec<Tool> {
    TOOLS.iter().filter(|t| t.read_only || can_write).map(tool).collect()
}

fn parse<T: for<'de> Deserialize<'de>>(arguments: Option<JsonObject>) -> Result<T, Refusal> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|e| user("", UserErrorCode::Invalid, format!("the arguments do not fit the tool's input schema: {e}")))
}

fn shop_zone(account: &account::Model) -> ShopZone {
    ShopZone::parse(&account.time_zone).unwrap_or_default()
}

fn code_json(row: promo_code::Model, account: &account::Model) -> Value {
    let zone = shop_zone(account);
    let expires_local = row.expires_at.map(|at| zone.local(at).to_rfc3339());
    let mut value = serde_json::to_value(PromoCodeJson::from(PromoCodeView::new(row, *account.currency, now())))
        .unwrap_or(Value::Null);
    value["expires_at_shop_time"] = json!(expires_local);
    value
}

/// "FALL26: 15% off, once per customer, until 2027-10-31 23:59 Europe/Berlin".
fn describe(row: &promo_code::Model, account: &account::Model) -> String {
    let currency = *account.currency;
    let mut parts = vec![match (promo_codes::percent_off(row), row.amount_off) {
        (Some(p), _) => format!("{}% off", p.to_decimal()),
        (None, Some(a)) => format!("{} {} off", Money::from_minor(a, currency), currency),
        _ => "no discount".into(),
    }];
    if let Some(event) = row.event_id {
        parts.push(format!("on event {event} only"));
    }
    match row.max_per_customer {
        Some(1) => parts.push("once per customer".into()),
        Some(n) => parts.push(format!("{n} times per customer")),
        None => {}
    }
    if let Some(limit) = row.usage_limit {
        parts.push(format!("{limit} redemptions in all"));
    }
    if let Some(minimum) = row.minimum_subtotal {
        parts.push(format!("from a subtotal of {} {currency}", Money::from_minor(minimum, currency)));
    }
    if let Some(email) = &row.recipient_email {
        parts.push(format!("only for {email}"));
    }
    if let Some(at) = row.starts_at {
        let zone = shop_zone(account);
        parts.push(format!("from {} {}", zone.local(at).format("%Y-%m-%d %H:%M"), zone.name()));
    }
    parts.push(match row.expires_at {
        Some(at) => {
            let zone = shop_zone(account);
            format!("until {} {}", zone.local(at).format("%Y-%m-%d %H:%M"), zone.name())
        }
        None => "no expiry".into(),
    });
    format!("{}: {}", row.code, parts.join(", "))
}

impl TixMcp {
    /// A server whose calls are authenticated by `keys`.
    pub fn new(db: DatabaseConnection, events: Arc<CartEvents>, keys: KeySource) -> Self {
        TixMcp { db, events, keys }
    }

    async fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        match &self.keys {
            KeySource::Fixed(p) => Ok(p.clone()),
            KeySource::PerRequest => {
                let token = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|parts| parts.headers.get(axum::http::header::AUTHORIZATION))
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::http::auth::bearer_token)
                    .map(str::to_owned);
                let Some(token) = token else {
                    return Err(ErrorData::invalid_request("send `Authorization: Bearer <API key>`", None));
                };
                match api_keys::authenticate(&self.db, &token).await {
                    Ok(Some(p)) => Ok(p),
                    Ok(None) => Err(ErrorData::invalid_request("the API key is unknown or revoked", None)),
                    Err(e) => {
                        tracing::error!(error = ?e, "checking an MCP key failed");
                        Err(ErrorData::internal_error("internal error", None))
                    }
                }
            }
        }
    }

    async fn account(&self, p: &Principal) -> Result<account::Model, Refusal> {
        accounts::find(&self.db, p.account_id)
            .await?
            .ok_or_else(|| Refusal::Internal("the key's account no longer exists".into()))
    }

    async fn find_code(&self, p: &Principal, code: &str) -> Result<promo_code::Model, Refusal> {
        promo_codes::find_by_code(&self.db, p.account_id, code).await?.ok_or_else(|| {
            user("code", UserErrorCode::NotFound, format!("no promo code {} in this shop", code.trim().to_uppercase()))
        })
    }

    async fn find_partner(&self, p: &Principal, name: &str) -> Result<crate::entities::partner::Model, Refusal> {
        let partners = services::partners::list(&self.db, p.account_id).await?;
        let wanted = name.trim().to_lowercase();
        partners.into_iter().find(|x| x.name.to_lowercase() == wanted).ok_or_else(|| {
            user("partner", UserErrorCode::NotFound, format!("no partner named {} in this shop", name.trim()))
        })
    }

    async fn run(&self, p: &Principal, name: &str, arguments: Option<JsonObject>) -> Outcome {
        let spec = TOOLS
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| user("", UserErrorCode::NotFound, format!("no tool {name}")))?;
        if !spec.read_only && !p.scope.can_write() {
            return Err(user(
                "",
                UserErrorCode::Invalid,
                "this API key has the read scope; this tool needs an admin key",
            ));
        }
        let actor = Actor::key(p, AuditVia::Mcp);
        let account = self.account(p).await?;
        match name {
            "shop_info" => {
                parse::<NoInput>(arguments)?;
                let zone = shop_zone(&account);
                let today = zone.date_of(now());
                let vat =
                    VatRate::from_basis_points(account.vat_rate_bp.into()).map(|r| r.to_string()).unwrap_or_default();
                let info = json!({
                    "name": account.name, "slug": account.slug, "currency": account.currency.code(),
                    "prices_include_vat": account.prices_include_vat, "vat_rate": vat,
                    "time_zone": zone.name(), "today": today.to_string(), "now": zone.local(now()).to_rfc3339(),
                });
                let text = format!(
                    "{} ({}), prices in {}; today is {} in {}.",
                    account.name,
                    account.slug,
                    account.currency,
                    today,
                    zone.name()
                );
                Ok((info, text))
            }
            "list_promo_codes" => {
                let input: ListCodesInput = parse(arguments)?;
                let status = match input.status {
                    CodeStatus::All => StatusFilter::All,
                    CodeStatus::Active => StatusFilter::Active,
                    CodeStatus::Scheduled => StatusFilter::Scheduled,
                    CodeStatus::Expired => StatusFilter::Expired,
                    CodeStatus::Exhausted => StatusFilter::Exhausted,
                    CodeStatus::Inactive => StatusFilter::Inactive,
                    CodeStatus::Deleted => StatusFilter::Deleted,
                };
                let filter = promo_codes::ListFilter { status, search: input.search, ..Default::default() };
                let first = input.first.unwrap_or(50).clamp(1, promo_codes::MAX_PAGE);
                let page = promo_codes::list(&self.db, p.account_id, &filter, first, None).await?;
                let lines: Vec<String> = page
                    .items
                    .iter()
                    .map(|c| {
                        let limit = c.usage_limit.map_or("∞".to_owned(), |l| l.to_string());
                        format!("{} — used {}/{}", describe(c, &account), c.redemptions_count, limit)
                    })
                    .collect();
                let codes: Vec<Value> = page.items.into_iter().map(|c| code_json(c, &account)).collect();
                let text = if lines.is_empty() { "No codes match.".to_owned() } else { lines.join("\n") };
                Ok((json!({ "promo_codes": codes, "has_more": page.has_next }), text))
            }
            "get_promo_code" => {
                let input: CodeInput = parse(arguments)?;
                let row = self.find_code(p, &input.code).await?;
                let text = format!(
                    "{} — used {} times, status {}",
                    describe(&row, &account),
                    row.redemptions_count,
                    promo_codes::status(&row, now()).as_str()
                );
                Ok((json!({ "promo_code": code_json(row, &account) }), text))
            }
            "create_promo_code" => {
                let input: CreateCodeInput = parse(arguments)?;
                let expires_at = match (input.expires_at, input.expires_on) {
                    (Some(_), Some(_)) => {
                        return Err(user(
                            "expiresOn",
                            UserErrorCode::Invalid,
                            "give expires_on or expires_at, not both",
                        ));
                    }
                    (at, None) => at,
                    (None, Some(day)) => Some(shop_zone(&account).end_of_day(day)),
                };
                let new = NewPromoCode {
                    code: input.code,
                    discount_type: Some(match input.discount_type {
                        Discount::Percentage => DiscountType::Percentage,
                        Discount::FixedAmount => DiscountType::FixedAmount,
                    }),
                    percent_off: input.percent_off,
                    amount_off: input.amount_off,
                    event_id: input.event_id,
                    expires_at,
                    starts_at: input.starts_on.map(|day| shop_zone(&account).start_of_day(day)),
                    minimum_subtotal: input.minimum_subtotal,
                    usage_limit: input.usage_limit,
                    max_per_customer: input.max_per_customer,
                    description: input.description,
                    partner_id: match input.partner.as_deref() {
                        Some(name) => Some(self.find_partner(p, name).await?.id),
                        None => None,
                    },
                    recipient_email: input.recipient_email,
                };
                let row =
                    promo_codes::create(&self.db, &self.events, &actor, p.account_id, new, !input.confirm).await?;
                let said = describe(&row, &account);
                let text = if input.confirm {
                    format!("Created {said}.")
                } else {
                    format!(
                        "Preview — nothing was written. This would create {said}. Call again with confirm: true to create it."
                    )
                };
                Ok((json!({ "confirmed": input.confirm, "promo_code": code_json(row, &account) }), text))
            }
            "update_promo_code" => {
                let input: UpdateCodeInput = parse(arguments)?;
                let current = self.find_code(p, &input.code).await?;
                let expires_at = match (input.expires_at, input.expires_on) {
                    (Some(_), Some(_)) => {
                        return Err(user(
                            "expiresOn",
                            UserErrorCode::Invalid,
                            "give expires_on or expires_at, not both",
                        ));
                    }
                    (Some(at), None) => Some(Some(at)),
                    (None, Some(day)) => Some(Some(shop_zone(&account).end_of_day(day))),
                    (None, None) => None,
                };
                let patch = PromoCodePatch {
                    code: input.new_code,
                    percent_off: input.percent_off.map(Some),
                    amount_off: input.amount_off.map(Some),
                    expires_at,
                    usage_limit: input.usage_limit.map(Some),
                    max_per_customer: input.max_per_customer.map(Some),
                    description: input.description.map(Some),
                    ..PromoCodePatch::default()
                };
                let row = promo_codes::update(
                    &self.db,
                    &self.events,
                    &actor,
                    p.account_id,
                    current.id,
                    patch,
                    !input.confirm,
                )
                .await?;
                let said = describe(&row, &account);
                let text = if input.confirm {
                    format!("Saved {said}.")
                } else {
                    format!(
                        "Preview — nothing was written. After the change: {said}. Call again with confirm: true to save it."
                    )
                };
                Ok((json!({ "confirmed": input.confirm, "promo_code": code_json(row, &account) }), text))
            }
            "deactivate_promo_code" | "reactivate_promo_code" => {
                let input: CodeWriteInput = parse(arguments)?;
                let active = name == "reactivate_promo_code";
                let current = self.find_code(p, &input.code).await?;
                let row = promo_codes::set_active(
                    &self.db,
                    &self.events,
                    &actor,
                    p.account_id,
                    current.id,
                    active,
                    !input.confirm,
                )
                .await?;
                let verb = if active { "reactivate" } else { "deactivate" };
                let text = if input.confirm {
                    format!(
                        "{}d {}; its status is now {}. Orders that used it keep it.",
                        capitalized(verb),
                        row.code,
                        promo_codes::status(&row, now()).as_str()
                    )
                } else {
                    format!(
                        "Preview — nothing was written. This would {verb} {} (used {} times; orders keep their snapshot). Call again with confirm: true.",
                        row.code, row.redemptions_count
                    )
                };
                Ok((json!({ "confirmed": input.confirm, "promo_code": code_json(row, &account) }), text))
            }
            "delete_promo_code" => {
                let input: CodeWriteInput = parse(arguments)?;
                let current = self.find_code(p, &input.code).await?;
                let (row, deletion) =
                    promo_codes::delete(&self.db, &self.events, &actor, p.account_id, current.id, !input.confirm)
                        .await?;
                let kind = match deletion {
                    promo_codes::Deletion::Hard => "HARD",
                    promo_codes::Deletion::Soft => "SOFT",
                };
                let what = match deletion {
                    promo_codes::Deletion::Soft => format!(
                        "a soft delete: {} was redeemed, so it is kept for its orders and reports (status DELETED), and its string becomes free",
                        row.code
                    ),
                    promo_codes::Deletion::Hard => {
                        format!("a real delete: {} was never redeemed, so it is removed for good", row.code)
                    }
                };
                let text = if input.confirm {
                    format!("Deleted — {what}.")
                } else {
                    format!("Preview — nothing was written. This would be {what}. Call again with confirm: true.")
                };
                Ok((
                    json!({ "confirmed": input.confirm, "deletion": kind, "promo_code": code_json(row, &account) }),
                    text,
                ))
            }
            "promo_report" => {
                let input: ReportInput = parse(arguments)?;
                let zone = shop_zone(&account);
                let today = zone.date_of(now());
                let to = input.to.unwrap_or(today);
                let from = input.from.unwrap_or(to - chrono::Duration::days(30));
                if from > to {
                    return Err(user("from", UserErrorCode::Invalid, "from must not be after to"));
                }
                let end = to.succ_opt().map(|d| zone.start_of_day(d)).unwrap_or(DateTime::<Utc>::MAX_UTC);
                let group = match input.group_by {
                    Grouping::Code => services::reports::GroupBy::Code,
                    Grouping::CodeAndUtmSource => services::reports::GroupBy::CodeAndUtmSource,
                    Grouping::Partner => services::reports::GroupBy::Partner,
                };
                let report =
                    services::reports::for_account(&self.db, p.account_id, zone.start_of_day(from), end, group)
                        .await?
                        .ok_or_else(|| Refusal::Internal("the key's account no longer exists".into()))?;
                let money = |m: i64| Money::from_minor(m, report.currency).to_string();
                let rows: Vec<Value> = report.rows.iter().map(|r| json!({
                    "code": r.code, "utm_source": r.utm_source, "link_visits": r.link_visits, "orders": r.orders,
                    "link_orders": r.link_orders, "conversion": r.conversion().map(|c| c.to_string()), "tickets": r.tickets,
                    "revenue": money(r.revenue), "revenue_net_of_refunds": money(r.revenue_net_of_refunds()),
                    "discount_given": money(r.discount), "refunds": money(r.refunds),
                    "redemptions_ever": r.redemptions_ever, "redemptions_active": r.redemptions_active, "orders_over_cap": r.over_cap,
                })).collect();
                let lines: Vec<String> = report
                    .rows
                    .iter()
                    .map(|r| {
                        let source = r.utm_source.as_deref().map(|s| format!(" via {s}")).unwrap_or_default();
                        format!(
                            "{}{source}: {} orders, {} {} revenue, {} {} discount",
                            r.code,
                            r.orders,
                            money(r.revenue),
                            report.currency,
                            money(r.discount),
                            report.currency
                        )
                    })
                    .collect();
                let text = format!(
                    "{from} to {to} ({}):\n{}",
                    zone.name(),
                    if lines.is_empty() { "no orders with a code".to_owned() } else { lines.join("\n") }
                );
                Ok((
                    json!({ "from": from.to_string(), "to": to.to_string(), "currency": report.currency.code(), "rows": rows }),
                    text,
                ))
            }
            "list_orders" => {
                let input: OrdersInput = parse(arguments)?;
                let status = match input.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(s) => Some(<OrderStatus as sea_orm::ActiveEnum>::try_from_value(&s.to_ascii_uppercase()).map_err(|_| {
                        user("status", UserErrorCode::Invalid, format!("`{s}` is not one of PENDING, PAID, PARTIALLY_REFUNDED, REFUNDED, EXPIRED, CANCELLED"))
                    })?),
                };
                let filter = orders::OrderFilter {
                    promo_code: input.promo_code,
                    utm_source: input.utm_source,
                    status,
                    ..Default::default()
                };
                let first = input.first.unwrap_or(50).clamp(1, orders::MAX_PAGE);
                let page =
                    orders::list(&self.db, p.account_id, &filter, orders::SortField::CreatedAt, true, first, None)
                        .await?;
                let list: Vec<Value> = page
                    .items
                    .iter()
                    .map(|o| {
                        json!({
                            "id": o.id, "number": o.number, "status": o.status.to_string(), "email": o.email,
                            "promo_code": o.promo_code, "utm_source": o.utm_source,
                            "total": Money::from_minor(o.total, *o.currency).to_string(), "currency": o.currency.code(),
                            "created_at": o.created_at,
                        })
                    })
                    .collect();
                let text = format!("{} order(s){}.", list.len(), if page.has_next { ", more follow" } else { "" });
                Ok((json!({ "orders": list, "has_more": page.has_next }), text))
            }
            "list_events" => {
                parse::<NoInput>(arguments)?;
                let (rows, _) = event_service::list(
                    &self.db,
                    p.account_id,
                    &event_service::Filter::default(),
                    event_service::MAX_PAGE,
                    None,
                )
                .await?;
                let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
                let mut tickets = services::batch::ticket_types_by_event(&self.db, &ids).await?;
                let zone = shop_zone(&account);
                let list: Vec<Value> = rows.iter().map(|e| json!({
                    "id": e.id, "name": e.name, "venue": e.venue, "status": e.status.to_string(),
                    "starts_at": zone.local(e.starts_at).to_rfc3339(),
                    "ticket_types": tickets.remove(&e.id).unwrap_or_default().into_iter().filter(|t| t.deleted_at.is_none()).map(|t| json!({
                        "id": t.id, "name": t.name, "price": Money::from_minor(t.price, *account.currency).to_string(),
                        "capacity": t.capacity, "sold": t.sold_count, "held": t.held_count,
                        "available": services::capacity::available(&t), "hidden": t.hidden,
                    })).collect::<Vec<_>>(),
                })).collect();
                let text = rows
                    .iter()
                    .map(|e| format!("{} (id {}, {})", e.name, e.id, e.status))
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({ "events": list }), if text.is_empty() { "No events.".into() } else { text }))
            }
            "list_partners" => {
                parse::<NoInput>(arguments)?;
                let partners = services::partners::list(&self.db, p.account_id).await?;
                let codes = promo_codes::list(
                    &self.db,
                    p.account_id,
                    &promo_codes::ListFilter::default(),
                    promo_codes::MAX_PAGE,
                    None,
                )
                .await?;
                let of = |id: i64| -> Vec<String> {
                    codes.items.iter().filter(|c| c.partner_id == Some(id)).map(|c| c.code.clone()).collect()
                };
                let list: Vec<Value> =
                    partners.iter().map(|x| json!({ "id": x.id, "name": x.name, "codes": of(x.id) })).collect();
                let text = partners
                    .iter()
                    .map(|x| format!("{}: {}", x.name, of(x.id).join(", ")))
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({ "partners": list }), if text.is_empty() { "No partners yet.".into() } else { text }))
            }
            "create_partner" => {
                let input: PartnerInput = parse(arguments)?;
                if !input.confirm {
                    let name = input.name.trim();
                    let text = format!(
                        "Preview — nothing was written. This would add the partner {name}. Call again with confirm: true."
                    );
                    return Ok((json!({ "confirmed": false, "partner": { "name": name } }), text));
                }
                let new = services::partners::PartnerInput { name: Some(input.name), contact: Some(input.contact) };
                let row = services::partners::create(&self.db, &actor, p.account_id, new).await?;
                let text = format!("Added the partner {} (id {}).", row.name, row.id);
                Ok((json!({ "confirmed": true, "partner": { "id": row.id, "name": row.name } }), text))
            }
            "generate_promo_codes" => {
                let input: GenerateInput = parse(arguments)?;
                let zone = shop_zone(&account);
                let partner_id = match input.partner.as_deref() {
                    Some(name) => Some(self.find_partner(p, name).await?.id),
                    None => None,
                };
                let recipients = match (input.count, input.recipients) {
                    (Some(count), None) => services::promo_batches::Recipients::Anyone(count),
                    (None, Some(emails)) => services::promo_batches::Recipients::Emails(emails),
                    _ => return Err(user("count", UserErrorCode::InvalidCount, "give count or recipients, not both")),
                };
                let generate = services::promo_batches::GenerateInput {
                    batch_name: input.batch_name,
                    prefix: input.prefix,
                    recipients,
                    usage_per_code: input.usage_per_code,
                    settings: NewPromoCode {
                        discount_type: Some(match input.discount_type {
                            Discount::Percentage => DiscountType::Percentage,
                            Discount::FixedAmount => DiscountType::FixedAmount,
                        }),
                        percent_off: input.percent_off,
                        amount_off: input.amount_off,
                        starts_at: input.starts_on.map(|d| zone.start_of_day(d)),
                        expires_at: input.expires_on.map(|d| zone.end_of_day(d)),
                        minimum_subtotal: input.minimum_subtotal,
                        partner_id,
                        description: input.description,
                        ..Default::default()
                    },
                };
                let (batch, codes) = services::promo_batches::generate(
                    &self.db,
                    &self.events,
                    &actor,
                    p.account_id,
                    generate,
                    !input.confirm,
                )
                .await?;
                let samples: Vec<Value> = codes
                    .iter()
                    .take(5)
                    .map(|c| json!({ "code": c.code, "recipient_email": c.recipient_email }))
                    .collect();
                let first = codes.first().map(|c| describe(c, &account)).unwrap_or_default();
                let text = if input.confirm {
                    format!(
                        "Created the batch {} (id {}) of {} codes, each {}. Download them with their recipients from /admin/promo_batches/{}/codes.csv.",
                        batch.name,
                        batch.id,
                        batch.code_count,
                        first.split_once(": ").map_or(first.as_str(), |(_, d)| d),
                        batch.id
                    )
                } else {
                    format!(
                        "Preview — nothing was written. This would create {} codes such as {}. Call again with confirm: true.",
                        batch.code_count, first
                    )
                };
                let csv_path = input.confirm.then(|| format!("/admin/promo_batches/{}/codes.csv", batch.id));
                Ok((
                    json!({ "confirmed": input.confirm, "batch": { "id": batch.id, "name": batch.name,
                            "code_count": batch.code_count, "csv_path": csv_path }, "sample_codes": samples }),
                    text,
                ))
            }
            "list_promo_batches" => {
                parse::<NoInput>(arguments)?;
                let currency = *account.currency;
                let mut list = vec![];
                let mut lines = vec![];
                for batch in services::promo_batches::list(&self.db, p.account_id).await? {
                    let v = services::promo_batches::view(&self.db, batch).await?;
                    let money = |m: i64| Money::from_minor(m, currency).to_string();
                    lines.push(format!(
                        "{} (id {}): {} of {} codes redeemed, {} {currency} revenue, {} {currency} discount",
                        v.batch.name,
                        v.batch.id,
                        v.codes_redeemed,
                        v.batch.code_count,
                        money(v.revenue),
                        money(v.discount)
                    ));
                    list.push(json!({ "id": v.batch.id, "name": v.batch.name, "code_count": v.batch.code_count,
                        "codes_redeemed": v.codes_redeemed, "redemptions": v.redemptions, "codes_active": v.codes_active,
                        "revenue": money(v.revenue), "discount_given": money(v.discount),
                        "csv_path": format!("/admin/promo_batches/{}/codes.csv", v.batch.id) }));
                }
                let text = if lines.is_empty() { "No batches yet.".into() } else { lines.join("\n") };
                Ok((json!({ "batches": list }), text))
            }
            "create_share_link" => {
                let input: ShareInput = parse(arguments)?;
                let (scope, what) = match (input.partner.as_deref(), input.code.as_deref()) {
                    (Some(name), None) => {
                        let partner = self.find_partner(p, name).await?;
                        (services::partners::ShareScope::Partner(partner.id), format!("the partner {}", partner.name))
                    }
                    (None, Some(code)) => {
                        let row = self.find_code(p, code).await?;
                        (services::partners::ShareScope::PromoCode(row.id), format!("the code {}", row.code))
                    }
                    _ => return Err(user("partner", UserErrorCode::Invalid, "give partner or code, not both")),
                };
                if !input.confirm {
                    let text = format!(
                        "Preview — nothing was written. This would make a read-only link to the figures of {what}. Call again with confirm: true."
                    );
                    return Ok((json!({ "confirmed": false }), text));
                }
                let (link, token) =
                    services::partners::create_share_link(&self.db, &actor, p.account_id, scope).await?;
                let path = format!("/partners/{token}");
                let text = format!(
                    "Made a read-only link to the figures of {what}: {path} (on this shop's server). Only this once is it shown."
                );
                Ok((json!({ "confirmed": true, "share_link_id": link.id, "path": path }), text))
            }
            _ => Err(user("", UserErrorCode::NotFound, format!("no tool {name}"))),
        }
    }
}

/// `percentOff` → `percent_off`: the tools' argument names.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

impl ServerHandler for TixMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(
                Implementation::new("tixshop", env!("CARGO_PKG_VERSION")).with_title("tixshop promo codes"),
            )
            .with_instructions(
                "Manage one ticket shop's promo codes. Call shop_info first for the shop's time zone and today's date. \
                 Write tools only preview unless called with confirm: true: show the preview to the organizer and \
                 confirm with them before writing. Refused input comes back as a tool error with error codes.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, ErrorData> {
        self.principal(&context).await?;
        let shop = rmcp::model::Resource::new(SHOP_RESOURCE, "shop").with_title("The shop").with_description(
            "The key's shop: name, currency, VAT setting, time zone and today's date there (as shop_info).",
        );
        Ok(rmcp::model::ListResourcesResult { resources: vec![shop], ..Default::default() })
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, ErrorData> {
        let principal = self.principal(&context).await?;
        if request.uri != SHOP_RESOURCE {
            return Err(ErrorData::resource_not_found(format!("no resource {}", request.uri), None));
        }
        match self.run(&principal, "shop_info", None).await {
            Ok((info, _)) => {
                let contents = rmcp::model::ResourceContents::text(info.to_string(), SHOP_RESOURCE)
                    .with_mime_type("application/json");
                Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into())
            }
            Err(_) => Err(ErrorData::internal_error("internal error", None)),
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = self.principal(&context).await?;
        Ok(ListToolsResult { tools: tools(principal.scope.can_write()), ..Default::default() })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = self.principal(&context).await?;
        let name: Cow<'static, str> = request.name;
        match self.run(&principal, &name, request.arguments).await {
            Ok((structured, text)) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(structured);
                Ok(result.into())
            }
            Err(Refusal::User(errors)) => {
                let listed: Vec<Value> = errors
                    .iter()
                    .map(|e| json!({ "field": snake_case(&e.field.join(".")), "code": e.code.as_str(), "message": e.message }))
                    .collect();
                let text =
                    errors.iter().map(|e| format!("{}: {}", e.code.as_str(), e.message)).collect::<Vec<_>>().join("\n");
                let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
                result.structured_content = Some(json!({ "user_errors": listed }));
                Ok(result.into())
            }
            Err(Refusal::Internal(message)) => Err(ErrorData::internal_error(message, None)),
        }
    }
}
