//! API keys: created with a random secret shown once, stored as a SHA-256 hash.
//!
//! A key is 256 random bits, so a fast hash is enough: there is nothing to brute-force
//! that a slow hash (argon2, bcrypt) would protect, and lookup stays one indexed query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};

use crate::domain::api_key::{KeyName, Scope};
use crate::entities::api_key;

use super::audit::{self, Actor};
use super::{ServiceResult, UserError, UserErrorCode, now};
use crate::entities::enums::AuditTarget;

/// Every key starts with this, so leaked keys are easy to recognise and grep for.
const KEY_PREFIX: &str = "tix_";
/// Random bytes of a key: 256 bits, nothing to guess.
const SECRET_BYTES: usize = 32;
/// `tix_` plus the base64url (unpadded) form of [`SECRET_BYTES`] bytes.
const KEY_LEN: usize = KEY_PREFIX.len() + (SECRET_BYTES * 4).div_ceil(3);
/// Characters of a key kept in clear to recognise it by: the `tix_` prefix and 8 of
/// the secret, too few to help guess the rest.
const SHOWN_PREFIX_CHARS: usize = 12;
/// How often a key's use is recorded at most: a write per request would contend with
/// buyers' writes on SQLite, and "last used" to the minute is what an admin needs.
const USE_RECORDED_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// Who is calling, once their key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's account: everything the caller sees is scoped to it.
    pub account_id: i64,
    /// The key's id.
    pub key_id: i64,
    /// The key's name.
    pub key_name: String,
    /// What the key may do.
    pub scope: Scope,
    /// When the key was last recorded as used.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    /// Whether its use should be recorded again (at most once a minute).
    pub fn use_is_stale(&self) -> bool {
        self.last_used_at.is_none_or(|at| chrono::Utc::now() - at > USE_RECORDED_EVERY)
    }
}

/// A freshly created key: the stored row and the secret, which is never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored row.
    pub key: api_key::Model,
    /// The full key, shown to its owner once.
    pub secret: String,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a key for `account_id`, with its audit entry, in the caller's transaction.
pub async fn create(
    db: &impl ConnectionTrait,
    actor: &Actor,
    account_id: i64,
    name: &KeyName,
    scope: Scope,
) -> ServiceResult<CreatedKey> {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let row = api_key::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.as_str().to_owned()),
        prefix: Set(secret[..SHOWN_PREFIX_CHARS].to_owned()),
        key_hash: Set(hash(&secret)),
        scope: Set(scope.as_str().to_owned()),
        created_at: Set(now()),
        ..Default::default()
    };
    let key = row.insert(db).await?;
    let after = audit::api_key_fields(&key);
    audit::record(db, account_id, actor, "createApiKey", (AuditTarget::ApiKey, key.id), None, Some(&after)).await?;
    Ok(CreatedKey { key, secret })
}

/// The principal for a presented key, or `None` when it is unknown or revoked.
pub async fn authenticate(db: &impl ConnectionTrait, presented: &str) -> ServiceResult<Option<Principal>> {
    if presented.len() != KEY_LEN || !presented.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let found = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(presented)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    let Some(key) = found else { return Ok(None) };
    let Ok(scope) = Scope::parse(&key.scope) else {
        tracing::error!(key_id = key.id, scope = %key.scope, "stored API key has an unknown scope");
        return Ok(None);
    };
    Ok(Some(Principal {
        account_id: key.account_id,
        key_id: key.id,
        key_name: key.name,
        scope,
        last_used_at: key.last_used_at,
    }))
}

/// Records that a key was used, at most once a minute per key.
pub async fn touch(db: &impl ConnectionTrait, key_id: i64) -> ServiceResult<()> {
    let now = now();
    let stale = now - USE_RECORDED_EVERY;
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::LastUsedAt.is_null().or(api_key::Column::LastUsedAt.lt(stale)))
        .exec(db)
        .await?;
    Ok(())
}

/// The account's keys, newest first, revoked ones included.
pub async fn list(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::AccountId.eq(account_id))
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Revokes one of the account's keys, with its audit entry, in the caller's
/// transaction; a key of another account is "not found". Revoking a revoked key
/// changes (and records) nothing.
pub async fn revoke(
    db: &impl ConnectionTrait,
    actor: &Actor,
    account_id: i64,
    key_id: i64,
) -> ServiceResult<api_key::Model> {
    let not_found =
        || UserError::new("id", UserErrorCode::NotFound, format!("no API key with id {key_id} in this account"));
    let key = api_key::Entity::find_by_id(key_id)
        .filter(api_key::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let before = audit::api_key_fields(&key);
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(now()));
    let saved = active.update(db).await?;
    let after = audit::api_key_fields(&saved);
    audit::record(db, account_id, actor, "revokeApiKey", (AuditTarget::ApiKey, key_id), Some(&before), Some(&after))
        .await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_has_the_checked_length() {
        let mut bytes = [0_u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        assert_eq!(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)).len(), KEY_LEN);
        assert_eq!(KEY_LEN, 47);
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
