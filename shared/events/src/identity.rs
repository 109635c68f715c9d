//! Visitor ids: 64 bits of a keyed BLAKE3 hash of what identifies a visitor
//! (ingest: site, address and user agent under the day's salt; an import:
//! the old system's session under the site's secret), so that an id can be
//! neither reversed nor recomputed without the key.

/// The id of `parts` under `key`. Each part is length-prefixed, so
/// ("ab", "c") and ("a", "bc") cannot collide.
pub fn keyed_id<P: AsRef<[u8]>>(key: &[u8; 32], parts: impl IntoIterator<Item = P>) -> u64 {
    let mut hasher = blake3::Hasher::new_keyed(key);
    for part in parts {
        let part = part.as_ref();
        hasher.update(&(part.len() as u32).to_le_bytes());
        hasher.update(part);
    }
    u64::from_le_bytes(hasher.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}
