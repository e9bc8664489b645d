//! The promo code report: per code (and per code × utm_source) link visits, orders and
//! the orders that came through a link, tickets, revenue gross and net of refunds,
//! discount, refunds, redemptions ever vs active, overshoot.
//!
//! A row is one code by identity (`orders.promo_code_id`), so renaming a code keeps one
//! history: the row is labelled with the code's current string and lists the strings its
//! orders were redeemed under. Orders whose code row is gone (the reference is set null)
//! are grouped by the string they were redeemed under.
//!
//! Grouping and sums happen in SQL over the `(account_id, promo_code, created_at)`
//! index; whether an order came through a link is a join on primary keys and the unique
//! `(promo_code_id, session_id)` index of the visits. Rust only folds the few groups of
//! a renamed code into one row and attaches the visit counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{ServiceResult, accounts};
use crate::domain::{Currency, Money};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per code.
    Code,
    /// One row per code and utm_source.
    CodeAndUtmSource,
}

/// One report row; amounts in minor units of the account currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportRow {
    /// The code's id; `None` for orders whose code row no longer exists.
    pub promo_code_id: Option<i64>,
    /// The code's current string (for a code that no longer exists: as redeemed).
    pub code: String,
    /// The strings the row's orders were redeemed under, first used first.
    pub redeemed_as: Vec<String>,
    /// The utm_source (only when grouped by it).
    pub utm_source: Option<String>,
    /// Sessions that arrived through a `?promo=` link of the code.
    pub link_visits: i64,
    /// Paid orders with the code (refunded ones included).
    pub orders: i64,
    /// Of `orders`, those whose cart's session had a link visit of the code.
    pub link_orders: i64,
    /// Tickets in those orders.
    pub tickets: i64,
    /// Σ order totals (gross, before refunds).
    pub revenue: i64,
    /// Σ discounts given.
    pub discount: i64,
    /// Σ refunded.
    pub refunds: i64,
    /// Redemptions ever (= orders).
    pub redemptions_ever: i64,
    /// Redemptions not fully refunded.
    pub redemptions_active: i64,
    /// Orders that pushed the code past its usage limit.
    pub over_cap: i64,
}

impl ReportRow {
    /// link orders / link visits, 4 decimals; `None` without visits. Typed-in codes are
    /// not conversions.
    pub fn conversion(&self) -> Option<Decimal> {
        (self.link_visits > 0).then(|| (Decimal::from(self.link_orders) / Decimal::from(self.link_visits)).round_dp(4))
    }

    /// Gross revenue minus refunds.
    pub fn revenue_net_of_refunds(&self) -> i64 {
        self.revenue - self.refunds
    }
}

/// What a row is keyed by: the code's id, or the redeemed string when the code row is gone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum CodeKey {
    Id(i64),
    Gone(String),
}

/// A row's key: the code and the utm_source.
type RowKey = (CodeKey, Option<String>);

/// The report of one account, with the currency its amounts are in.
#[derive(Debug, Clone)]
pub struct Report {
    /// The account's currency.
    pub currency: Currency,
    /// The rows, by code (and utm_source).
    pub rows: Vec<ReportRow>,
}

/// The report of `account_id` (see [`promo_report`]); `None` when the account is gone.
pub async fn for_account(
    db: &impl ConnectionTrait,
    account_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
) -> ServiceResult<Option<Report>> {
    let Some(currency) = accounts::currency(db, account_id).await? else { return Ok(None) };
    let rows = promo_report(db, account_id, from, to, group_by).await?;
    Ok(Some(Report { currency, rows }))
}

/// The report for orders (and link visits) created in `[from, to)`. An order counts as
/// a link order whatever the time of its visit.
pub async fn promo_report(
    db: &impl ConnectionTrait,
    account_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
) -> ServiceResult<Vec<ReportRow>> {
    let backend = db.get_database_backend();
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() };
    let (utm_col, utm_group, visit_utm, visit_group) = match group_by {
        GroupBy::Code => ("CAST(NULL AS TEXT)", "", "CAST(NULL AS TEXT)", ""),
        GroupBy::CodeAndUtmSource => ("o.utm_source", ", o.utm_source", "v.utm_source", ", v.utm_source"),
    };
    // One group per code id, string redeemed under (and utm_source). The visit joined
    // is the one of the order's code in its cart's session: at most one, by the unique
    // (promo_code_id, session_id) index, so no order is counted twice.
    let orders_sql = format!(
        "SELECT o.promo_code_id AS code_id, o.promo_code AS redeemed_as, COALESCE(c.code, o.promo_code) AS code, \
         {utm_col} AS utm_source, MIN(o.id) AS first_id, COUNT(*) AS orders, COUNT(v.id) AS link_orders, \
         CAST(COALESCE(SUM(o.ticket_count), 0) AS BIGINT) AS tickets, \
         CAST(COALESCE(SUM(o.total), 0) AS BIGINT) AS revenue, \
         CAST(COALESCE(SUM(o.discount_amount), 0) AS BIGINT) AS discount, \
         CAST(COALESCE(SUM(o.refunded_amount), 0) AS BIGINT) AS refunds, \
         CAST(SUM(CASE WHEN o.status = 'REFUNDED' THEN 0 ELSE 1 END) AS BIGINT) AS active, \
         CAST(SUM(CASE WHEN o.over_cap THEN 1 ELSE 0 END) AS BIGINT) AS over_cap \
         FROM orders o \
         LEFT JOIN promo_codes c ON c.id = o.promo_code_id \
         LEFT JOIN carts ct ON ct.id = o.cart_id \
         LEFT JOIN promo_link_visits v ON v.promo_code_id = o.promo_code_id AND v.session_id = ct.session_id \
         WHERE o.account_id = {} AND o.promo_code IS NOT NULL \
         AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') AND o.created_at >= {} AND o.created_at < {} \
         GROUP BY o.promo_code_id, o.promo_code, c.code{utm_group}",
        p(1),
        p(2),
        p(3)
    );
    let visits_sql = format!(
        "SELECT v.promo_code_id AS code_id, c.code AS code, {visit_utm} AS utm_source, COUNT(*) AS visits \
         FROM promo_link_visits v JOIN promo_codes c ON c.id = v.promo_code_id \
         WHERE v.account_id = {} AND v.created_at >= {} AND v.created_at < {} \
         GROUP BY v.promo_code_id, c.code{visit_group}",
        p(1),
        p(2),
        p(3)
    );
    let values: Vec<Value> = vec![account_id.into(), from.into(), to.into()];
    let mut rows: BTreeMap<RowKey, ReportRow> = BTreeMap::new();
    // (first order id, string) per row, to list the strings in order of first use.
    let mut names: BTreeMap<RowKey, Vec<(i64, String)>> = BTreeMap::new();
    for row in db.query_all_raw(Statement::from_sql_and_values(backend, &orders_sql, values.clone())).await? {
        let code_id: Option<i64> = row.try_get("", "code_id")?;
        let redeemed_as: String = row.try_get("", "redeemed_as")?;
        let code: String = row.try_get("", "code")?;
        let utm: Option<String> = row.try_get("", "utm_source")?;
        let key = (code_id.map_or_else(|| CodeKey::Gone(redeemed_as.clone()), CodeKey::Id), utm.clone());
        let orders: i64 = row.try_get("", "orders")?;
        names.entry(key.clone()).or_default().push((row.try_get("", "first_id")?, redeemed_as));
        let entry = rows.entry(key).or_insert_with(|| ReportRow {
            promo_code_id: code_id,
            code,
            utm_source: utm,
            ..ReportRow::default()
        });
        entry.orders += orders;
        entry.link_orders += row.try_get::<i64>("", "link_orders")?;
        entry.tickets += row.try_get::<i64>("", "tickets")?;
        entry.revenue += row.try_get::<i64>("", "revenue")?;
        entry.discount += row.try_get::<i64>("", "discount")?;
        entry.refunds += row.try_get::<i64>("", "refunds")?;
        entry.redemptions_ever += orders;
        entry.redemptions_active += row.try_get::<i64>("", "active")?;
        entry.over_cap += row.try_get::<i64>("", "over_cap")?;
    }
    for (key, mut seen) in names {
        seen.sort();
        rows.get_mut(&key).expect("a row per named group").redeemed_as = seen.into_iter().map(|(_, s)| s).collect();
    }
    for row in db.query_all_raw(Statement::from_sql_and_values(backend, &visits_sql, values)).await? {
        let code_id: i64 = row.try_get("", "code_id")?;
        let code: String = row.try_get("", "code")?;
        let utm: Option<String> = row.try_get("", "utm_source")?;
        let entry = rows.entry((CodeKey::Id(code_id), utm.clone())).or_insert_with(|| ReportRow {
            promo_code_id: Some(code_id),
            code,
            utm_source: utm,
            ..ReportRow::default()
        });
        entry.link_visits = row.try_get("", "visits")?;
    }
    let mut rows: Vec<ReportRow> = rows.into_values().collect();
    rows.sort_by(|a, b| (&a.code, a.promo_code_id, &a.utm_source).cmp(&(&b.code, b.promo_code_id, &b.utm_source)));
    Ok(rows)
}

/// What a spreadsheet reads as the start of a formula (or, for tab and carriage return,
/// strips before looking for one): a text cell starting with one is prefixed with `'`.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell that no spreadsheet runs as a formula.
fn text_cell(value: &str) -> String {
    if value.starts_with(FORMULA_STARTS) { format!("'{value}") } else { value.to_owned() }
}

/// The report as CSV (RFC 4180, CRLF record ends), amounts as decimal strings. Columns
/// added later come last, so existing columns keep their positions; `redeemed_as` is
/// space-separated.
pub fn to_csv(report: &Report, group_by: GroupBy) -> ServiceResult<String> {
    let by_source = group_by == GroupBy::CodeAndUtmSource;
    let currency = report.currency;
    let money = |minor: i64| Money::from_minor(minor, currency).to_string();
    let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(vec![]);
    let mut header = vec!["code"];
    if by_source {
        header.push("utm_source");
    }
    header.extend([
        "currency",
        "link_visits",
        "orders",
        "conversion",
        "tickets",
        "revenue",
        "discount",
        "refunds",
        "redemptions_ever",
        "redemptions_active",
        "over_cap",
        "link_orders",
        "revenue_net_of_refunds",
        "redeemed_as",
        "promo_code_id",
    ]);
    csv.write_record(&header).map_err(super::internal)?;
    for r in &report.rows {
        let mut record = vec![text_cell(&r.code)];
        if by_source {
            record.push(text_cell(r.utm_source.as_deref().unwrap_or("")));
        }
        record.extend([
            currency.code().to_owned(),
            r.link_visits.to_string(),
            r.orders.to_string(),
            r.conversion().map(|c| format!("{c:.4}")).unwrap_or_default(),
            r.tickets.to_string(),
            money(r.revenue),
            money(r.discount),
            money(r.refunds),
            r.redemptions_ever.to_string(),
            r.redemptions_active.to_string(),
            r.over_cap.to_string(),
            r.link_orders.to_string(),
            money(r.revenue_net_of_refunds()),
            text_cell(&r.redeemed_as.join(" ")),
            r.promo_code_id.map(|id| id.to_string()).unwrap_or_default(),
        ]);
        csv.write_record(&record).map_err(super::internal)?;
    }
    let bytes = csv.into_inner().map_err(super::internal)?;
    String::from_utf8(bytes).map_err(super::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(codes: &[&str]) -> Report {
        let rows = codes
            .iter()
            .map(|code| ReportRow {
                promo_code_id: Some(7),
                code: (*code).to_owned(),
                redeemed_as: vec![(*code).to_owned()],
                orders: 1,
                revenue: 1250,
                ..ReportRow::default()
            })
            .collect();
        Report { currency: Currency::parse("EUR").unwrap(), rows }
    }

    #[test]
    fn rows_end_in_crlf_and_quote_what_needs_it() {
        let csv = to_csv(&report(&["NEWS10", "A,B \"C\""]), GroupBy::Code).unwrap();
        let records: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(records.len(), 3, "{csv:?}");
        assert!(records[0].starts_with("code,currency,link_visits,"));
        assert_eq!(records[1], "NEWS10,EUR,0,1,,0,12.50,0.00,0.00,0,0,0,0,12.50,NEWS10,7");
        assert!(records[2].starts_with("\"A,B \"\"C\"\"\",EUR,"), "{csv:?}");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_defused() {
        let starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"];
        let csv = to_csv(&report(&starts), GroupBy::Code).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let codes: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        let expected: Vec<String> = starts.iter().map(|s| format!("'{s}")).collect();
        assert_eq!(codes, expected);
        let redeemed: Vec<String> =
            csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()[14].to_owned()).collect();
        assert_eq!(redeemed, expected, "redeemed_as too");
    }
}
