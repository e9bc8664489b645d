//! tixshop: a GraphQL backend for event-ticket shops whose headline feature is promo codes.
//!
//! The map, one line per module. Layers depend downwards only:
//! `http` → `graphql` → `services` → `domain` / `entities`; payment providers sit
//! behind a trait that services call; `http` runs no entity query of its own.
//!
//! - [`cli`], [`config`] — the command line and settings (flags or env vars).
//! - [`startup`] — [`startup::Application`] builds and serves; tests start it on port 0.
//! - [`http`] — the edge: router and limits, GraphQL over HTTP/WebSocket, REST admin,
//!   downloads, incoming payment webhooks, health; one API key check (`http::auth`).
//!   It verifies, parses and calls; it never queries the database itself.
//! - [`graphql`] — schema and limits, roots and thin resolvers per area, `types/`,
//!   DataLoaders, the context accessors; maps service errors once.
//! - [`services`] — use cases and transactions, `entities` ⇄ `domain`; every admin write
//!   records its audit entry in its own transaction (`services::audit`); session capture
//!   of `?promo=` links; batch lookups for the DataLoaders.
//! - [`payments`] — Stripe and PayPal behind one trait; webhook signatures.
//! - [`entities`] — sea-orm models, one per table, nothing else.
//! - [`domain`] — pure values and rules (money, VAT, slugs, scopes, days in a shop's time
//!   zone): no I/O at all.
//! - [`mcp`] — the AI assistant's edge: MCP tools (rmcp) over the same services, stdio and `/mcp`.
//! - [`events`] — per-cart change signals for the `cartUpdated` subscription.
//! - [`rate_limit`] — failed promo code attempts per session and address, counted in the database.
//! - [`session_store`] — storefront cookie sessions in the `sessions` table.
//! - [`db`] — opening (SQLite WAL or PostgreSQL) and migrating the database.
//! - [`telemetry`] — logging (text or JSON).
//! - [`observe`] — Prometheus metrics at `/metrics`, labels from closed sets only.

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod entities;
pub mod events;
pub mod graphql;
pub mod http;
pub mod mcp;
pub mod observe;
pub mod payments;
pub mod rate_limit;
pub mod services;
pub mod session_store;
pub mod startup;
pub mod telemetry;
