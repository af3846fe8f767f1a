//! Who is asking: the address a request came from, as the limits count it.
//!
//! Behind nginx every connection comes from the proxy's address, so the
//! limits would count all shoppers as one. A proxy named in
//! `trusted_proxies` is believed about the client it forwards for
//! (`X-Forwarded-For`, read from the right: the first hop that is not a
//! trusted proxy is the client); anyone else's header is ignored, since a
//! client can write whatever it likes there.
//!
//! The limits count addresses in groups (`network::address_group`).

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::server::network::{canonical, Network};

/// Addresses (or networks) whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    pub fn new(networks: Vec<Network>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(address))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy,
    /// then the nearest hop in `X-Forwarded-For` that is not one.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                // A hop we cannot read: stop believing the chain here.
                return client;
            };
            client = canonical(address);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The address a request came from, as resolved once per request by the
/// [front door](super::front_door) (the peer when no proxy is trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The address of this request; unknown (0.0.0.0) only for a request
    /// that did not come over a connection (tests that call the router).
    pub fn of(request: &http::request::Parts) -> IpAddr {
        request
            .extensions
            .get::<ClientAddress>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0)
    }
}

/// A handler's argument: the request's address, as [`ClientAddress::of`].
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(ClientAddress::of(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::network::Network;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::new(vec![Network::parse("10.0.0.0/8").unwrap()]);
        let headers = forwarded("203.0.113.7, 10.1.2.3");
        // From the proxy: the nearest untrusted hop.
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("203.0.113.7"));
        // From anyone else: their own address, whatever they wrote.
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        // Nothing trusted (the default): the peer.
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        // A client's forged hop to the left of its real one is not reached.
        let forged = forwarded("1.2.3.4, 203.0.113.7");
        assert_eq!(trusted.client(ip("10.0.0.1"), &forged), ip("203.0.113.7"));
        // An unreadable hop ends the chain at the last address believed.
        let junk = forwarded("nonsense");
        assert_eq!(trusted.client(ip("10.0.0.1"), &junk), ip("10.0.0.1"));
    }
}
