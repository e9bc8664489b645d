//! The example storefront (`client-examples/storefront/`), served in demo mode at `/`
//! and `/shops/{slug}`. The files are compiled in, so the binary stays self-contained.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use super::AppState;

const PAGE: &str = include_str!("../../client-examples/storefront/index.html");
const SCRIPT: &str = include_str!("../../client-examples/storefront/storefront.js");

/// `/`, `/shops/{slug}` and `/storefront.js`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(page)).route("/shops/{slug}", get(page)).route("/storefront.js", get(script))
}

/// The page as served here: the request itself captured any `?promo=` link, so the
/// script must not hand it over again.
static SERVED_PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    PAGE.replace(
        r#"<meta name="tixshop-links-captured" content="">"#,
        r#"<meta name="tixshop-links-captured" content="yes">"#,
    )
});

async fn page() -> Html<&'static str> {
    Html(SERVED_PAGE.as_str())
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}
