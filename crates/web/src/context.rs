//! Per-request context: a request id, the client's address, containment of panics, and the one
//! place where a 5xx cause is logged. Clients get only the request id.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use sealroom_app::Client;

use crate::AppState;

/// Marks a 5xx whose message was written for the person (a document that failed its
/// integrity check, a blob store that does not answer): it is kept instead of the generic one.
#[derive(Clone, Copy)]
pub struct PublicMessage;

/// The cause of a 5xx, attached to the response by the handler and logged here.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = sealroom_crypto::token::new_id()[..16].to_owned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let address = client_address(peer, req.headers(), &state.config.trusted_proxies);
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let is_api = req.uri().path().starts_with("/api/");
    let method = req.method().clone();
    let route = logged_route(req.uri().path());
    req.extensions_mut().insert(Client {
        address,
        user_agent,
    });

    let mut response = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut()
                .insert(InternalCause("a handler panicked".into()));
            r
        }
    };
    if response.status().is_server_error() {
        let cause = response
            .extensions()
            .get::<InternalCause>()
            .map_or("unknown", |c| c.0.as_str());
        // Routes are logged without their query string: links carry tokens there.
        tracing::error!(request_id = %id, %method, route = %route, status = response.status().as_u16(), cause, "request failed");
        if response.extensions().get::<PublicMessage>().is_none() {
            response = crate::error::internal_error_response(&id, is_api, response.status());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// A path as it may be logged: the reference of an outside recipient's link is cut off (it
/// finds their invitation; query strings, where other links carry tokens, are never logged).
fn logged_route(path: &str) -> String {
    match path.strip_prefix("/outside/m/") {
        Some(_) => "/outside/m/…".to_owned(),
        None => path.to_owned(),
    }
}

/// The client's address: the peer, or when the peer is a trusted proxy, the nearest untrusted
/// address in `X-Forwarded-For`.
fn client_address(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> String {
    // `::ffff:10.0.0.5` is 10.0.0.5: compare and record the canonical form.
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return "unknown".into();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical()))
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .copied()
        .unwrap_or(peer)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.2"),
        );
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_address(Some("10.0.0.1".parse().unwrap()), &h, &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            client_address(Some("198.51.100.7".parse().unwrap()), &h, &trusted),
            "198.51.100.7"
        );
        assert_eq!(
            client_address(Some("10.0.0.1".parse().unwrap()), &h, &[]),
            "10.0.0.1"
        );
    }
}
