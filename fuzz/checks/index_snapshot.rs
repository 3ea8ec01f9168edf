//! The `index_snapshot` target's run and checks, shared by the fuzz target
//! and its corpus replay (`crates/homeward-core/tests/fuzz_corpus.rs`).
//!
//! A snapshot is three files, so an input is framed as:
//!
//! ```text
//! byte 0        flags: bit 0 = make the lengths and checksums valid
//! bytes 1..3    header length h (u16 LE)
//! bytes 3..7    graph file length g (u32 LE)
//! then          h header bytes, g graph bytes, the rest is the data file
//! ```
//!
//! (lengths are clamped to what the input holds). With bit 0 set, the
//! header's file lengths, the files' CRC-32s and the header's own CRC-32 are
//! rewritten to match, so that inputs get past the checksums to the parsers.
//! The files are written where the header says (or `snap-00000001/faces`
//! when its names are unusable) and loaded with `FaceIndex::load_model` at
//! the dimension the header gives (dlib's 128 when it gives none an index
//! holds), the store holding the faces whose ids the data file lists (when
//! they are small).
//! Nothing panics; a loaded index holds no more vectors than the data file,
//! and a search on it returns only those ids.

use std::path::Path;

use homeward_core::index::{FaceIndex, FaceMeta, IndexError, VectorIndex, DIM, MAX_DIM};
use homeward_core::{CaseStatus, Sex};

/// Bytes per stored vector in the data file (`dim` f32 and a u32 id).
fn vector_bytes(dim: usize) -> usize {
    dim * 4 + 4
}

/// The dimension the header gives, if an index holds it; else dlib's.
fn dimension(header: &[u8]) -> usize {
    le32(header, 16)
        .map(|d| d as usize)
        .filter(|d| (1..=MAX_DIM).contains(d))
        .unwrap_or(DIM)
}
/// Fixed part of the header, before the names and the trailing CRC-32.
const FIXED: usize = 96;
/// Store ids the simulated store may hold (a store of small row ids).
const STORE_IDS: u32 = 1 << 16;

/// The three files an input describes.
pub struct Layout {
    /// `snapshot.hwx`.
    pub header: Vec<u8>,
    /// `<dir>/<base>.hnsw.graph`.
    pub graph: Vec<u8>,
    /// `<dir>/<base>.hnsw.data`.
    pub data: Vec<u8>,
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Splits an input into the three files, fixing the sums if asked.
pub fn layout(input: &[u8]) -> Layout {
    let flags = input.first().copied().unwrap_or(0);
    let h = input
        .get(1..3)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let g = le32(input, 3).unwrap_or(0) as usize;
    let rest = input.get(7..).unwrap_or(&[]);
    let (header, rest) = rest.split_at(h.min(rest.len()));
    let (graph, data) = rest.split_at(g.min(rest.len()));
    let mut header = header.to_vec();
    if flags & 1 != 0 && header.len() >= FIXED + 4 {
        let body = header.len() - 4;
        header[64..72].copy_from_slice(&(graph.len() as u64).to_le_bytes());
        header[72..80].copy_from_slice(&(data.len() as u64).to_le_bytes());
        header[80..84].copy_from_slice(&crc32fast::hash(graph).to_le_bytes());
        header[84..88].copy_from_slice(&crc32fast::hash(data).to_le_bytes());
        let crc = crc32fast::hash(&header[..body]);
        header[body..].copy_from_slice(&crc.to_le_bytes());
    }
    Layout {
        header,
        graph: graph.to_vec(),
        data: data.to_vec(),
    }
}

/// The directory and base names the header gives, if usable as file names.
fn names(header: &[u8]) -> Option<(String, String)> {
    let dn = le32(header, 88)? as usize;
    let bn = le32(header, 92)? as usize;
    let dir = std::str::from_utf8(header.get(FIXED..FIXED.checked_add(dn)?)?).ok()?;
    let end = FIXED.checked_add(dn)?.checked_add(bn)?;
    let base = std::str::from_utf8(header.get(FIXED + dn..end)?).ok()?;
    let plain = |s: &str| {
        !s.is_empty() && s.len() < 100 && !s.starts_with('.') && !s.contains(['/', '\\', '\0'])
    };
    (plain(dir) && plain(base)).then(|| (dir.to_string(), base.to_string()))
}

/// The ids the data file lists, if it holds whole vectors and all are small.
fn store_ids(data: &[u8], dim: usize) -> Vec<u64> {
    let n = data.len() / vector_bytes(dim);
    if n * vector_bytes(dim) != data.len() {
        return Vec::new();
    }
    let ids: Option<Vec<u64>> = data[n * dim * 4..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .map(|id| (id < STORE_IDS).then_some(u64::from(id)))
        .collect();
    let mut ids = ids.unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Writes the layout under `root` (emptied first) and loads it; checks the
/// result.
pub fn run(input: &[u8], root: &Path) -> Result<usize, IndexError> {
    let files = layout(input);
    if root.exists() {
        std::fs::remove_dir_all(root).expect("clear the scratch directory");
    }
    let (dir, base) =
        names(&files.header).unwrap_or_else(|| ("snap-00000001".to_string(), "faces".to_string()));
    let snap = root.join(&dir);
    std::fs::create_dir_all(&snap).expect("scratch directory");
    std::fs::write(root.join("snapshot.hwx"), &files.header).expect("write header");
    std::fs::write(snap.join(format!("{base}.hnsw.graph")), &files.graph).expect("write graph");
    std::fs::write(snap.join(format!("{base}.hnsw.data")), &files.data).expect("write data");
    let generation = le64(&files.header, 56).unwrap_or(0);
    let meta = FaceMeta {
        case_id: 1,
        sex: Sex::Unknown,
        birth_year: None,
        location: None,
        status: CaseStatus::Searching,
    };
    let dim = dimension(&files.header);
    let ids = store_ids(&files.data, dim);
    let metas = ids.iter().map(|&id| (id, meta)).collect();
    let (index, _newer) = FaceIndex::load_model(root, "fuzz", dim, generation, metas)?;
    assert_eq!(index.dim(), dim);
    let n = files.data.len() / vector_bytes(dim);
    assert!(
        index.len() <= n,
        "{} vectors from a data file of {n}",
        index.len()
    );
    // Search the graph itself (the walk follows every loaded link).
    let mut query = vec![0f32; dim];
    if let Some(first) = files.data.get(..dim * 4) {
        for (q, c) in query.iter_mut().zip(first.chunks_exact(4)) {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            *q = if v.is_finite() { v } else { 0.0 };
        }
    }
    let hits = index
        .graph()
        .search(&query, 10, None)
        .expect("a query of the index's dimension");
    for hit in hits {
        assert!(
            ids.binary_search(&hit.id).is_ok(),
            "search returned id {}",
            hit.id
        );
    }
    Ok(index.len())
}
