//! Accounts (shops), their events and ticket types.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::Currency;
use crate::domain::account::NewAccount;
use crate::entities::account;

use super::{ServiceError, ServiceResult, UserError, UserErrorCode, now};

/// The account with this slug, if any.
pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> ServiceResult<Option<account::Model>> {
    Ok(account::Entity::find().filter(account::Column::Slug.eq(slug)).one(db).await?)
}

/// The account with this id, if any.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> ServiceResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id).one(db).await?)
}

/// The currency of the account with this id, if it exists.
pub async fn currency(db: &impl ConnectionTrait, id: i64) -> ServiceResult<Option<Currency>> {
    let Some(account) = find(db, id).await? else { return Ok(None) };
    Ok(Some(*account.currency))
}

/// The currency of an account that must exist (the caller's own): a missing one is a
/// database inconsistency, not the caller's fault.
pub async fn currency_of(db: &impl ConnectionTrait, id: i64) -> ServiceResult<Currency> {
    currency(db, id).await?.ok_or_else(|| ServiceError::Db(sea_orm::DbErr::RecordNotFound(format!("account {id}"))))
}

/// Opens a new account, with its audit entry, in the caller's transaction; the slug
/// must be free.
pub async fn create(
    db: &impl ConnectionTrait,
    actor: &super::audit::Actor,
    new: &NewAccount,
) -> ServiceResult<account::Model> {
    if find_by_slug(db, new.slug.as_str()).await?.is_some() {
        return Err(
            UserError::new("slug", UserErrorCode::Taken, format!("the slug `{}` is taken", new.slug.as_str())).into()
        );
    }
    let row = account::ActiveModel {
        slug: Set(new.slug.as_str().to_owned()),
        name: Set(new.name.clone()),
        currency: Set(new.currency.into()),
        vat_rate_bp: Set(new.vat_rate.basis_points() as i32),
        prices_include_vat: Set(new.prices_include_vat),
        time_zone: Set(crate::domain::calendar::ShopZone::UTC.name().to_owned()),
        created_at: Set(now()),
        updated_at: Set(Some(now())),
        ..Default::default()
    };
    let saved = row.insert(db).await?;
    let after = super::audit::shop_fields(&saved);
    let target = (crate::entities::enums::AuditTarget::Shop, saved.id);
    super::audit::record(db, saved.id, actor, "createAccount", target, None, Some(&after)).await?;
    Ok(saved)
}

/// Longest seller address.
const MAX_ADDRESS_CHARS: usize = 500;
/// Longest seller VAT id.
const MAX_VAT_ID_CHARS: usize = 32;
/// Longest legal name.
const MAX_LEGAL_NAME_CHARS: usize = 200;

/// Changes to a shop's settings: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    /// Display name.
    pub name: Option<String>,
    /// ISO 4217 code; refused once the shop has an order.
    pub currency: Option<String>,
    /// Gross (true) or net (false) prices.
    pub prices_include_vat: Option<bool>,
    /// Default VAT rate in percent.
    pub vat_rate: Option<String>,
    /// IANA time zone name.
    pub time_zone: Option<String>,
    /// Legal name on invoices.
    pub seller_legal_name: Option<Option<String>>,
    /// Postal address on invoices.
    pub seller_address: Option<Option<String>>,
    /// VAT id on invoices.
    pub seller_vat_id: Option<Option<String>>,
    /// The storefront's absolute http(s) URL.
    pub storefront_url: Option<Option<String>>,
}

fn field_error(field: &str, code: UserErrorCode, message: impl Into<String>) -> UserError {
    UserError::new(field, code, message)
}

fn check_storefront_url(raw: Option<String>) -> Result<Option<String>, UserError> {
    let Some(raw) = raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else { return Ok(None) };
    match url::Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() && raw.len() <= 2000 => {
            Ok(Some(url.to_string()))
        }
        _ => Err(field_error(
            "storefrontUrl",
            UserErrorCode::InvalidUrl,
            "storefrontUrl must be an absolute http(s) URL such as https://tickets.example.com/",
        )),
    }
}

/// Changes the shop's settings in one transaction with its audit entry. A change of
/// currency, VAT mode or default rate reprices every open cart (signalled to its
/// subscribers); orders keep their snapshots.
pub async fn update_settings(
    db: &(impl ConnectionTrait + super::Writable),
    events: &crate::events::CartEvents,
    actor: &super::audit::Actor,
    account_id: i64,
    patch: SettingsPatch,
    dry_run: bool,
) -> ServiceResult<account::Model> {
    use crate::domain::VatRate;
    use crate::domain::calendar::ShopZone;
    use crate::entities::enums::{AuditTarget, CartStatus, DiscountKind};
    use crate::entities::{cart, order, promo_code, ticket_type};
    use sea_orm::{PaginatorTrait, QuerySelect};

    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id).await?.ok_or_else(|| {
        ServiceError::from(UserError::new("", UserErrorCode::NotFound, "the API key's account no longer exists"))
    })?;
    let mut row: account::ActiveModel = current.clone().into();
    let mut errors = vec![];
    if let Some(name) = &patch.name {
        match super::events::required_text("name", name, 200) {
            Ok(name) => row.name = Set(name),
            Err(e) => errors.push(e),
        }
    }
    if let Some(code) = &patch.currency {
        match Currency::parse(code) {
            Err(e) => errors.push(field_error("currency", UserErrorCode::Invalid, e.to_string())),
            Ok(new) if new != *current.currency => {
                let orders = order::Entity::find().filter(order::Column::AccountId.eq(account_id)).limit(1).count(&txn);
                if orders.await? > 0 {
                    errors.push(field_error(
                        "currency",
                        UserErrorCode::CurrencyLocked,
                        format!("the shop has orders in {}: its currency can no longer change", current.currency),
                    ));
                } else if new.exponent() != current.currency.exponent() {
                    // Stored amounts are minor units: 19.99 EUR is 1999, which in JPY
                    // would be ¥1999. Refuse rather than silently rescale.
                    let priced = ticket_type::Entity::find()
                        .filter(ticket_type::Column::AccountId.eq(account_id))
                        .limit(1)
                        .count(&txn)
                        .await?
                        + promo_code::Entity::find()
                            .filter(promo_code::Column::AccountId.eq(account_id))
                            .filter(promo_code::Column::DiscountType.eq(DiscountKind::FixedAmount))
                            .limit(1)
                            .count(&txn)
                            .await?;
                    if priced > 0 {
                        errors.push(field_error(
                            "currency",
                            UserErrorCode::Invalid,
                            format!(
                                "{new} has {} decimal places and {} has {}: re-enter the shop's prices and fixed-amount codes after removing them, or pick a currency with {} decimals",
                                new.exponent(),
                                current.currency,
                                current.currency.exponent(),
                                current.currency.exponent()
                            ),
                        ));
                    } else {
                        row.currency = Set(new.into());
                    }
                } else {
                    row.currency = Set(new.into());
                }
            }
            Ok(_) => {}
        }
    }
    if let Some(gross) = patch.prices_include_vat {
        row.prices_include_vat = Set(gross);
    }
    if let Some(rate) = &patch.vat_rate {
        match VatRate::parse_percent(rate) {
            Ok(rate) => row.vat_rate_bp = Set(rate.basis_points() as i32),
            Err(e) => errors.push(field_error("vatRate", UserErrorCode::Invalid, e.to_string())),
        }
    }
    if let Some(zone) = &patch.time_zone {
        match ShopZone::parse(zone) {
            Ok(zone) => row.time_zone = Set(zone.name().to_owned()),
            Err(e) => errors.push(field_error("timeZone", UserErrorCode::Invalid, e.to_string())),
        }
    }
    let optional = super::events::optional_text;
    if let Some(v) = patch.seller_legal_name {
        match optional("sellerLegalName", v, MAX_LEGAL_NAME_CHARS) {
            Ok(v) => row.seller_legal_name = Set(v),
            Err(e) => errors.push(e),
        }
    }
    if let Some(v) = patch.seller_address {
        match optional("sellerAddress", v, MAX_ADDRESS_CHARS) {
            Ok(v) => row.seller_address = Set(v),
            Err(e) => errors.push(e),
        }
    }
    if let Some(v) = patch.seller_vat_id {
        match optional("sellerVatId", v, MAX_VAT_ID_CHARS) {
            Ok(v) => row.seller_vat_id = Set(v),
            Err(e) => errors.push(e),
        }
    }
    if let Some(v) = patch.storefront_url {
        match check_storefront_url(v) {
            Ok(v) => row.storefront_url = Set(v),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::User(errors));
    }
    row.updated_at = Set(Some(super::now()));
    if dry_run {
        return Ok(sea_orm::TryIntoModel::try_into_model(row)?);
    }
    let saved = row.update(&txn).await?;
    let (before, after) = (super::audit::shop_fields(&current), super::audit::shop_fields(&saved));
    let target = (AuditTarget::Shop, account_id);
    super::audit::record(&txn, account_id, actor, "updateShopSettings", target, Some(&before), Some(&after)).await?;
    let repriced = saved.currency != current.currency
        || saved.prices_include_vat != current.prices_include_vat
        || saved.vat_rate_bp != current.vat_rate_bp;
    let carts: Vec<i64> = if repriced {
        cart::Entity::find()
            .select_only()
            .column(cart::Column::Id)
            .filter(cart::Column::AccountId.eq(account_id))
            .filter(cart::Column::Status.eq(CartStatus::Open))
            .into_tuple()
            .all(&txn)
            .await?
    } else {
        vec![]
    };
    txn.commit().await?;
    events.publish_all(carts);
    Ok(saved)
}
