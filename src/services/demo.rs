//! The demo shop, seeded into an empty database so a fresh checkout has something to sell.
//! It is made through the same services (and leaves the same audit entries, by
//! `system`) as an organizer's own shop.
//!
//! Prices are deliberately awkward (19.99, 35.00, 7.50) so that every discount
//! exercises rounding and allocation.

use chrono::{Duration, Timelike};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::domain::account::NewAccount;
use crate::domain::api_key::{KeyName, Scope};
use crate::domain::promo::DiscountType;
use crate::entities::account;
use crate::entities::enums::EventStatus;

use super::api_keys::{self, CreatedKey};
use super::audit::Actor;
use super::events::{self, NewEvent};
use super::promo_codes::{self, NewPromoCode};
use super::ticket_types::{self, NewTicketType};
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
    let actor = Actor::system();
    let new = NewAccount::parse(DEMO_SLUG, "Demo Tickets", "EUR", "19", true).expect("demo settings are valid");
    let shop = accounts::create(txn, &actor, &new).await?;
    let settings = accounts::SettingsPatch {
        time_zone: Some("Europe/Berlin".into()),
        seller_legal_name: Some(Some("Demo Tickets GmbH".into())),
        seller_address: Some(Some("Hafenstraße 1\n20457 Hamburg\nGermany".into())),
        seller_vat_id: Some(Some("DE000000000".into())),
        ..accounts::SettingsPatch::default()
    };
    // A new shop has no carts to tell.
    accounts::update_settings(txn, &crate::events::CartEvents::default(), &actor, shop.id, settings, false).await?;
    let created = now();
    let evening = |days: i64| {
        (created + Duration::days(days))
            .with_hour(19)
            .and_then(|t| t.with_minute(30))
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .expect("a valid time of day")
    };
    let event = |name: &str, venue: &str, days: i64| NewEvent {
        name: name.into(),
        venue: Some(venue.into()),
        starts_at: Some(evening(days)),
        ends_at: Some(evening(days) + Duration::hours(4)),
        status: Some(EventStatus::OnSale),
        description: None,
    };
    let jazz = events::create(txn, &actor, shop.id, event("Summer Jazz Night", "Harbour Hall", 45), false).await?;
    let film = events::create(txn, &actor, shop.id, event("Indie Film Marathon", "Arthouse Cinema", 90), false).await?;

    for (event_id, name, price, capacity) in [
        (jazz.id, "Standing", "19.99", Some(500)),
        (jazz.id, "Seated", "35.00", Some(120)),
        (film.id, "Day pass", "7.50", None),
    ] {
        let new =
            NewTicketType { event_id, name: name.into(), price: price.into(), capacity, ..NewTicketType::default() };
        ticket_types::create(txn, &actor, shop.id, new, false).await?;
    }

    // (code, percent off, amount off, usage limit, max per customer, description)
    type DemoCode = (&'static str, Option<&'static str>, Option<&'static str>, Option<i64>, Option<i64>, &'static str);
    let codes: [DemoCode; 6] = [
        ("NEWS10", Some("10"), None, None, None, "Newsletter subscribers: 10% off"),
        ("FRIEND5", None, Some("5.00"), None, None, "5 EUR off for a friend"),
        ("MARIA15", Some("15"), None, None, None, "Influencer Maria: 15% off"),
        ("ALEX15", Some("15"), None, None, None, "Influencer Alex: 15% off"),
        ("JANE15", Some("15"), None, None, None, "Influencer Jane: 15% off"),
        ("FREEPASS", Some("100"), None, Some(100), Some(1), "100 free tickets, one per buyer"),
    ];
    // The three creators, each with their own code.
    let mut partner_ids = std::collections::HashMap::new();
    for name in ["Maria", "Alex", "Jane"] {
        let input = super::partners::PartnerInput { name: Some(name.into()), contact: None };
        partner_ids.insert(name.to_ascii_uppercase(), super::partners::create(txn, &actor, shop.id, input).await?.id);
    }
    for (code, percent, amount, usage_limit, max_per_customer, description) in codes {
        let partner_id = code.strip_suffix("15").and_then(|name| partner_ids.get(name)).copied();
        let new = NewPromoCode {
            partner_id,
            code: code.into(),
            discount_type: Some(if percent.is_some() { DiscountType::Percentage } else { DiscountType::FixedAmount }),
            percent_off: percent.map(Into::into),
            amount_off: amount.map(Into::into),
            usage_limit,
            max_per_customer,
            description: Some(description.into()),
            ..NewPromoCode::default()
        };
        promo_codes::create(txn, &crate::events::CartEvents::default(), &actor, shop.id, new, false).await?;
    }

    let name = KeyName::parse("demo admin").expect("a valid name");
    api_keys::create(txn, &actor, shop.id, &name, Scope::Admin).await
}
