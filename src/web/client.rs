//! Who is on the other end of a request: the client's address (behind trusted proxies, from
//! X-Forwarded-For) for throttling, and its User-Agent for naming a session's device.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::state::AppState;

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in X-Forwarded-For.
pub struct ClientAddr(pub String);

/// Picks the client address from the peer and an X-Forwarded-For value.
pub fn client_addr(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else { return "unknown".to_owned() };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let hops = forwarded_for.unwrap_or_default().split(',').rev().map(str::trim);
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            Err(_) => break,
        }
    }
    peer.to_string()
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(ClientAddr(client_addr(peer, forwarded, &state.config.trusted_proxies)))
    }
}

/// The client's User-Agent header, for naming a session's device ("Chrome on Linux").
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        Ok(UserAgent(agent.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_addr(Some(client), Some("1.2.3.4"), &[proxy]), "203.0.113.7", "spoofed header ignored");
        assert_eq!(client_addr(Some(proxy), Some("1.2.3.4, 203.0.113.7"), &[proxy]), "203.0.113.7");
        assert_eq!(client_addr(Some(proxy), Some("203.0.113.7, 10.0.0.1"), &[proxy]), "203.0.113.7");
        assert_eq!(client_addr(Some(proxy), None, &[proxy]), "10.0.0.1");
        assert_eq!(client_addr(None, None, &[]), "unknown");
    }
}
