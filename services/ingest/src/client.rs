//! Where a request really comes from. Behind a load balancer the socket peer
//! is the proxy; the client is in X-Forwarded-For, but anyone can write that
//! header, so it is read only when the peer is a proxy we were told to trust.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

#[derive(Clone, Default)]
pub struct ClientAddress {
    trusted: Vec<IpNet>,
}

impl ClientAddress {
    /// `trusted_proxies`: comma-separated addresses or CIDR ranges.
    pub fn new(trusted_proxies: &str) -> anyhow::Result<Self> {
        let trusted = trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("ingest.trusted_proxies: {item:?} is not an IP address or CIDR range"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { trusted })
    }

    pub fn of(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            // The usual case: no header to read.
            return Some(canonical(peer));
        }
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        Some(self.resolve(peer, &forwarded))
    }

    /// Walks the chain from the nearest hop back: each trusted proxy vouches
    /// for the address before it, and the first untrusted one is the client.
    /// A malformed entry ends the walk at the last address we could trust.
    fn resolve(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        for hop in forwarded.iter().rev() {
            if !self.is_trusted(client) {
                break;
            }
            match hop.trim().parse::<IpAddr>() {
                Ok(address) => client = address,
                Err(_) => break,
            }
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

/// IPv4 peers of a dual-stack socket arrive as `::ffff:a.b.c.d`.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_only_through_trusted_proxies() {
        let direct = ClientAddress::new("").expect("empty list");
        assert_eq!(direct.resolve(ip("10.0.0.5"), &["1.2.3.4"]), ip("10.0.0.5"), "untrusted peer: header ignored");

        let behind = ClientAddress::new("10.0.0.0/8, 192.168.1.1").expect("list");
        assert_eq!(behind.resolve(ip("10.0.0.5"), &["1.2.3.4"]), ip("1.2.3.4"));
        // A client cannot smuggle an address in front of the real one.
        assert_eq!(behind.resolve(ip("10.0.0.5"), &["6.6.6.6", "1.2.3.4"]), ip("1.2.3.4"));
        // Two trusted hops.
        assert_eq!(behind.resolve(ip("10.0.0.5"), &["1.2.3.4", "192.168.1.1"]), ip("1.2.3.4"));
        assert_eq!(behind.resolve(ip("10.0.0.5"), &["garbage"]), ip("10.0.0.5"));
        assert_eq!(behind.resolve(ip("::ffff:10.0.0.5"), &["1.2.3.4"]), ip("1.2.3.4"));
        assert!(ClientAddress::new("10.0.0.0/33").is_err());
        assert!(ClientAddress::new("proxy.local").is_err());
    }
}
