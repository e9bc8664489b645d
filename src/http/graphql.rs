//! GraphQL over HTTP and WebSocket, hardened at the mount.
//!
//! async-graphql-axum's stock extractor accepts any content type and runs mutations
//! over GET; here POST must be `application/json` (no CSRF through "simple" requests),
//! GET runs queries only (a mutation gets 405), and the caller's API key is resolved
//! before execution so resolvers see a [`Caller`].

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{SinkExt, StreamExt};

use axum::Extension;
use axum::extract::{ConnectInfo, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::auth::{self, Credential};
use super::{AppState, input};
use crate::graphql::Caller;
use crate::graphql::context::RequestContext;
use crate::services::ServiceError;
use tower_sessions::Session;

/// Most operations in one batched POST.
const MAX_BATCH: usize = 10;

/// A GraphQL-shaped error response with an HTTP status.
fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// The caller of a request, from its `Authorization` header.
async fn caller_from_headers(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    match auth::credential(state, headers).await {
        Ok(Credential::Absent) => Ok(Caller::Anonymous),
        Ok(Credential::Malformed | Credential::Unknown) => Ok(Caller::InvalidKey),
        Ok(Credential::Valid(principal)) => Ok(Caller::Key(principal)),
        Err(e) => {
            log_lookup_failure(&e);
            Err(reject(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"))
        }
    }
}

fn log_lookup_failure(e: &ServiceError) {
    tracing::error!(error = ?e, "API key lookup failed");
}

/// The client's address: the peer, or, behind a trusted proxy, the last
/// `X-Forwarded-For` entry (the one the proxy appended; earlier ones are the client's
/// own claims). IPv6 addresses are reduced to their /64, which one client controls.
pub(crate) fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    let ip = state
        .config
        .trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        })
        .flatten()
        .unwrap_or(peer.ip());
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        other => other,
    }
}

/// `POST /graphql`: a JSON request or batch.
pub async fn post_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "POST /graphql takes `Content-Type: application/json`",
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL JSON request: {e}"),
            );
        }
    };
    // A batch runs its operations concurrently; keep it small so it cannot multiply work.
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > MAX_BATCH
    {
        return reject(
            StatusCode::BAD_REQUEST,
            "BATCH_TOO_LARGE",
            &format!("at most {MAX_BATCH} operations per batch"),
        );
    }
    let requests = match &batch {
        BatchRequest::Single(request) => std::slice::from_ref(request),
        BatchRequest::Batch(requests) => requests.as_slice(),
    };
    for request in requests {
        if let Err(refusal) = input::check_request(&request.query, &request.variables) {
            return reject(StatusCode::BAD_REQUEST, "BAD_REQUEST", &refusal.to_string());
        }
    }
    let caller = match caller_from_headers(&state, &headers).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let schema = state.schema_for(&caller).clone();
    let context = RequestContext { client_ip: Some(client_ip(&state, &headers, peer)), session: Some(session) };
    GraphQLResponse::from(schema.execute_batch(batch.data(caller).data(context)).await).into_response()
}

/// `GET /graphql`: GraphiQL without a `query` parameter; otherwise a query (never a
/// mutation or subscription, which get 405).
pub async fn get_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let has_query =
        raw.as_deref().is_some_and(|r| url::form_urlencoded::parse(r.as_bytes()).any(|(k, _)| k == "query"));
    let Some(raw) = raw.filter(|_| has_query) else {
        // No `query` parameter: the page for people.
        return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
            .into_response();
    };
    let request = match async_graphql::http::parse_query_string(&raw) {
        Ok(request) => request,
        Err(e) => {
            return reject(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("malformed GraphQL GET request: {e}"));
        }
    };
    // Before anything parses the document (the method check below does).
    if input::nesting(&request.query) > input::MAX_NESTING {
        return reject(StatusCode::BAD_REQUEST, "BAD_REQUEST", &input::Refusal::TooDeep.to_string());
    }
    if let Some(ty) = operation_type(&request)
        && ty != OperationType::Query
    {
        let mut response = reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations and subscriptions are not accepted over GET: use POST (or the WebSocket)",
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Err(refusal) = input::check_request(&request.query, &request.variables) {
        return reject(StatusCode::BAD_REQUEST, "BAD_REQUEST", &refusal.to_string());
    }
    let caller = match caller_from_headers(&state, &headers).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let schema = state.schema_for(&caller).clone();
    let context = RequestContext { client_ip: Some(client_ip(&state, &headers, peer)), session: Some(session) };
    GraphQLResponse::from(schema.execute(request.data(caller).data(context)).await).into_response()
}

/// The type of the operation a request would run; `None` when the document does not
/// parse or names no operation (execution then reports the error without running).
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op.node.ty)
        }
        // Several operations and no name: refuse if any of them writes.
        (DocumentOperations::Multiple(ops), None) => {
            ops.values().map(|op| op.node.ty).find(|ty| *ty != OperationType::Query).or(Some(OperationType::Query))
        }
    }
}

/// `GET /graphql/ws`: subscriptions (and queries, mutations) over `graphql-transport-ws`
/// or the older `graphql-ws`. Browsers' `Origin` must be a configured storefront origin
/// or this server's own; an API key may come in `connection_init` as
/// `{"Authorization": "Bearer <key>"}`.
pub async fn ws_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| origin_allowed(&state, &headers, o));
        if !allowed {
            return reject(StatusCode::FORBIDDEN, "FORBIDDEN", "this origin may not open GraphQL WebSockets");
        }
    }
    // The schema is chosen before the key arrives in `connection_init`, so in production
    // mode WebSockets never serve introspection.
    let schema = state.closed_schema.clone();
    let context = RequestContext { client_ip: Some(client_ip(&state, &headers, peer)), session: Some(session) };
    // Small buffers: a socket mostly sits idle waiting for a push, and tungstenite's
    // defaults (128 KiB read buffer each) would make 10,000 open carts cost over a GiB.
    // Clients send little after `subscribe`; a larger message still arrives whole (the
    // buffer grows), up to the request body limit.
    let upgrade = upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(state.config.max_body_bytes)
        .max_frame_size(state.config.max_body_bytes);
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        let refused_key = Arc::new(AtomicBool::new(false));
        let (sink, stream) = socket.split();
        let stream = stream.map(|message| message.map(refuse_unsafe_operations));
        let sink = sink.with({
            let refused_key = refused_key.clone();
            move |message| std::future::ready(Ok::<_, axum::Error>(close_codes(message, &refused_key)))
        });
        GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
            .on_connection_init(move |payload| async move {
                // The key may come with or without the `Bearer ` scheme.
                let token = payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .and_then(|v| v.as_str())
                    .map(|v| auth::bearer_token(v).unwrap_or(v.trim()).to_owned());
                let caller = match token {
                    None => Caller::Anonymous,
                    Some(token) => match auth::check(&state, &token).await {
                        Ok(Some(principal)) => Caller::Key(principal),
                        Ok(None) => Caller::InvalidKey,
                        Err(e) => {
                            log_lookup_failure(&e);
                            return Err(async_graphql::Error::new("internal error"));
                        }
                    },
                };
                // A key that does not authenticate is refused, never downgraded to anonymous.
                if matches!(caller, Caller::InvalidKey) {
                    refused_key.store(true, Ordering::SeqCst);
                    return Err(async_graphql::Error::new("Forbidden"));
                }
                let mut data = Data::default();
                data.insert(caller);
                data.insert(context);
                Ok(data)
            })
            .serve()
    })
}

/// An operation message whose document is too deeply nested, or carries a NUL, is
/// replaced by one that is no message at all: the protocol then closes the socket
/// before anything parses the document.
fn refuse_unsafe_operations(message: Message) -> Message {
    let Message::Text(text) = &message else { return message };
    let Ok(parsed) = serde_json::from_str::<serde_json::Value>(text) else { return message };
    let Some(query) = parsed["payload"]["query"].as_str() else { return message };
    let nested = input::nesting(query) > input::MAX_NESTING;
    if nested || input::check_text(query).is_err() || input::check_text(text).is_err() {
        return Message::Text("refused: too deeply nested or a NUL character".into());
    }
    message
}

/// The WebSocket read buffer per connection (tungstenite's chunk size). A subscribed
/// socket mostly waits; a longer message is read in several chunks, the buffer growing.
const WS_READ_BUFFER: usize = 256;

/// WebSocket close code async-graphql sends for a refused `connection_init`.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// WebSocket close code async-graphql sends for a `subscribe` before the acknowledgement.
const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// graphql-transport-ws: `connection_init` refused.
const CLOSE_FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: `subscribe` before `connection_ack`.
const CLOSE_UNAUTHORIZED: u16 = 4401;

/// graphql-transport-ws close codes where async-graphql uses generic ones: 4403 for a
/// refused `connection_init` (it sends 1002) and 4401 for a `subscribe` before the
/// acknowledgement (it sends 1011).
fn close_codes(message: Message, refused_key: &AtomicBool) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.code == CLOSE_PROTOCOL_ERROR && refused_key.load(Ordering::SeqCst) => {
            Message::Close(Some(CloseFrame { code: CLOSE_FORBIDDEN, reason: "Forbidden".into() }))
        }
        Message::Close(Some(frame)) if frame.code == CLOSE_INTERNAL_ERROR => {
            Message::Close(Some(CloseFrame { code: CLOSE_UNAUTHORIZED, reason: "Unauthorized".into() }))
        }
        other => other,
    }
}

/// An `Origin` is allowed when configured, when it is the public base URL's, or when it
/// is this very host (the page was served by us).
fn origin_allowed(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    if state.config.storefront_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    if state.config.base_url().origin().ascii_serialization().eq_ignore_ascii_case(origin) {
        return true;
    }
    // Same-host pages are allowed only in demo mode (localhost vs 127.0.0.1); production
    // lists its origins, so a DNS-rebinding page cannot pass as "same host".
    if state.config.mode != crate::config::Mode::Demo {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    host.is_some_and(|host| {
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    })
}
