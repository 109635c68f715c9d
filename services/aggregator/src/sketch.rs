//! Visitor sketches built here rather than in Postgres: the sketch
//! `hll_add_agg(hll_hash_bigint(id))` makes of a set of ids, byte for byte,
//! so the rollups' upserts only store or union it. Building sketches from
//! ids in SQL (unnest, group, hash, add) was the largest cost of applying an
//! import chunk.
//!
//! The format is postgresql-hll's storage format (its `STORAGE.md`) for the
//! columns' parameters, the extension's defaults `hll(11, 5, -1, 1)`: up to
//! [`EXPLICIT_MAX`] hashes listed in full (EXPLICIT); past that, the 2,048
//! registers, as (index, value) pairs of the non-zero ones while those take
//! fewer bits than all of them (SPARSE), else all of them (FULL).

/// The most distinct ids whose sketch is EXPLICIT with the default
/// parameters: as many 8-byte values as fit in the 1,280 bytes of the full
/// form (2,048 registers of 5 bits). One more, and Postgres promotes it.
pub const EXPLICIT_MAX: usize = 160;

/// log2 of the number of registers, and the bits of each.
const LOG2M: u32 = 11;
const REGWIDTH: u32 = 5;
const REGISTERS: usize = 1 << LOG2M;

/// The header of each form: schema version 1 and the form; register width
/// 5 and 2^11 registers; sparse form allowed, explicit threshold automatic.
const EXPLICIT_HEADER: [u8; 3] = [0x12, 0x8b, 0x7f];
const SPARSE_HEADER: [u8; 3] = [0x13, 0x8b, 0x7f];
const FULL_HEADER: [u8; 3] = [0x14, 0x8b, 0x7f];

/// The sketch of `ids` (the visitor ids of one rollup row), or `None` when
/// there are none (the row takes `hll_empty()`).
pub fn sketch(ids: &[i64]) -> Option<Vec<u8>> {
    let mut hashes: Vec<i64> = ids.iter().map(|id| hash_bigint(*id)).collect();
    // Ascending as signed 64-bit integers, each once: the extension's order.
    hashes.sort_unstable();
    hashes.dedup();
    match hashes.len() {
        0 => None,
        n if n <= EXPLICIT_MAX => {
            let mut bytes = Vec::with_capacity(EXPLICIT_HEADER.len() + 8 * n);
            bytes.extend_from_slice(&EXPLICIT_HEADER);
            for hash in hashes {
                bytes.extend_from_slice(&hash.to_be_bytes());
            }
            Some(bytes)
        }
        _ => Some(registers_form(&hashes)),
    }
}

/// The registers of `hashes` (more than [`EXPLICIT_MAX`]), SPARSE while
/// the non-zero ones' (index, value) pairs take fewer bits than every
/// register does, else FULL.
fn registers_form(hashes: &[i64]) -> Vec<u8> {
    let mut registers = [0u8; REGISTERS];
    for hash in hashes {
        let hash = *hash as u64;
        let index = (hash & (REGISTERS as u64 - 1)) as usize;
        // The position of the lowest set bit of the rest, 1-based, capped
        // at what a register holds; 0 when the rest has none.
        let rest = hash >> LOG2M;
        let value = if rest == 0 { 0 } else { (rest.trailing_zeros() + 1).min((1 << REGWIDTH) - 1) as u8 };
        registers[index] = registers[index].max(value);
    }
    let filled = registers.iter().filter(|r| **r != 0).count();
    let mut bits = BitWriter::default();
    let header = if filled * ((LOG2M + REGWIDTH) as usize) < REGISTERS * REGWIDTH as usize {
        for (index, value) in registers.iter().enumerate().filter(|(_, value)| **value != 0) {
            bits.push(((index as u64) << REGWIDTH) | u64::from(*value), LOG2M + REGWIDTH);
        }
        SPARSE_HEADER
    } else {
        for value in registers {
            bits.push(u64::from(value), REGWIDTH);
        }
        FULL_HEADER
    };
    [&header[..], &bits.finish()].concat()
}

/// Values packed most significant bit first, the last byte padded with zeros.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 when it is full or there is none).
    used: u32,
}

impl BitWriter {
    fn push(&mut self, value: u64, width: u32) {
        for bit in (0..width).rev() {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let last = self.bytes.len() - 1;
            self.bytes[last] |= (((value >> bit) & 1) as u8) << (7 - self.used);
            self.used = (self.used + 1) % 8;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// [`sketch`] of `ids` and the ids of `runs` (`(first, count)`: the ids
/// `first..first + count`), when they are few enough to list here (else
/// `None`, and Postgres lists them).
pub fn sketch_of_runs(ids: &[i64], runs: &[(i64, i64)]) -> Option<Vec<u8>> {
    let listed = runs.iter().try_fold(ids.len() as i64, |total, &(_, count)| total.checked_add(count.max(0)))?;
    if listed > RUN_IDS_MAX {
        return None;
    }
    let mut all = ids.to_vec();
    for &(first, count) in runs.iter().filter(|run| run.1 > 0) {
        // A run past the largest id is left to Postgres, which refuses it.
        all.extend(first..=first.checked_add(count - 1)?);
    }
    sketch(&all)
}

/// The most ids of runs listed here: an import of daily figures stands for a
/// busy day by runs of tens of thousands, which Postgres generates itself.
const RUN_IDS_MAX: i64 = 4096;

/// `hll_hash_bigint(id, 0)`: the first half of MurmurHash3 x64 128 (seed 0)
/// of the id's eight bytes in memory order (little-endian on every machine
/// Postgres runs this extension on).
pub fn hash_bigint(id: i64) -> i64 {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    const LEN: u64 = 8;
    // Eight bytes are no whole 16-byte block: all of it is the tail's first word.
    let k1 = (id as u64).wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    let (mut h1, mut h2) = (k1 ^ LEN, LEN);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1.wrapping_add(h2) as i64
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_size_has_its_form() {
        assert_eq!(sketch(&[]), None);
        let many: Vec<i64> = (0..100_000).collect();
        let explicit = sketch(&many[..EXPLICIT_MAX]).expect("ids");
        assert_eq!((explicit.len(), explicit[0]), (3 + 8 * EXPLICIT_MAX, EXPLICIT_HEADER[0]));
        assert_eq!(sketch(&[7, 7]).map(|s| s.len()), Some(11), "one id, once");
        assert_eq!(sketch(&many[..EXPLICIT_MAX + 1]).map(|s| s[0]), Some(SPARSE_HEADER[0]));
        let full = sketch(&many).expect("ids");
        assert_eq!((full.len(), full[0]), (3 + REGISTERS * REGWIDTH as usize / 8, FULL_HEADER[0]));
        assert_eq!(sketch_of_runs(&[1], &[(10, 5), (12, 0)]).map(|s| s.len()), Some(3 + 8 * 6));
        assert_eq!(sketch_of_runs(&[], &[(0, 1_000_000)]), None, "listed in SQL");
        assert_eq!(sketch_of_runs(&[], &[(i64::MAX, 2)]), None, "past the largest id: Postgres refuses it");
    }
}
