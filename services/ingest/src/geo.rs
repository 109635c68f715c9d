//! Country of a client IP from a MaxMind-format database. Two layouts exist
//! in the wild: MaxMind's GeoLite2/GeoIP2 (`country.iso_code`) and
//! ip-location-db's (`country_code` at the top level); both are read.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use maxminddb::{Reader, path};

pub struct Countries {
    reader: Option<Reader<Vec<u8>>>,
}

impl Countries {
    /// No database: every country is unknown (an empty string).
    pub fn none() -> Self {
        Self { reader: None }
    }

    pub fn open(database: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(database).with_context(|| {
            format!("opening the GeoIP database {} (run deploy/local/fetch-data.sh)", database.display())
        })?;
        Ok(Self { reader: Some(reader) })
    }

    /// ISO 3166 alpha-2 code, or "" when unknown. Private and reserved
    /// addresses are unknown without a lookup: free databases place some of
    /// them (TEST-NET, for one) in a country.
    pub fn country(&self, address: IpAddr) -> String {
        let Some(reader) = &self.reader else { return String::new() };
        let address = crate::client::canonical(address);
        if !is_public(address) {
            return String::new();
        }
        let code = reader.lookup(address).ok().and_then(|found| {
            let maxmind: Option<String> = found.decode_path(&path!["country", "iso_code"]).ok().flatten();
            maxmind.or_else(|| found.decode_path(&path!["country_code"]).ok().flatten())
        });
        code.filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default()
    }
}

/// Globally routable: not private, loopback, link-local, documentation,
/// shared (CGNAT), benchmarking, multicast or otherwise reserved.
fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_never_looked_up() {
        for private in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(crate::client::canonical(private.parse().expect("ip"))), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2a00:1450:4001::1"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn reads_both_database_layouts() {
        let dir = std::env::temp_dir().join(format!("geo-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test file");
        for (layout, file) in [("maxmind", "maxmind.mmdb"), ("ip-location-db", "ild.mmdb")] {
            let path = dir.join(file);
            std::fs::write(&path, tiny_mmdb::database([8, 8, 8, 0], 24, layout, "US")).expect("test file");
            let countries = Countries::open(&path).expect("test file");
            assert_eq!(countries.country("8.8.8.8".parse().expect("ip")), "US", "{layout}");
            assert_eq!(countries.country("9.9.9.9".parse().expect("ip")), "", "{layout}: not in the file");
            assert_eq!(countries.country("10.0.0.1".parse().expect("ip")), "", "{layout}: private");
        }
        assert_eq!(Countries::none().country("8.8.8.8".parse().expect("ip")), "");
    }

    /// Just enough of a MaxMind DB writer for tests: an IPv4 tree holding one
    /// network, whose record is `{country: {iso_code}}` or `{country_code}`.
    mod tiny_mmdb {
        fn string(text: &str) -> Vec<u8> {
            let mut out = vec![(2 << 5) | text.len() as u8];
            out.extend_from_slice(text.as_bytes());
            out
        }
        fn map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
            let mut out = vec![(7 << 5) | entries.len() as u8];
            for (key, value) in entries {
                out.extend(string(key));
                out.extend_from_slice(value);
            }
            out
        }
        fn uint16(value: u16) -> Vec<u8> {
            let mut out = vec![(5 << 5) | 2];
            out.extend_from_slice(&value.to_be_bytes());
            out
        }
        fn uint32(value: u32) -> Vec<u8> {
            let mut out = vec![(6 << 5) | 4];
            out.extend_from_slice(&value.to_be_bytes());
            out
        }
        fn uint64(value: u64) -> Vec<u8> {
            // Extended type 9: type bits 0, then 9 - 7 in the next byte.
            let mut out = vec![8, 2];
            out.extend_from_slice(&value.to_be_bytes());
            out
        }
        fn array_of_strings(items: &[&str]) -> Vec<u8> {
            // Extended type 11.
            let mut out = vec![items.len() as u8, 4];
            items.iter().for_each(|item| out.extend(string(item)));
            out
        }

        pub fn database(network: [u8; 4], prefix: usize, layout: &str, code: &str) -> Vec<u8> {
            let record = match layout {
                "maxmind" => map(&[("country", map(&[("iso_code", string(code))]))]),
                _ => map(&[("country_code", string(code))]),
            };
            // One node per prefix bit; the bit's side leads on (or, at the last
            // bit, to the record), the other side to "no data" (node_count).
            let node_count = prefix as u32;
            let data_pointer = node_count + 16;
            let mut tree = Vec::new();
            for bit in 0..prefix {
                let on = (network[bit / 8] >> (7 - bit % 8)) & 1 == 1;
                let next = if bit + 1 == prefix { data_pointer } else { bit as u32 + 1 };
                let (left, right) = if on { (node_count, next) } else { (next, node_count) };
                tree.extend_from_slice(&left.to_be_bytes()[1..]);
                tree.extend_from_slice(&right.to_be_bytes()[1..]);
            }
            let mut out = tree;
            out.extend_from_slice(&[0u8; 16]);
            out.extend(record);
            out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
            out.extend(map(&[
                ("binary_format_major_version", uint16(2)),
                ("binary_format_minor_version", uint16(0)),
                ("build_epoch", uint64(1_700_000_000)),
                ("database_type", string("Test-Country")),
                ("description", map(&[("en", string("test"))])),
                ("ip_version", uint16(4)),
                ("languages", array_of_strings(&["en"])),
                ("node_count", uint32(node_count)),
                ("record_size", uint16(24)),
            ]));
            out
        }
    }
}
