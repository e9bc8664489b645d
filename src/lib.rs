//! tixshop: a GraphQL backend for event-ticket shops whose headline feature is promo codes.
//!
//! The map, one line per module; dependencies point downwards only:
//!
//! - [`cli`], [`config`] — the command line and settings (flags or env vars).
//! - [`startup`] — [`startup::Application`] builds and serves; tests start it on port 0.
//! - [`http`] — axum router, GraphQL over HTTP/WebSocket with its hardening, health.
//! - [`graphql`] — schema, limits, roots, types, DataLoaders; thin resolvers.
//! - [`payments`] — Stripe and PayPal behind one trait; webhook signatures.
//! - [`services`] — use cases and transactions, `entities` ⇄ `domain`.
//! - [`entities`] — sea-orm models, one per table, nothing else.
//! - [`events`] — per-cart change signals for the `cartUpdated` subscription.
//! - [`db`] — opening (SQLite WAL or PostgreSQL) and migrating the database.
//! - [`domain`] — pure values and rules (money, VAT, slugs, scopes): no I/O at all.
//! - [`rate_limit`] — failed promo code attempts per session and address, counted in the database.
//! - [`telemetry`] — logging.

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod entities;
pub mod events;
pub mod graphql;
pub mod http;
pub mod payments;
pub mod rate_limit;
pub mod services;
pub mod session_store;
pub mod startup;
pub mod telemetry;
