//! The promo code report: per code (and per code × utm_source) link visits, orders and
//! the orders that came through a link, tickets, revenue gross and net of refunds,
//! discount, refunds, redemptions ever vs active, overshoot.
//!
//! A row is one code by identity (`orders.promo_code_id`), so renaming a code keeps one
//! history: the row is labelled with the code's current string and lists the strings its
//! orders were redeemed under. Orders whose code row is gone (the reference is set null)
//! are grouped by the string they were redeemed under.
//!
//! Grouping and sums happen in SQL: whole UTC months from the `promo_report_months`
//! roll-up, the days around them from the orders' `(account_id, created_at)` index. Rust
//! only adds the parts, folds the few groups of a renamed code into one row and attaches
//! the visit counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};
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
    /// One row per partner (codes without one together, `partner_id` null).
    Partner,
    /// One row per partner and utm_source.
    PartnerAndUtmSource,
}

impl GroupBy {
    /// Whether rows are split by utm_source.
    pub fn by_source(self) -> bool {
        matches!(self, GroupBy::CodeAndUtmSource | GroupBy::PartnerAndUtmSource)
    }

    /// Whether rows are partners rather than codes.
    pub fn by_partner(self) -> bool {
        matches!(self, GroupBy::Partner | GroupBy::PartnerAndUtmSource)
    }
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
    /// The code's partner (for a partner row: the partner), if it has one.
    pub partner_id: Option<i64>,
    /// That partner's name.
    pub partner: Option<String>,
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

/// The whole UTC months inside `[from, to)`, as `(first, end)` month starts; `None` when
/// the range holds no whole month.
fn whole_months(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let month_start = |at: DateTime<Utc>| {
        Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().expect("the first of a month exists")
    };
    let next_month = |at: DateTime<Utc>| {
        let (year, month) = if at.month() == 12 { (at.year() + 1, 1) } else { (at.year(), at.month() + 1) };
        Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().expect("the first of a month exists")
    };
    let first = if month_start(from) == from { from } else { next_month(from) };
    let end = month_start(to);
    (first < end).then_some((first, end))
}

/// A month start as the roll-up's `YYYYMM`.
fn month_key(at: DateTime<Utc>) -> i32 {
    at.year() * 100 + at.month() as i32
}

/// The report for orders (and link visits) created in `[from, to)`. An order counts as
/// a link order whatever the time of its visit (`orders.via_link`).
///
/// Whole UTC months are read from the `promo_report_months` roll-up (kept by triggers in
/// the writing transactions), the days before the first and after the last whole month
/// from the orders themselves: a year of a million orders is a few thousand roll-up rows.
#[tracing::instrument(name = "promo_report", level = "debug", skip(db))]
pub async fn promo_report(
    db: &impl ConnectionTrait,
    account_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
) -> ServiceResult<Vec<ReportRow>> {
    let backend = db.get_database_backend();
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() };
    let by_source = group_by.by_source();
    // Each part yields groups of (code id, string redeemed under[, utm_source]) with the
    // code's current string joined on after grouping.
    let labelled = |grouped: String| {
        format!("SELECT g.*, c.code AS code FROM ({grouped}) g LEFT JOIN promo_codes c ON c.id = g.code_id")
    };
    let (utm, utm_group) = if by_source { ("o.utm_source", ", o.utm_source") } else { ("CAST(NULL AS TEXT)", "") };
    let orders_sql = labelled(format!(
        "SELECT o.promo_code_id AS code_id, o.promo_code AS redeemed_as, {utm} AS utm_source, \
         MIN(o.created_at) AS first_at, COUNT(*) AS orders, \
         CAST(SUM(CASE WHEN o.via_link THEN 1 ELSE 0 END) AS BIGINT) AS link_orders, \
         CAST(SUM(o.ticket_count) AS BIGINT) AS tickets, CAST(SUM(o.total) AS BIGINT) AS revenue, \
         CAST(SUM(o.discount_amount) AS BIGINT) AS discount, CAST(SUM(o.refunded_amount) AS BIGINT) AS refunds, \
         CAST(SUM(CASE WHEN o.status = 'REFUNDED' THEN 0 ELSE 1 END) AS BIGINT) AS active, \
         CAST(SUM(CASE WHEN o.over_cap THEN 1 ELSE 0 END) AS BIGINT) AS over_cap \
         FROM orders o \
         WHERE o.account_id = {} AND o.created_at >= {} AND o.created_at < {} AND o.promo_code IS NOT NULL \
         AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') \
         GROUP BY o.promo_code_id, o.promo_code{utm_group}",
        p(1),
        p(2),
        p(3)
    ));
    let (utm, utm_group) =
        if by_source { ("NULLIF(r.utm_key, '')", ", r.utm_key") } else { ("CAST(NULL AS TEXT)", "") };
    let months_sql = labelled(format!(
        "SELECT NULLIF(r.code_key, 0) AS code_id, r.promo_code AS redeemed_as, {utm} AS utm_source, \
         MIN(r.first_at) AS first_at, CAST(SUM(r.orders) AS BIGINT) AS orders, \
         CAST(SUM(r.link_orders) AS BIGINT) AS link_orders, CAST(SUM(r.tickets) AS BIGINT) AS tickets, \
         CAST(SUM(r.revenue) AS BIGINT) AS revenue, CAST(SUM(r.discount) AS BIGINT) AS discount, \
         CAST(SUM(r.refunds) AS BIGINT) AS refunds, CAST(SUM(r.active) AS BIGINT) AS active, \
         CAST(SUM(r.over_cap) AS BIGINT) AS over_cap \
         FROM promo_report_months r \
         WHERE r.account_id = {} AND r.month >= {} AND r.month < {} AND r.orders > 0 \
         GROUP BY r.code_key, r.promo_code{utm_group}",
        p(1),
        p(2),
        p(3)
    ));
    let (visit_utm, visit_group) =
        if by_source { ("v.utm_source", ", v.utm_source") } else { ("CAST(NULL AS TEXT)", "") };
    let visits_sql = format!(
        "SELECT v.promo_code_id AS code_id, c.code AS code, {visit_utm} AS utm_source, COUNT(*) AS visits \
         FROM promo_link_visits v JOIN promo_codes c ON c.id = v.promo_code_id \
         WHERE v.account_id = {} AND v.created_at >= {} AND v.created_at < {} \
         GROUP BY v.promo_code_id, c.code{visit_group}",
        p(1),
        p(2),
        p(3)
    );
    let mut parts: Vec<Statement> = vec![];
    let mut orders_between = |lo: DateTime<Utc>, hi: DateTime<Utc>| {
        if lo < hi {
            let values: Vec<Value> = vec![account_id.into(), lo.into(), hi.into()];
            parts.push(Statement::from_sql_and_values(backend, &orders_sql, values));
        }
    };
    match whole_months(from, to) {
        Some((first, end)) => {
            orders_between(from, first);
            orders_between(end, to);
            let values: Vec<Value> = vec![account_id.into(), month_key(first).into(), month_key(end).into()];
            parts.push(Statement::from_sql_and_values(backend, &months_sql, values));
        }
        None => orders_between(from, to),
    }

    let mut rows: BTreeMap<RowKey, ReportRow> = BTreeMap::new();
    // (first use, string) per row, to list the strings in order of first use.
    let mut names: BTreeMap<RowKey, BTreeMap<String, DateTime<Utc>>> = BTreeMap::new();
    for part in parts {
        for row in db.query_all_raw(part).await? {
            let code_id: Option<i64> = row.try_get("", "code_id")?;
            let current: Option<String> = row.try_get("", "code")?;
            let redeemed_as: String = row.try_get("", "redeemed_as")?;
            let utm: Option<String> = row.try_get("", "utm_source")?;
            let first_at: DateTime<Utc> = row.try_get("", "first_at")?;
            // A code whose row is gone is known by the string its orders were redeemed under.
            let (code_id, code) = match (code_id, current) {
                (Some(id), Some(code)) => (Some(id), code),
                _ => (None, redeemed_as.clone()),
            };
            let key = (code_id.map_or_else(|| CodeKey::Gone(redeemed_as.clone()), CodeKey::Id), utm.clone());
            let seen = names.entry(key.clone()).or_default().entry(redeemed_as).or_insert(first_at);
            *seen = (*seen).min(first_at);
            let entry = rows.entry(key).or_insert_with(|| ReportRow {
                promo_code_id: code_id,
                code,
                utm_source: utm,
                ..ReportRow::default()
            });
            let orders: i64 = row.try_get("", "orders")?;
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
    }
    for (key, seen) in names {
        let mut seen: Vec<(DateTime<Utc>, String)> = seen.into_iter().map(|(name, at)| (at, name)).collect();
        seen.sort();
        rows.get_mut(&key).expect("a row per named group").redeemed_as = seen.into_iter().map(|(_, s)| s).collect();
    }
    let values: Vec<Value> = vec![account_id.into(), from.into(), to.into()];
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
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.promo_code_id).collect();
    let partners = super::partners::of_codes(db, &ids).await?;
    for row in &mut rows {
        if let Some(partner) = row.promo_code_id.and_then(|id| partners.get(&id)) {
            row.partner_id = Some(partner.id);
            row.partner = Some(partner.name.clone());
        }
    }
    if group_by.by_partner() {
        rows = by_partner(rows);
    }
    // Partner rows: named ones by name, then the codes without a partner.
    rows.sort_by(|a, b| {
        (a.partner_id.is_none() && group_by.by_partner(), &a.code, a.promo_code_id, &a.utm_source).cmp(&(
            b.partner_id.is_none() && group_by.by_partner(),
            &b.code,
            b.promo_code_id,
            &b.utm_source,
        ))
    });
    Ok(rows)
}

/// Folds code rows into one row per partner (and utm_source): sums added, the codes'
/// strings listed in `redeemed_as`, `code` the partner's name ("(no partner)" for codes
/// without one).
fn by_partner(rows: Vec<ReportRow>) -> Vec<ReportRow> {
    let mut folded: BTreeMap<(Option<i64>, Option<String>), ReportRow> = BTreeMap::new();
    for r in rows {
        let entry = folded.entry((r.partner_id, r.utm_source.clone())).or_insert_with(|| ReportRow {
            code: r.partner.clone().unwrap_or_else(|| "(no partner)".to_owned()),
            utm_source: r.utm_source.clone(),
            partner_id: r.partner_id,
            partner: r.partner.clone(),
            ..ReportRow::default()
        });
        if !entry.redeemed_as.contains(&r.code) {
            entry.redeemed_as.push(r.code.clone());
        }
        entry.link_visits += r.link_visits;
        entry.orders += r.orders;
        entry.link_orders += r.link_orders;
        entry.tickets += r.tickets;
        entry.revenue += r.revenue;
        entry.discount += r.discount;
        entry.refunds += r.refunds;
        entry.redemptions_ever += r.redemptions_ever;
        entry.redemptions_active += r.redemptions_active;
        entry.over_cap += r.over_cap;
    }
    folded.into_values().collect()
}

/// What a spreadsheet reads as the start of a formula (or, for tab and carriage return,
/// strips before looking for one): a text cell starting with one is prefixed with `'`.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell that no spreadsheet runs as a formula.
fn text_cell(value: &str) -> String {
    if value.starts_with(FORMULA_STARTS) { format!("'{value}") } else { value.to_owned() }
}

/// The CSV header (see [`csv_chunks`]).
fn csv_header(by_source: bool) -> Vec<&'static str> {
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
        "partner",
    ]);
    header
}

/// One row's CSV record.
fn csv_record(r: &ReportRow, currency: Currency, by_source: bool) -> Vec<String> {
    let money = |minor: i64| Money::from_minor(minor, currency).to_string();
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
        text_cell(r.partner.as_deref().unwrap_or("")),
    ]);
    record
}

/// Rows per CSV chunk.
const CSV_CHUNK_ROWS: usize = 256;

/// The report as CSV (RFC 4180, CRLF record ends), amounts as decimal strings, in chunks
/// of a few hundred rows: a download is sent as it is written, never held whole. Columns
/// added later come last, so existing columns keep their positions; `redeemed_as` is
/// space-separated.
pub fn csv_chunks(report: Report, group_by: GroupBy) -> impl Iterator<Item = ServiceResult<Vec<u8>>> + Send {
    let by_source = group_by.by_source();
    let currency = report.currency;
    let mut header = Some(csv_header(by_source));
    let mut rows = report.rows.into_iter().peekable();
    std::iter::from_fn(move || {
        if header.is_none() && rows.peek().is_none() {
            return None;
        }
        let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let written = (|| {
            if let Some(header) = header.take() {
                csv.write_record(&header)?;
            }
            for row in rows.by_ref().take(CSV_CHUNK_ROWS) {
                csv.write_record(csv_record(&row, currency, by_source))?;
            }
            Ok::<_, csv::Error>(())
        })();
        Some(written.map_err(super::internal).and_then(|()| csv.into_inner().map_err(super::internal)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole report as one CSV string (see [`csv_chunks`]).
    fn to_csv(report: Report, group_by: GroupBy) -> ServiceResult<String> {
        let mut bytes = vec![];
        for chunk in csv_chunks(report, group_by) {
            bytes.extend(chunk?);
        }
        String::from_utf8(bytes).map_err(crate::services::internal)
    }

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
        let csv = to_csv(report(&["NEWS10", "A,B \"C\""]), GroupBy::Code).unwrap();
        let records: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(records.len(), 3, "{csv:?}");
        assert!(records[0].starts_with("code,currency,link_visits,"));
        assert_eq!(records[1], "NEWS10,EUR,0,1,,0,12.50,0.00,0.00,0,0,0,0,12.50,NEWS10,7,");
        assert!(records[2].starts_with("\"A,B \"\"C\"\"\",EUR,"), "{csv:?}");
    }

    #[test]
    fn a_long_report_is_written_in_chunks_that_join_into_one_csv() {
        let codes: Vec<String> = (0..600).map(|n| format!("CODE{n}")).collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        let chunks: Vec<Vec<u8>> = csv_chunks(report(&codes), GroupBy::Code).map(Result::unwrap).collect();
        assert_eq!(chunks.len(), 3, "600 rows in chunks of {CSV_CHUNK_ROWS}");
        let joined: Vec<u8> = chunks.concat();
        let mut reader = csv::Reader::from_reader(joined.as_slice());
        assert_eq!(reader.headers().unwrap().get(0), Some("code"));
        let read: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        assert_eq!(read, codes);
        let empty: Vec<Vec<u8>> = csv_chunks(report(&[]), GroupBy::Code).map(Result::unwrap).collect();
        assert_eq!(empty.len(), 1, "the header alone");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_defused() {
        let starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"];
        let csv = to_csv(report(&starts), GroupBy::Code).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let codes: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        let expected: Vec<String> = starts.iter().map(|s| format!("'{s}")).collect();
        assert_eq!(codes, expected);
        let redeemed: Vec<String> =
            csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()[14].to_owned()).collect();
        assert_eq!(redeemed, expected, "redeemed_as too");
    }
}
