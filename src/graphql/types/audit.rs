//! The audit log as the organizer reads it.

use async_graphql::{Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::entities::audit_entry;
use crate::graphql::errors::internal;
use crate::services::audit;

use super::{PageInfo, parse_id, to_id};

/// Which edge an admin write came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::entities::enums::AuditVia")]
pub enum AuditVia {
    /// The GraphQL API.
    Graphql,
    /// The REST API under `/admin`.
    Rest,
    /// The `tixshop` command line on the server (no API key).
    Cli,
    /// The MCP server: an AI assistant with an API key.
    Mcp,
    /// The server itself, e.g. seeding the demo shop (no API key).
    System,
}

/// What kind of object an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::entities::enums::AuditTarget")]
pub enum AuditTargetType {
    /// The shop's settings; the target id is the shop's id.
    Shop,
    /// An event.
    Event,
    /// A ticket type.
    TicketType,
    /// A promo code.
    PromoCode,
    /// An API key.
    ApiKey,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery (redelivered).
    WebhookDelivery,
    /// An order (refunded).
    Order,
    /// A partner.
    Partner,
    /// A partner share link.
    ShareLink,
    /// A batch of generated promo codes.
    PromoBatch,
}

/// One changed field of an audit entry.
#[derive(SimpleObject)]
pub struct AuditChange {
    /// The field's API name, e.g. "price".
    pub field: String,
    /// Its value before, as the API shows it (money as a decimal string); null when the
    /// object was created.
    pub before: Json<serde_json::Value>,
    /// Its value after; null when the object was deleted.
    pub after: Json<serde_json::Value>,
}

/// One admin write: who, when, what, and each changed field. Secrets never appear.
pub struct AuditEntry(pub audit_entry::Model);

/// One admin write: who, when, what, and each changed field. Secrets never appear.
#[Object]
impl AuditEntry {
    /// The entry's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// When the write was committed (UTC, RFC 3339).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// The API key that wrote; null for the command line and the server itself.
    async fn key_id(&self) -> Option<ID> {
        self.0.key_id.map(to_id)
    }

    /// That key's name when it wrote (or "cli", "system").
    async fn key_name(&self) -> &str {
        &self.0.key_name
    }

    /// The edge the write came through.
    async fn via(&self) -> AuditVia {
        self.0.via.into()
    }

    /// The operation: the GraphQL mutation's name whichever edge it came through, e.g.
    /// "updatePromoCode" (the command line's own: "createAccount").
    async fn operation(&self) -> &str {
        &self.0.operation
    }

    /// What kind of object was written.
    async fn target_type(&self) -> AuditTargetType {
        self.0.target_type.into()
    }

    /// The written object's id.
    async fn target_id(&self) -> ID {
        to_id(self.0.target_id)
    }

    /// The fields that changed, before → after. A creation lists every field set, a
    /// hard deletion every field it had.
    async fn changes(&self) -> async_graphql::Result<Vec<AuditChange>> {
        let changes = audit::changes(&self.0).map_err(|e| internal(&e))?;
        Ok(changes
            .into_iter()
            .map(|c| AuditChange { field: c.field, before: Json(c.before), after: Json(c.after) })
            .collect())
    }
}

/// One object (or every object of a kind) to filter the log by.
#[derive(Debug, InputObject)]
pub struct AuditTargetInput {
    /// The kind of object.
    #[graphql(name = "type")]
    pub target_type: AuditTargetType,
    /// Its id; every object of the kind when omitted.
    pub id: Option<ID>,
}

/// Filters of `auditLog`; every one given must match.
#[derive(Debug, InputObject, Default)]
pub struct AuditLogFilter {
    /// Entries about this object (or kind of object).
    pub target: Option<AuditTargetInput>,
    /// Entries written with this API key.
    pub key_id: Option<ID>,
    /// Entries of this operation, e.g. "updateTicketType".
    pub operation: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl From<AuditLogFilter> for audit::Filter {
    fn from(f: AuditLogFilter) -> Self {
        // An id that is no row id matches nothing (0 is no row's id).
        let id = |id: &ID| parse_id(id).unwrap_or(0);
        audit::Filter {
            target_type: f.target.as_ref().map(|t| t.target_type.into()),
            target_id: f.target.as_ref().and_then(|t| t.id.as_ref()).map(id),
            key_id: f.key_id.as_ref().map(id),
            operation: f.operation,
            from: f.from,
            to: f.to,
        }
    }
}

/// A page of the audit log (a Relay connection), newest first.
#[derive(SimpleObject)]
pub struct AuditEntryConnection {
    /// The entries of this page with their cursors.
    pub edges: Vec<AuditEntryEdge>,
    /// Where this page sits in the whole log.
    pub page_info: PageInfo,
}

/// An audit entry and its cursor.
#[derive(SimpleObject)]
pub struct AuditEntryEdge {
    /// Pass as `after` to get the entries following this one.
    pub cursor: String,
    /// The entry.
    pub node: AuditEntry,
}
