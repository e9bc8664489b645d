//! The `tixshop` command line.

use clap::{Args, Parser, Subcommand};

use crate::config::{DatabaseConfig, ServeConfig};

/// tixshop: a GraphQL backend for event-ticket shops with exact promo codes.
///
/// Every flag can also be given as the environment variable shown beside it.
#[derive(Debug, Parser)]
#[command(name = "tixshop", version, about, long_about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first). The default.
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Manage API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage accounts (shops).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Print the GraphQL schema (SDL) to stdout, as committed in `schema.graphql`.
    ExportSchema,
    /// Serve the MCP tools (for AI assistants) over stdio, as the key's shop.
    Mcp(McpArgs),
}

/// Arguments of `mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseConfig,
    /// The API key the assistant acts with (a read key gets the read tools only).
    #[arg(long, env = "TIXSHOP_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// `tixshop api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for an account and print it (once: only its hash is stored).
    Create(ApiKeyCreate),
}

/// Arguments of `api-key create`.
#[derive(Debug, Args)]
pub struct ApiKeyCreate {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseConfig,
    /// The account's slug, e.g. `demo`.
    #[arg(long)]
    pub account: String,
    /// `admin` (read and write) or `read`.
    #[arg(long)]
    pub scope: String,
    /// A label to recognise the key by.
    #[arg(long, default_value = "cli")]
    pub name: String,
}

/// `tixshop account …`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Open a new account (shop) and print an admin key for it.
    Create(AccountCreate),
}

/// Arguments of `account create`.
#[derive(Debug, Args)]
pub struct AccountCreate {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseConfig,
    /// URL identifier: 2–64 lower-case letters, digits and '-'.
    #[arg(long)]
    pub slug: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// ISO 4217 currency of all its prices.
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    /// Default VAT rate in percent, e.g. 19 or 7.7.
    #[arg(long, default_value = "19")]
    pub vat_rate: String,
    /// Prices are net (VAT added on top) instead of gross.
    #[arg(long)]
    pub prices_exclude_vat: bool,
}
