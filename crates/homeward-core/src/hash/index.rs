//! An exact Hamming-radius index over 256-bit hashes, with incremental add
//! and delete and a versioned, checksummed file format.
//!
//! Search is multi-index hashing (Norouzi et al.): each hash is cut into 16
//! chunks of 16 bits, and chunk `t` of every hash is listed in table `t`
//! under its 16-bit value. Two hashes within distance `r` have at least one
//! chunk within `r / 16` of each other (pigeonhole), so probing every table at
//! every value within `r / 16` of the query's chunk finds every candidate;
//! each candidate is then checked at full length. Nothing within the radius
//! can be missed. For radii above 47, or indexes below 16 384
//! entries, a blocked popcount scan is faster and is used (measured).
//!
//! File layout (all integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `HWHAMIDX` |
//! | 4 | format version (u32), see [`INDEX_FORMAT_VERSION`] |
//! | 1 | hash kind: 1 = PDQ, 2 = face chip |
//! | 3 | reserved, zero |
//! | 8 | entry count `n` (u64) |
//! | 40·n | entries: id (u64), then hash words 0..4 (u64 each) |
//! | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! The tables are rebuilt on load, so they are not part of the format.

use std::collections::HashMap;
use std::io::{Read, Write};

use super::{Hash256, HashError};

/// Format version written by this build.
pub const INDEX_FORMAT_VERSION: u32 = 1;
/// Oldest format version this build can read.
pub const INDEX_FORMAT_OLDEST: u32 = 1;

const MAGIC: [u8; 8] = *b"HWHAMIDX";
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 40;
const CHUNKS: usize = 16;
const BUCKETS: usize = 1 << 16;
/// Below this many entries the index is scanned and keeps no tables.
const MIH_MIN_LEN: usize = 1 << 14;
/// Largest radius served by the tables; larger radii scan (measured:
/// probing at chunk radius 3 visits ~17 % of the entries in random order,
/// which is no faster than a sequential scan).
const MIH_MAX_RADIUS: u32 = 47;

/// Which hash an index holds, so PDQ and chip hashes are never mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// Whole-photo PDQ hashes.
    Pdq,
    /// Face-chip hashes.
    Chip,
}

impl HashKind {
    fn code(self) -> u8 {
        match self {
            HashKind::Pdq => 1,
            HashKind::Chip => 2,
        }
    }

    fn from_code(code: u8) -> Option<HashKind> {
        match code {
            1 => Some(HashKind::Pdq),
            2 => Some(HashKind::Chip),
            _ => None,
        }
    }
}

/// Exact Hamming-radius search over `(id, Hash256)` entries.
///
/// ```
/// use homeward_core::hash::{HammingIndex, Hash256, HashKind};
/// let mut index = HammingIndex::new(HashKind::Pdq);
/// index.add(1, Hash256::ZERO)?;
/// index.add(2, Hash256([0b111, 0, 0, 0]))?;
/// assert_eq!(index.query(&Hash256::ZERO, 2), vec![(1, 0)]);
/// assert_eq!(index.query(&Hash256::ZERO, 3), vec![(1, 0), (2, 3)]);
/// index.remove(1);
/// let mut file = Vec::new();
/// index.save(&mut file)?;
/// let loaded = HammingIndex::load(file.as_slice())?;
/// assert_eq!(loaded.query(&Hash256::ZERO, 3), vec![(2, 3)]);
/// # Ok::<(), homeward_core::hash::HashError>(())
/// ```
pub struct HammingIndex {
    kind: HashKind,
    hashes: Vec<Hash256>,
    ids: Vec<u64>,
    slot_of: HashMap<u64, u32>,
    /// `tables[t][v]` lists the slots whose chunk `t` equals `v`.
    tables: Option<Vec<Vec<Vec<u32>>>>,
}

impl std::fmt::Debug for HammingIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HammingIndex")
            .field("kind", &self.kind)
            .field("len", &self.hashes.len())
            .field("tables", &self.tables.is_some())
            .finish()
    }
}

#[inline]
fn chunk(hash: &Hash256, t: usize) -> usize {
    ((hash.0[t / 4] >> ((t % 4) * 16)) & 0xffff) as usize
}

impl HammingIndex {
    /// An empty index for hashes of `kind`.
    pub fn new(kind: HashKind) -> HammingIndex {
        HammingIndex {
            kind,
            hashes: Vec::new(),
            ids: Vec::new(),
            slot_of: HashMap::new(),
            tables: None,
        }
    }

    /// Builds an index from many entries at once (faster than repeated
    /// [`HammingIndex::add`]). Fails on a repeated id.
    pub fn from_entries(
        kind: HashKind,
        entries: impl IntoIterator<Item = (u64, Hash256)>,
    ) -> Result<HammingIndex, HashError> {
        let mut index = HammingIndex::new(kind);
        let entries = entries.into_iter();
        let (lower, _) = entries.size_hint();
        index.hashes.reserve(lower);
        index.ids.reserve(lower);
        index.slot_of.reserve(lower);
        for (id, hash) in entries {
            index.push_entry(id, hash)?;
        }
        index.rebuild_tables();
        Ok(index)
    }

    /// Which kind of hash this index holds.
    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash stored under `id`.
    pub fn get(&self, id: u64) -> Option<Hash256> {
        self.slot_of.get(&id).map(|&s| self.hashes[s as usize])
    }

    /// Adds `hash` under `id`. Fails with [`HashError::DuplicateId`] if `id`
    /// is present (remove it first to replace it).
    pub fn add(&mut self, id: u64, hash: Hash256) -> Result<(), HashError> {
        let slot = self.push_entry(id, hash)?;
        match &mut self.tables {
            Some(tables) => {
                for (t, table) in tables.iter_mut().enumerate() {
                    table[chunk(&hash, t)].push(slot);
                }
            }
            None => self.rebuild_tables(),
        }
        Ok(())
    }

    /// Removes `id` and returns its hash, or `None` if it was absent.
    pub fn remove(&mut self, id: u64) -> Option<Hash256> {
        let slot = self.slot_of.remove(&id)?;
        let last = (self.hashes.len() - 1) as u32;
        let hash = self.hashes[slot as usize];
        if let Some(tables) = &mut self.tables {
            let moved = self.hashes[last as usize];
            for (t, table) in tables.iter_mut().enumerate() {
                let bucket = &mut table[chunk(&hash, t)];
                if let Some(pos) = bucket.iter().position(|&s| s == slot) {
                    bucket.swap_remove(pos);
                }
                if slot != last {
                    let bucket = &mut table[chunk(&moved, t)];
                    if let Some(s) = bucket.iter_mut().find(|s| **s == last) {
                        *s = slot;
                    }
                }
            }
        }
        self.hashes.swap_remove(slot as usize);
        self.ids.swap_remove(slot as usize);
        if slot != last {
            self.slot_of.insert(self.ids[slot as usize], slot);
        }
        Some(hash)
    }

    /// Every entry within Hamming distance `radius` of `query` (inclusive),
    /// as `(id, distance)` sorted by distance, then id. Exact: nothing within
    /// the radius is missed.
    pub fn query(&self, query: &Hash256, radius: u32) -> Vec<(u64, u32)> {
        let found = match &self.tables {
            Some(tables) if radius <= MIH_MAX_RADIUS => {
                dispatch_probe(tables, &self.hashes, query, radius)
            }
            _ => dispatch_scan(&self.hashes, query, radius),
        };
        self.finish(found)
    }

    /// The same answer as [`HammingIndex::query`], always by a full scan.
    /// Slower on large indexes; kept as the reference the tables are checked
    /// against and for benchmarks.
    pub fn query_brute_force(&self, query: &Hash256, radius: u32) -> Vec<(u64, u32)> {
        self.finish(dispatch_scan(&self.hashes, query, radius))
    }

    fn finish(&self, mut found: Vec<(u32, u32)>) -> Vec<(u64, u32)> {
        found.sort_unstable();
        found.dedup();
        let mut out: Vec<(u64, u32)> = found
            .into_iter()
            .map(|(slot, d)| (self.ids[slot as usize], d))
            .collect();
        out.sort_unstable_by_key(|&(id, d)| (d, id));
        out
    }

    fn push_entry(&mut self, id: u64, hash: Hash256) -> Result<u32, HashError> {
        if self.slot_of.contains_key(&id) {
            return Err(HashError::DuplicateId { id });
        }
        let slot = u32::try_from(self.hashes.len())
            .ok()
            .filter(|&s| s < u32::MAX)
            .ok_or(HashError::IndexFull {
                limit: u64::from(u32::MAX),
            })?;
        self.hashes.push(hash);
        self.ids.push(id);
        self.slot_of.insert(id, slot);
        Ok(slot)
    }

    /// (Re)builds the tables with exact bucket capacities once the index is
    /// large enough to profit from them.
    fn rebuild_tables(&mut self) {
        if self.hashes.len() < MIH_MIN_LEN {
            self.tables = None;
            return;
        }
        let mut tables = Vec::with_capacity(CHUNKS);
        for t in 0..CHUNKS {
            let mut counts = vec![0usize; BUCKETS];
            for h in &self.hashes {
                counts[chunk(h, t)] += 1;
            }
            let mut table: Vec<Vec<u32>> = counts.into_iter().map(Vec::with_capacity).collect();
            for (slot, h) in self.hashes.iter().enumerate() {
                table[chunk(h, t)].push(slot as u32);
            }
            tables.push(table);
        }
        self.tables = Some(tables);
    }

    /// Writes the index in the format described in the module docs.
    pub fn save<W: Write>(&self, mut writer: W) -> Result<(), HashError> {
        let mut crc = crc32fast::Hasher::new();
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&INDEX_FORMAT_VERSION.to_le_bytes());
        header[12] = self.kind.code();
        header[16..24].copy_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        crc.update(&header);
        writer.write_all(&header)?;

        let mut buf = Vec::with_capacity(ENTRY_LEN * 4096);
        for (ids, hashes) in self.ids.chunks(4096).zip(self.hashes.chunks(4096)) {
            buf.clear();
            for (id, h) in ids.iter().zip(hashes) {
                buf.extend_from_slice(&id.to_le_bytes());
                for w in h.0 {
                    buf.extend_from_slice(&w.to_le_bytes());
                }
            }
            crc.update(&buf);
            writer.write_all(&buf)?;
        }
        writer.write_all(&crc.finalize().to_le_bytes())?;
        writer.flush()?;
        Ok(())
    }

    /// Reads an index written by [`HammingIndex::save`]. A foreign file, an
    /// unsupported version, a truncated or corrupted file is refused.
    pub fn load<R: Read>(mut reader: R) -> Result<HammingIndex, HashError> {
        let mut crc = crc32fast::Hasher::new();
        let mut header = [0u8; HEADER_LEN];
        let got = read_up_to(&mut reader, &mut header)?;
        if got < 8 || header[..8] != MAGIC {
            let mut found = [0u8; 8];
            found[..got.min(8)].copy_from_slice(&header[..got.min(8)]);
            return Err(HashError::BadMagic { found });
        }
        if got < HEADER_LEN {
            return Err(truncated(got));
        }
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if !(INDEX_FORMAT_OLDEST..=INDEX_FORMAT_VERSION).contains(&version) {
            return Err(HashError::UnsupportedVersion {
                found: version,
                oldest: INDEX_FORMAT_OLDEST,
                current: INDEX_FORMAT_VERSION,
            });
        }
        let kind = HashKind::from_code(header[12]).ok_or_else(|| HashError::Malformed {
            reason: format!("unknown hash kind code {}", header[12]),
        })?;
        let mut count_bytes = [0u8; 8];
        count_bytes.copy_from_slice(&header[16..24]);
        let count = u64::from_le_bytes(count_bytes);
        crc.update(&header);

        let mut index = HammingIndex::new(kind);
        // Never trust the count for allocation: a corrupt header must not
        // exhaust memory before the checksum is checked.
        let first = count.min(1 << 20) as usize;
        index.hashes.reserve(first);
        index.ids.reserve(first);
        let mut buf = vec![0u8; ENTRY_LEN * 4096];
        let mut remaining = count;
        let mut offset = HEADER_LEN as u64;
        while remaining > 0 {
            let n = remaining.min(4096) as usize;
            let bytes = &mut buf[..n * ENTRY_LEN];
            let got = read_up_to(&mut reader, bytes)?;
            if got < bytes.len() {
                return Err(truncated(offset as usize + got));
            }
            crc.update(bytes);
            for e in bytes.chunks_exact(ENTRY_LEN) {
                let word = |k: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&e[k * 8..k * 8 + 8]);
                    u64::from_le_bytes(w)
                };
                index.ids.push(word(0));
                index
                    .hashes
                    .push(Hash256([word(1), word(2), word(3), word(4)]));
            }
            remaining -= n as u64;
            offset += bytes.len() as u64;
        }
        let mut stored = [0u8; 4];
        if read_up_to(&mut reader, &mut stored)? < 4 {
            return Err(truncated(offset as usize));
        }
        let stored = u32::from_le_bytes(stored);
        let computed = crc.finalize();
        if stored != computed {
            return Err(HashError::ChecksumMismatch { stored, computed });
        }
        index.slot_of.reserve(index.ids.len());
        for (slot, &id) in index.ids.iter().enumerate() {
            if index.slot_of.insert(id, slot as u32).is_some() {
                return Err(HashError::Malformed {
                    reason: format!("id {id} appears twice"),
                });
            }
        }
        index.rebuild_tables();
        Ok(index)
    }
}

fn truncated(at: usize) -> HashError {
    HashError::Malformed {
        reason: format!("file is truncated after {at} bytes"),
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, HashError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

// ---- search kernels -------------------------------------------------------
//
// The kernels are written once as `#[inline(always)]` functions and compiled
// twice: for the baseline target, and with the `popcnt` instruction enabled
// for CPUs that have it (checked at run time). Without `popcnt`, count_ones
// falls back to a much slower bit-twiddling sequence.

/// Entries compared per block in a scan; the distances of a block are
/// computed branch-free so the compiler can vectorise them.
const SCAN_BLOCK: usize = 64;

#[inline(always)]
fn scan_kernel(hashes: &[Hash256], query: &Hash256, radius: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut dist = [0u32; SCAN_BLOCK];
    for (b, block) in hashes.chunks(SCAN_BLOCK).enumerate() {
        for (d, h) in dist.iter_mut().zip(block) {
            *d = h.distance(query);
        }
        for (i, &d) in dist[..block.len()].iter().enumerate() {
            if d <= radius {
                out.push(((b * SCAN_BLOCK + i) as u32, d));
            }
        }
    }
    out
}

/// How many bucket entries ahead the probe prefetches hashes; the slots in a
/// bucket point all over memory, so each check is otherwise a cache miss.
const PREFETCH_AHEAD: usize = 8;

#[inline(always)]
fn prefetch(hash: &Hash256) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint and never faults; the pointer comes
        // from a live reference, and SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((hash as *const Hash256).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = hash;
}

#[inline(always)]
fn probe_kernel(
    tables: &[Vec<Vec<u32>>],
    hashes: &[Hash256],
    query: &Hash256,
    radius: u32,
) -> Vec<(u32, u32)> {
    let chunk_radius = radius / CHUNKS as u32;
    let mut out = Vec::new();
    let mut visit = |bucket: &[u32]| {
        for (i, &slot) in bucket.iter().enumerate() {
            if let Some(&ahead) = bucket.get(i + PREFETCH_AHEAD) {
                prefetch(&hashes[ahead as usize]);
            }
            let d = hashes[slot as usize].distance(query);
            if d <= radius {
                out.push((slot, d));
            }
        }
    };
    for (t, table) in tables.iter().enumerate() {
        let key = chunk(query, t);
        visit(&table[key]);
        if chunk_radius >= 1 {
            for b1 in 0..16 {
                let k1 = key ^ (1 << b1);
                visit(&table[k1]);
                if chunk_radius >= 2 {
                    for b2 in b1 + 1..16 {
                        visit(&table[k1 ^ (1 << b2)]);
                    }
                }
            }
        }
    }
    out
}

fn dispatch_scan(hashes: &[Hash256], query: &Hash256, radius: u32) -> Vec<(u32, u32)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, checked on the line above.
            return unsafe { scan_popcnt(hashes, query, radius) };
        }
    }
    scan_kernel(hashes, query, radius)
}

fn dispatch_probe(
    tables: &[Vec<Vec<u32>>],
    hashes: &[Hash256],
    query: &Hash256,
    radius: u32,
) -> Vec<(u32, u32)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, checked on the line above.
            return unsafe { probe_popcnt(tables, hashes, query, radius) };
        }
    }
    probe_kernel(tables, hashes, query, radius)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn scan_popcnt(hashes: &[Hash256], query: &Hash256, radius: u32) -> Vec<(u32, u32)> {
    scan_kernel(hashes, query, radius)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn probe_popcnt(
    tables: &[Vec<Vec<u32>>],
    hashes: &[Hash256],
    query: &Hash256,
    radius: u32,
) -> Vec<(u32, u32)> {
    probe_kernel(tables, hashes, query, radius)
}
