//! Batches of generated codes: many single-use codes at once (`generatePromoCodes`),
//! or one code per newsletter recipient, bound to their email.
//!
//! A batch is written in one transaction: its row, its codes (multi-row inserts), one
//! audit entry. Codes are `PREFIX-` and 10 characters of an alphabet without look-alikes
//! (49 bits each); a clash with an existing code, vanishingly rare, makes the whole batch
//! be drawn again.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};

use super::audit::{self, Actor};
use super::promo_codes::NewPromoCode;
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, carts, now};
use crate::domain::Currency;
use crate::domain::email::Email;
use crate::domain::promo::{self, PromoFields};
use crate::entities::enums::AuditTarget;
use crate::entities::{promo_batch, promo_code};
use crate::events::CartEvents;

/// Most codes in one batch.
pub const MAX_CODES: usize = 10_000;

/// Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK: usize = 500;

/// Attempts at drawing a batch whose codes clash with none of the shop's.
const DRAWS: usize = 3;

/// Who the codes of a batch are for.
#[derive(Debug, Clone)]
pub enum Recipients {
    /// `count` codes for anyone.
    Anyone(i64),
    /// One code per email, usable only by that buyer.
    Emails(Vec<String>),
}

/// A batch as submitted. The discount settings are those of a single code.
#[derive(Debug, Clone)]
pub struct GenerateInput {
    /// The organizer's name for the batch, e.g. "November newsletter".
    pub batch_name: String,
    /// What every code starts with.
    pub prefix: String,
    /// How many codes, or for whom.
    pub recipients: Recipients,
    /// Paid redemptions per code (default 1: single-use).
    pub usage_per_code: Option<i64>,
    /// The discount and the other settings every code gets (its `code` is ignored).
    pub settings: NewPromoCode,
}

/// A batch with its counters.
#[derive(Debug, Clone)]
pub struct BatchView {
    /// The row.
    pub batch: promo_batch::Model,
    /// Codes with at least one redemption.
    pub codes_redeemed: i64,
    /// Redemptions of all its codes.
    pub redemptions: i64,
    /// Σ totals of the paid orders with its codes (refunds not deducted), minor units.
    pub revenue: i64,
    /// Σ discounts given.
    pub discount: i64,
    /// Codes still active (not deactivated or deleted).
    pub codes_active: i64,
}

fn batch_fields(batch: &promo_batch::Model, sample: &promo_code::Model, currency: Currency) -> audit::Fields {
    let mut fields = audit::promo_code_fields(sample, currency);
    fields.remove("code");
    fields.remove("recipientEmail");
    fields.remove("batchId");
    fields.insert("batchName".into(), batch.name.clone().into());
    fields.insert("prefix".into(), batch.prefix.clone().into());
    fields.insert("codeCount".into(), batch.code_count.into());
    fields.insert("recipients".into(), batch.recipients.into());
    fields
}

/// The emails, parsed, one per buyer (aliases of one buyer count once, the first kept).
fn recipients(emails: &[String]) -> ServiceResult<Vec<Email>> {
    let mut errors = vec![];
    let mut seen = HashSet::new();
    let mut kept = vec![];
    for (i, raw) in emails.iter().enumerate() {
        match Email::parse(raw) {
            Ok(email) => {
                if seen.insert(email.customer_key()) {
                    kept.push(email);
                }
            }
            Err(e) => errors.push(UserError::new(
                &format!("recipients.{i}"),
                UserErrorCode::InvalidEmail,
                format!("{}: {e}", raw.trim().chars().take(80).collect::<String>()),
            )),
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::User(errors));
    }
    Ok(kept)
}

/// Reads emails from CSV text: the `email` column when the first row names one, else the
/// first column; blank cells are skipped.
pub fn emails_from_csv(text: &str) -> ServiceResult<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut column = 0;
    let mut emails = vec![];
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            ServiceError::from(UserError::new("recipientsCsv", UserErrorCode::Invalid, format!("not CSV: {e}")))
        })?;
        if n == 0
            && let Some(at) = record.iter().position(|c| c.trim().eq_ignore_ascii_case("email"))
        {
            column = at;
            continue;
        }
        if let Some(cell) = record.get(column).map(str::trim).filter(|c| !c.is_empty()) {
            emails.push(cell.to_owned());
        }
        if emails.len() > MAX_CODES {
            break;
        }
    }
    Ok(emails)
}

fn count_error(message: String) -> ServiceError {
    UserError::new("count", UserErrorCode::InvalidCount, message).into()
}

/// Creates a batch and its codes in one transaction. With `dry_run`, validates and
/// returns the batch as it would be (id 0) with up to 5 sample codes, writing nothing.
pub async fn generate(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    input: GenerateInput,
    dry_run: bool,
) -> ServiceResult<(promo_batch::Model, Vec<promo_code::Model>)> {
    let name = input.batch_name.trim().to_owned();
    let mut errors = vec![];
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(UserError::new("batchName", UserErrorCode::Invalid, "a batch name is 1–100 characters"));
    }
    let prefix = promo::parse_prefix(&input.prefix).map_err(|_| {
        UserError::new("prefix", UserErrorCode::InvalidPrefix, "a prefix is 1–16 letters and digits, e.g. NEWS")
    });
    let bound = match &input.recipients {
        Recipients::Anyone(count) if !(1..=MAX_CODES as i64).contains(count) => {
            return Err(count_error(format!("count is 1–{MAX_CODES}")));
        }
        Recipients::Anyone(_) => None,
        Recipients::Emails(emails) => {
            let emails = recipients(emails)?;
            if emails.is_empty() || emails.len() > MAX_CODES {
                return Err(UserError::new(
                    "recipients",
                    UserErrorCode::InvalidCount,
                    format!("give 1–{MAX_CODES} recipient emails"),
                )
                .into());
            }
            Some(emails)
        }
    };
    let count = match (&input.recipients, &bound) {
        (_, Some(emails)) => emails.len(),
        (Recipients::Anyone(count), None) => *count as usize,
        (Recipients::Emails(_), None) => unreachable!("emails were parsed above"),
    };
    let usage = input.usage_per_code.unwrap_or(1);
    if usage < 1 {
        errors.push(UserError::new("usagePerCode", UserErrorCode::InvalidUsageLimit, "usagePerCode is at least 1"));
    }
    let prefix = match prefix {
        Ok(prefix) => Some(prefix),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let settings = input.settings;
    let Some(discount_type) = settings.discount_type else {
        errors.push(UserError::new("discountType", UserErrorCode::DiscountTypeMismatch, "discountType is required"));
        return Err(ServiceError::User(errors));
    };
    let currency = super::accounts::currency_of(db, account_id).await?;
    let sample_code = prefix.as_ref().map(|p| promo::generated_code(p, &mut rand::rng()));
    let fields = PromoFields {
        code: sample_code.as_ref().map_or_else(|| "XXX".to_owned(), |c| c.as_str().to_owned()),
        discount_type,
        percent_off: settings.percent_off.clone(),
        amount_off: settings.amount_off.clone(),
        expires_at: settings.expires_at,
        starts_at: settings.starts_at,
        minimum_subtotal: settings.minimum_subtotal.clone(),
        usage_limit: Some(usage.max(1)),
        max_per_customer: settings.max_per_customer,
        description: settings.description.clone(),
    };
    let valid = match promo::validate(&fields, currency, now(), true) {
        Ok(valid) if errors.is_empty() => valid,
        Ok(_) => return Err(ServiceError::User(errors)),
        Err(violations) => {
            errors.extend(
                violations
                    .into_iter()
                    .map(|v| UserError::new(v.field, super::promo_codes::rule_code(v.rule), v.message)),
            );
            return Err(ServiceError::User(errors));
        }
    };
    let prefix = prefix.expect("no errors, so the prefix parsed");
    // Reads only: no writer's turn is taken until the batch is written.
    super::promo_codes::check_references(db, account_id, settings.event_id, settings.partner_id).await?;

    for draw in 0..DRAWS {
        let at = now();
        let codes: Vec<String> = {
            let mut rng = rand::rng();
            let mut seen = HashSet::with_capacity(count);
            std::iter::repeat_with(|| promo::generated_code(&prefix, &mut rng).as_str().to_owned())
                .filter(|c| seen.insert(c.clone()))
                .take(count)
                .collect()
        };
        let batch = promo_batch::ActiveModel {
            account_id: Set(account_id),
            name: Set(name.clone()),
            prefix: Set(prefix.as_str().to_owned()),
            recipients: Set(bound.is_some()),
            code_count: Set(count as i32),
            created_at: Set(at),
            ..Default::default()
        };
        let row = |batch_id: i64, i: usize, code: &str| {
            let mut row = super::promo_codes::new_row(account_id, at, &valid, settings.event_id, settings.partner_id);
            row.batch_id = Set(Some(batch_id));
            row.recipient_email = Set(bound.as_ref().map(|e| e[i].normalized()));
            row.recipient_key = Set(bound.as_ref().map(|e| e[i].customer_key()));
            row.code = Set(code.to_owned());
            row
        };
        if dry_run {
            let batch = promo_batch::Model {
                id: 0,
                account_id,
                name: name.clone(),
                prefix: prefix.as_str().to_owned(),
                recipients: bound.is_some(),
                code_count: count as i32,
                created_at: at,
            };
            let samples = codes
                .iter()
                .take(5)
                .enumerate()
                .map(|(i, code)| {
                    let mut row = row(0, i, code);
                    row.id = Set(0);
                    sea_orm::TryIntoModel::try_into_model(row).map_err(ServiceError::Db)
                })
                .collect::<ServiceResult<Vec<_>>>()?;
            return Ok((batch, samples));
        }
        let txn = super::begin_write(db).await?;
        let batch = batch.insert(&txn).await?;
        let mut clash = false;
        for (chunk_at, chunk) in codes.chunks(INSERT_CHUNK).enumerate() {
            let rows = chunk.iter().enumerate().map(|(j, code)| row(batch.id, chunk_at * INSERT_CHUNK + j, code));
            if let Err(e) = promo_code::Entity::insert_many(rows).exec_without_returning(&txn).await {
                if crate::db::is_unique_violation(&e) {
                    clash = true;
                    break;
                }
                return Err(e.into());
            }
        }
        if clash {
            txn.rollback().await?;
            tracing::warn!(draw, "a generated code clashed with an existing one; drawing the batch again");
            continue;
        }
        let saved = promo_code::Entity::find()
            .filter(promo_code::Column::BatchId.eq(batch.id))
            .order_by_asc(promo_code::Column::Id)
            .all(&txn)
            .await?;
        let after = batch_fields(&batch, &saved[0], currency);
        let target = (AuditTarget::PromoBatch, batch.id);
        audit::record(&txn, account_id, actor, "generatePromoCodes", target, None, Some(&after)).await?;
        txn.commit().await?;
        events.publish_shop(account_id);
        return Ok((batch, saved));
    }
    Err(super::internal(format!("{DRAWS} draws of {count} codes all clashed with existing codes")))
}

/// One of the account's batches.
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<promo_batch::Model>> {
    Ok(promo_batch::Entity::find_by_id(id).filter(promo_batch::Column::AccountId.eq(account_id)).one(db).await?)
}

/// The account's batches, newest first.
pub async fn list(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<promo_batch::Model>> {
    Ok(promo_batch::Entity::find()
        .filter(promo_batch::Column::AccountId.eq(account_id))
        .order_by_desc(promo_batch::Column::Id)
        .all(db)
        .await?)
}

/// A batch's counters, summed in SQL over its codes and their paid orders.
pub async fn view(db: &impl ConnectionTrait, batch: promo_batch::Model) -> ServiceResult<BatchView> {
    let backend = db.get_database_backend();
    let p = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let codes_sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN redemptions_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS redeemed, \
         CAST(COALESCE(SUM(redemptions_count), 0) AS BIGINT) AS redemptions, \
         CAST(COALESCE(SUM(CASE WHEN active AND deleted_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS live \
         FROM promo_codes WHERE batch_id = {p}"
    );
    let orders_sql = format!(
        "SELECT CAST(COALESCE(SUM(o.total), 0) AS BIGINT) AS revenue, \
         CAST(COALESCE(SUM(o.discount_amount), 0) AS BIGINT) AS discount \
         FROM orders o JOIN promo_codes c ON c.id = o.promo_code_id \
         WHERE c.batch_id = {p} AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')"
    );
    let one = |sql: String| Statement::from_sql_and_values(backend, sql, [batch.id.into()]);
    let codes = db.query_one_raw(one(codes_sql)).await?.ok_or_else(|| super::internal("no aggregate row"))?;
    let orders = db.query_one_raw(one(orders_sql)).await?.ok_or_else(|| super::internal("no aggregate row"))?;
    Ok(BatchView {
        codes_redeemed: codes.try_get("", "redeemed")?,
        redemptions: codes.try_get("", "redemptions")?,
        codes_active: codes.try_get("", "live")?,
        revenue: orders.try_get("", "revenue")?,
        discount: orders.try_get("", "discount")?,
        batch,
    })
}

/// Deactivates every live code of a batch (carts holding one lose its discount, pushed).
/// Returns the batch and how many codes were switched off.
pub async fn deactivate(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
) -> ServiceResult<(promo_batch::Model, u64)> {
    let txn = super::begin_write(db).await?;
    let batch = find(&txn, account_id, id).await?.ok_or_else(|| {
        UserError::new("id", UserErrorCode::NotFound, format!("no batch with id {id} in this account"))
    })?;
    let switched = promo_code::Entity::update_many()
        .col_expr(promo_code::Column::Active, Expr::value(false))
        .col_expr(promo_code::Column::UpdatedAt, Expr::value(now()))
        .filter(promo_code::Column::BatchId.eq(id))
        .filter(promo_code::Column::Active.eq(true))
        .filter(promo_code::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    let before = audit::fields(serde_json::json!({ "activeCodes": switched }));
    let after = audit::fields(serde_json::json!({ "activeCodes": 0 }));
    let target = (AuditTarget::PromoBatch, id);
    audit::record(&txn, account_id, actor, "deactivatePromoBatch", target, Some(&before), Some(&after)).await?;
    let carts = carts::open_carts_with_batch(&txn, id).await?;
    txn.commit().await?;
    events.publish_all(carts);
    events.publish_shop(account_id);
    Ok((batch, switched))
}

/// The CSV header of a batch's codes.
const CSV_HEADER: [&str; 8] =
    ["code", "recipient_email", "status", "redemptions", "usage_limit", "starts_at", "expires_at", "created_at"];

/// A batch's codes as CSV (RFC 4180, CRLF), in chunks, for the mailing tool: each code
/// with its recipient and its state now.
pub async fn csv_chunks<C: ConnectionTrait>(
    db: &C,
    batch: &promo_batch::Model,
) -> ServiceResult<impl Iterator<Item = ServiceResult<Vec<u8>>> + Send + use<C>> {
    let codes = promo_code::Entity::find()
        .filter(promo_code::Column::BatchId.eq(batch.id))
        .order_by_asc(promo_code::Column::Id)
        .all(db)
        .await?;
    let at = now();
    let stamp = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut header = Some(CSV_HEADER);
    let mut rows = codes.into_iter().peekable();
    Ok(std::iter::from_fn(move || {
        if header.is_none() && rows.peek().is_none() {
            return None;
        }
        let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let written = (|| {
            if let Some(header) = header.take() {
                csv.write_record(header)?;
            }
            for code in rows.by_ref().take(512) {
                csv.write_record([
                    code.code.clone(),
                    code.recipient_email.clone().unwrap_or_default(),
                    super::promo_codes::status(&code, at).as_str().to_owned(),
                    code.redemptions_count.to_string(),
                    code.usage_limit.map(|l| l.to_string()).unwrap_or_default(),
                    stamp(code.starts_at),
                    stamp(code.expires_at),
                    code.created_at.to_rfc3339(),
                ])?;
            }
            Ok::<_, csv::Error>(())
        })();
        Some(written.map_err(super::internal).and_then(|()| csv.into_inner().map_err(super::internal)))
    }))
}
