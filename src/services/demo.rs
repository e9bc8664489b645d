//! The demo shop, seeded into an empty database so a fresh checkout has something to sell.
//!
//! Prices are deliberately awkward (19.99, 35.00, 7.50) so that every discount
//! exercises rounding and allocation.

use chrono::{Duration, Timelike};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};

use crate::domain::account::NewAccount;
use crate::domain::api_key::{KeyName, Scope};
use crate::entities::enums::DiscountKind;
use crate::entities::{account, event, promo_code, ticket_type};

use super::api_keys::{self, CreatedKey};
use super::{ServiceError, ServiceResult, accounts, now};

/// The demo shop's slug.
pub const DEMO_SLUG: &str = "demo";

/// Seeds the demo shop when the database has no account yet. Returns its admin key
/// when it seeded, `None` when there was data already (so a restart seeds nothing).
pub async fn seed_if_empty(db: &sea_orm::DatabaseConnection) -> ServiceResult<Option<CreatedKey>> {
    if account::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let txn = super::begin_write(db).await?;
    match seed(&txn).await {
        Ok(key) => {
            txn.commit().await?;
            Ok(Some(key))
        }
        // Another instance seeded between our check and our insert.
        Err(ServiceError::Db(e)) if crate::db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn seed(txn: &sea_orm::DatabaseTransaction) -> ServiceResult<CreatedKey> {
    let new = NewAccount::parse(DEMO_SLUG, "Demo Tickets", "EUR", "19", true).expect("demo settings are valid");
    let shop = accounts::create(txn, &new).await?;
    let created = now();
    let evening = |days: i64| {
        (created + Duration::days(days))
            .with_hour(19)
            .and_then(|t| t.with_minute(30))
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .expect("a valid time of day")
    };

    let jazz = event::ActiveModel {
        account_id: Set(shop.id),
        name: Set("Summer Jazz Night".into()),
        venue: Set(Some("Harbour Hall".into())),
        starts_at: Set(evening(45)),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let film = event::ActiveModel {
        account_id: Set(shop.id),
        name: Set("Indie Film Marathon".into()),
        venue: Set(Some("Arthouse Cinema".into())),
        starts_at: Set(evening(90)),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(txn)
    .await?;

    for (event_id, name, price, capacity) in
        [(jazz.id, "Standing", 1999, Some(500)), (jazz.id, "Seated", 3500, Some(120)), (film.id, "Day pass", 750, None)]
    {
        ticket_type::ActiveModel {
            account_id: Set(shop.id),
            event_id: Set(event_id),
            name: Set(name.into()),
            price: Set(price),
            vat_rate_bp: Set(None),
            capacity: Set(capacity),
            sold_count: Set(0),
            created_at: Set(created),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }

    // (code, percent_off_bp, amount_off, usage_limit, max_per_customer, description)
    type DemoCode = (&'static str, Option<i32>, Option<i64>, Option<i64>, Option<i64>, &'static str);
    let codes: [DemoCode; 6] = [
        ("NEWS10", Some(1000), None, None, None, "Newsletter subscribers: 10% off"),
        ("FRIEND5", None, Some(500), None, None, "5 EUR off for a friend"),
        ("MARIA15", Some(1500), None, None, None, "Influencer Maria: 15% off"),
        ("ALEX15", Some(1500), None, None, None, "Influencer Alex: 15% off"),
        ("JANE15", Some(1500), None, None, None, "Influencer Jane: 15% off"),
        ("FREEPASS", Some(10000), None, Some(100), Some(1), "100 free tickets, one per buyer"),
    ];
    for (code, percent, amount, usage_limit, max_per_customer, description) in codes {
        promo_code::ActiveModel {
            account_id: Set(shop.id),
            code: Set(code.into()),
            discount_type: Set(if percent.is_some() { DiscountKind::Percentage } else { DiscountKind::FixedAmount }),
            percent_off_bp: Set(percent),
            amount_off: Set(amount),
            event_id: Set(None),
            expires_at: Set(None),
            usage_limit: Set(usage_limit),
            max_per_customer: Set(max_per_customer),
            redemptions_count: Set(0),
            active: Set(true),
            description: Set(Some(description.into())),
            deleted_at: Set(None),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }

    let name = KeyName::parse("demo admin").expect("a valid name");
    api_keys::create(txn, shop.id, &name, Scope::Admin).await
}
