//! The promo code report: per code (and per code × utm_source) link visits, orders,
//! tickets, revenue, discount, refunds, redemptions ever vs active, overshoot.
//!
//! Grouping and sums happen in SQL over the `(account_id, promo_code, created_at)`
//! index; the only Rust work is joining the visits to the order rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::ServiceResult;

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
    /// The code as redeemed.
    pub code: String,
    /// The utm_source (only when grouped by it).
    pub utm_source: Option<String>,
    /// Sessions that arrived through a `?promo=` link of the code.
    pub link_visits: i64,
    /// Paid orders with the code (refunded ones included).
    pub orders: i64,
    /// Tickets in those orders.
    pub tickets: i64,
    /// Σ order totals.
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
    /// orders / link visits, 4 decimals; `None` without visits.
    pub fn conversion(&self) -> Option<Decimal> {
        (self.link_visits > 0).then(|| (Decimal::from(self.orders) / Decimal::from(self.link_visits)).round_dp(4))
    }
}

/// The report for orders created in `[from, to)`.
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
        GroupBy::CodeAndUtmSource => ("utm_source", ", utm_source", "v.utm_source", ", v.utm_source"),
    };
    let orders_sql = format!(
        "SELECT promo_code AS code, {utm_col} AS utm_source, COUNT(*) AS orders, \
         CAST(COALESCE(SUM(ticket_count), 0) AS BIGINT) AS tickets, \
         CAST(COALESCE(SUM(total), 0) AS BIGINT) AS revenue, \
         CAST(COALESCE(SUM(discount_amount), 0) AS BIGINT) AS discount, \
         CAST(COALESCE(SUM(refunded_amount), 0) AS BIGINT) AS refunds, \
         CAST(SUM(CASE WHEN status = 'REFUNDED' THEN 0 ELSE 1 END) AS BIGINT) AS active, \
         CAST(SUM(CASE WHEN over_cap THEN 1 ELSE 0 END) AS BIGINT) AS over_cap \
         FROM orders WHERE account_id = {} AND promo_code IS NOT NULL \
         AND status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') AND created_at >= {} AND created_at < {} \
         GROUP BY promo_code{utm_group}",
        p(1),
        p(2),
        p(3)
    );
    let visits_sql = format!(
        "SELECT c.code AS code, {visit_utm} AS utm_source, COUNT(*) AS visits \
         FROM promo_link_visits v JOIN promo_codes c ON c.id = v.promo_code_id \
         WHERE v.account_id = {} AND v.created_at >= {} AND v.created_at < {} GROUP BY c.code{visit_group}",
        p(1),
        p(2),
        p(3)
    );
    let values: Vec<Value> = vec![account_id.into(), from.into(), to.into()];
    let mut rows: BTreeMap<(String, Option<String>), ReportRow> = BTreeMap::new();
    for row in db.query_all_raw(Statement::from_sql_and_values(backend, &orders_sql, values.clone())).await? {
        let code: String = row.try_get("", "code")?;
        let utm: Option<String> = row.try_get("", "utm_source")?;
        let orders: i64 = row.try_get("", "orders")?;
        rows.insert(
            (code.clone(), utm.clone()),
            ReportRow {
                code,
                utm_source: utm,
                link_visits: 0,
                orders,
                tickets: row.try_get("", "tickets")?,
                revenue: row.try_get("", "revenue")?,
                discount: row.try_get("", "discount")?,
                refunds: row.try_get("", "refunds")?,
                redemptions_ever: orders,
                redemptions_active: row.try_get("", "active")?,
                over_cap: row.try_get("", "over_cap")?,
            },
        );
    }
    for row in db.query_all_raw(Statement::from_sql_and_values(backend, &visits_sql, values)).await? {
        let code: String = row.try_get("", "code")?;
        let utm: Option<String> = row.try_get("", "utm_source")?;
        let entry = rows.entry((code.clone(), utm.clone())).or_insert_with(|| ReportRow {
            code,
            utm_source: utm,
            ..ReportRow::default()
        });
        entry.link_visits = row.try_get("", "visits")?;
    }
    Ok(rows.into_values().collect())
}

/// The report as CSV (RFC 4180), amounts as decimal strings.
pub fn to_csv(rows: &[ReportRow], currency: crate::domain::Currency, group_by: GroupBy) -> String {
    let money = |minor: i64| crate::domain::Money::from_minor(minor, currency).to_string();
    let field = |s: &str| {
        // Quote when needed; neutralize spreadsheet formulas.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
    };
    let mut out = String::from("code,");
    if group_by == GroupBy::CodeAndUtmSource {
        out.push_str("utm_source,");
    }
    out.push_str(
        "currency,link_visits,orders,conversion,tickets,revenue,discount,refunds,redemptions_ever,redemptions_active,over_cap\r\n",
    );
    for r in rows {
        out.push_str(&field(&r.code));
        out.push(',');
        if group_by == GroupBy::CodeAndUtmSource {
            out.push_str(&field(r.utm_source.as_deref().unwrap_or("")));
            out.push(',');
        }
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\r\n",
            currency.code(),
            r.link_visits,
            r.orders,
            r.conversion().map(|c| format!("{c:.4}")).unwrap_or_default(),
            r.tickets,
            money(r.revenue),
            money(r.discount),
            money(r.refunds),
            r.redemptions_ever,
            r.redemptions_active,
            r.over_cap
        ));
    }
    out
}
