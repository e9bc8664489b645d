//! Logging setup.

use tracing_subscriber::EnvFilter;

/// Installs a `tracing` subscriber writing to stderr, filtered by `filter`
/// (falling back to `info` when the filter does not parse).
pub fn init(filter: &str) {
    init_as(filter, "text");
}

/// [`init`] in a format: `json` writes one JSON object per event (for log shippers),
/// anything else readable text.
pub fn init_as(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
