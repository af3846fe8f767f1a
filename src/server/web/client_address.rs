//! Who is asking: the address a request came from, as the limits count it.
//!
//! Behind nginx every connection comes from the proxy's address, so the
//! limits would count all shoppers as one. A proxy named in
//! `trusted_proxies` is believed about the client it forwards for
//! (`X-Forwarded-For`, read from the right: the first hop that is not a
//! trusted proxy is the client); anyone else's header is ignored, since a
//! client can write whatever it likes there.
//!
//! IPv6 addresses are counted per /64: one subscriber usually holds a whole
//! /64, and counting single addresses would let them rotate for free.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;

/// Addresses (or networks) whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

/// An address and a prefix length, like `10.0.0.0/8` or `::1/128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(raw: &str) -> Result<Network, String> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let base: IpAddr = address
            .parse()
            .map_err(|_| format!("{raw:?} is not an IP address or network"))?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{raw:?}: the prefix must be 0 to {bits}"))?,
        };
        Ok(Network { base, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, canonical(address)) {
            (IpAddr::V4(base), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

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

    /// The group this address is counted in: itself for IPv4, its /64 for
    /// IPv6.
    pub fn group(address: IpAddr) -> IpAddr {
        match canonical(address) {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, from a dual-stack
/// socket) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
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

    #[test]
    fn networks_parse_and_match() {
        let n = Network::parse("192.168.0.0/16").unwrap();
        assert!(n.contains(ip("192.168.44.1")));
        assert!(!n.contains(ip("192.169.0.1")));
        assert!(n.contains(ip("::ffff:192.168.1.1")), "mapped IPv4 is IPv4");
        assert!(Network::parse("::1").unwrap().contains(ip("::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(Network::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let a = ClientAddress::group(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddress::group(ip("2001:db8:1:2:ffff::9"));
        let c = ClientAddress::group(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(ClientAddress::group(ip("10.0.0.1")), ip("10.0.0.1"));
    }
}
