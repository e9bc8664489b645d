//! The organizer's dashboard (`client-examples/admin/`), served at `/admin/` in demo mode
//! and wherever `TIXSHOP_ADMIN_UI` turns it on. The files are compiled in. The page holds
//! no data of its own: it signs in with an API key and calls the public API, so serving
//! it exposes nothing.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;

use super::AppState;

const PAGE: &str = include_str!("../../client-examples/admin/index.html");
const SCRIPT: &str = include_str!("../../client-examples/admin/admin.js");

/// `/admin` (redirects), `/admin/` and `/admin/admin.js`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(page))
        .route("/admin/admin.js", get(script))
}

async fn page() -> impl IntoResponse {
    // Never framed by another site (the page handles keys).
    ([(header::X_FRAME_OPTIONS, "DENY"), (header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
}
