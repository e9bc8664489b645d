//! Logging setup.

use tracing_subscriber::EnvFilter;

/// Installs a `tracing` subscriber writing to stderr, filtered by `filter`
/// (falling back to `info` when the filter does not parse).
pub fn init(filter: &str) {
    init_as(filter, "text");
}

/// [`init`] in a format: `json` writes one JSON object per event (for log shippers),
/// anything else readable text.
/// Each GraphQL operation runs in a `graphql` span named after it, each root field in a
/// `service` span (see `observe`).
pub fn init_as(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A span's close is one line with its busy and idle time: per GraphQL operation at
    // INFO, per service call at DEBUG.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
