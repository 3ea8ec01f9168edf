//! Versioned, checksummed snapshots of an [`HnswIndex`].
//!
//! Layout under a snapshot root directory:
//!
//! ```text
//! <root>/snapshot.hwx          header (below), replaced atomically by rename
//! <root>/snap-<seq>/faces.hnsw.graph   graph file (below)
//! <root>/snap-<seq>/faces.hnsw.data    data file (below)
//! ```
//!
//! Both dump files are flat arrays in native byte order (recorded in the
//! header), read with one pass each and no parsing beyond range checks:
//!
//! ```text
//! graph: u32 n, u32 m, u32 entry node, u32 top layer, u64 upper length U,
//!        u8 level[n] (zero-padded to 4), u32 upper_offset[n], u32 upper[U],
//!        u32 layer0[n][1 + 2m]     each list: count, then neighbour nodes
//!        (upper lists of node i: level[i] lists of 1 + m words at upper_offset[i])
//! data:  f32 vector[n][dim], u32 id[n]
//! ```
//!
//! Header, little-endian, 96 bytes plus two names:
//!
//! ```text
//! off len field
//!   0   8 magic "HWFACEIX"
//!   8   4 format version (u32)
//!  12   1 width of a graph word in bytes (4)
//!  13   1 byte order of the dump files (1 = little-endian)
//!  14   2 reserved, zero
//!  16   4 dimension (the model's: 128 for dlib and SFace, 1..=MAX_DIM)
//!  20   4 distance (1 = Euclidean)
//!  24   4 m           28 4 ef_construction   32 4 ef_search   36 4 reserved
//!  40   8 count of vectors
//!  48   8 largest vector id included (store rows above it are added on load)
//!  56   8 store erase generation at save time (any erasure since => stale)
//!  64   8 graph file length     72 8 data file length
//!  80   4 graph file CRC-32     84 4 data file CRC-32
//!  88   4 directory name length 92 4 basename length
//!  96   .. directory name, basename (UTF-8)
//!   end 4 CRC-32 of every byte before it
//! ```

use std::fs::{self, File};
use std::io::Write;

use super::hnsw::FileSum;
use std::path::{Path, PathBuf};

use super::{HnswIndex, HnswParams, IndexError, VectorIndex, MAX_DIM};

/// Current snapshot format version.
///
/// Version 1 held hnsw_rs dumps; version 2 holds our own flat-array graph.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
/// Oldest snapshot format this build reads (a version 1 snapshot is
/// refused, and the registry rebuilds the index from the store).
pub const SNAPSHOT_OLDEST_READABLE: u32 = 2;

const MAGIC: &[u8; 8] = b"HWFACEIX";
const HEADER_NAME: &str = "snapshot.hwx";
const BASENAME: &str = "faces";
const DISTANCE_L2: u32 = 1;
const FIXED: usize = 96;
/// Bytes per graph word (u32 node numbers).
const GRAPH_WORD: u8 = 4;
/// Widest search beam (`ef_construction`, `ef_search`) a header may give:
/// every search allocates its beam up front, and no index of ours needs
/// more than a few hundred.
const MAX_EF: u32 = 1 << 16;

/// What a snapshot header records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Number of vectors in the snapshot.
    pub count: u64,
    /// Length of every vector (its model's dimension).
    pub dim: usize,
    /// Largest vector id in the snapshot.
    pub max_id: u64,
    /// The store's erase generation when it was written.
    pub erase_generation: u64,
    /// Graph parameters.
    pub params: HnswParams,
    /// Subdirectory that holds the dump files.
    pub dir_name: String,
    basename: String,
    graph_len: u64,
    data_len: u64,
    graph_crc: u32,
    data_crc: u32,
}

fn header_path(root: &Path) -> PathBuf {
    root.join(HEADER_NAME)
}

fn fsync_dir(dir: &Path) -> Result<(), IndexError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::io(dir, e))
}

fn encode(info: &SnapshotInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(FIXED + 64);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    b.push(GRAPH_WORD);
    b.push(u8::from(cfg!(target_endian = "little")));
    b.extend_from_slice(&[0, 0]);
    for v in [
        info.dim as u32,
        DISTANCE_L2,
        info.params.m as u32,
        info.params.ef_construction as u32,
        info.params.ef_search as u32,
        0,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in [
        info.count,
        info.max_id,
        info.erase_generation,
        info.graph_len,
        info.data_len,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&info.graph_crc.to_le_bytes());
    b.extend_from_slice(&info.data_crc.to_le_bytes());
    b.extend_from_slice(&(info.dir_name.len() as u32).to_le_bytes());
    b.extend_from_slice(&(info.basename.len() as u32).to_le_bytes());
    b.extend_from_slice(info.dir_name.as_bytes());
    b.extend_from_slice(info.basename.as_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Reads and checks a snapshot header (not the files it names).
pub(crate) fn read_header(root: &Path) -> Result<SnapshotInfo, IndexError> {
    let path = header_path(root);
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IndexError::NoSnapshot { path })
        }
        Err(e) => return Err(IndexError::io(path, e)),
    };
    if b.len() < 12 || &b[..8] != MAGIC {
        return Err(IndexError::NotASnapshot { path });
    }
    let version = u32_at(&b, 8);
    if !(SNAPSHOT_OLDEST_READABLE..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
        return Err(IndexError::Incompatible {
            path,
            found: version,
            oldest: SNAPSHOT_OLDEST_READABLE,
            current: SNAPSHOT_FORMAT_VERSION,
        });
    }
    let corrupt = |what: &str| IndexError::Corrupt {
        path: header_path(root),
        what: what.to_string(),
    };
    if b.len() < FIXED + 4 {
        return Err(corrupt("header truncated"));
    }
    let body = &b[..b.len() - 4];
    if crc32fast::hash(body) != u32_at(&b, b.len() - 4) {
        return Err(corrupt("header checksum mismatch"));
    }
    if b[12] != GRAPH_WORD || b[13] != u8::from(cfg!(target_endian = "little")) {
        return Err(corrupt(
            "written on a machine with another word size or byte order",
        ));
    }
    let dim = u32_at(&b, 16) as usize;
    if !(1..=MAX_DIM).contains(&dim) || u32_at(&b, 20) != DISTANCE_L2 {
        return Err(corrupt(&format!(
            "dimension {dim} or distance {} is not one this build reads \
             (dimensions 1..={MAX_DIM}, distance 1 = Euclidean)",
            u32_at(&b, 20)
        )));
    }
    // The data file is exactly count vectors of dim numbers plus count ids:
    // a header whose count and dimension do not fit the length it gives is
    // refused here, before anything is sized from either.
    let (count, data_len) = (u64_at(&b, 40), u64_at(&b, 72));
    let want = u128::from(count) * (dim as u128 + 1) * 4;
    if want != u128::from(data_len) || count > u64::from(u32::MAX) {
        return Err(corrupt(&format!(
            "{count} vectors of {dim} numbers do not fit a data file of {data_len} bytes"
        )));
    }
    let (m, efc, efs) = (u32_at(&b, 24), u32_at(&b, 28), u32_at(&b, 32));
    if !(2..=255).contains(&m) || !(1..=MAX_EF).contains(&efc) || !(1..=MAX_EF).contains(&efs) {
        return Err(corrupt(&format!(
            "graph parameters out of range (m {m}, search widths {efc} and {efs}; \
             m is 2..=255 and the widths 1..={MAX_EF})"
        )));
    }
    let dn = u32_at(&b, 88) as usize;
    let bn = u32_at(&b, 92) as usize;
    if FIXED + dn + bn + 4 != b.len() {
        return Err(corrupt("name lengths do not match header size"));
    }
    let dir_name =
        String::from_utf8(b[FIXED..FIXED + dn].to_vec()).map_err(|_| corrupt("directory name"))?;
    let basename = String::from_utf8(b[FIXED + dn..FIXED + dn + bn].to_vec())
        .map_err(|_| corrupt("basename"))?;
    if dir_name.contains(['/', '\\']) || dir_name.starts_with('.') || basename.contains(['/', '\\'])
    {
        return Err(corrupt("names must be plain file names"));
    }
    Ok(SnapshotInfo {
        count,
        dim,
        max_id: u64_at(&b, 48),
        erase_generation: u64_at(&b, 56),
        params: HnswParams {
            m: m as usize,
            ef_construction: efc as usize,
            ef_search: efs as usize,
        },
        dir_name,
        basename,
        graph_len: u64_at(&b, 64),
        data_len,
        graph_crc: u32_at(&b, 80),
        data_crc: u32_at(&b, 84),
    })
}

/// Writes `index` (which must hold no tombstones) as the new snapshot under
/// `root`, atomically replacing any previous one.
pub(crate) fn save(
    index: &HnswIndex,
    root: &Path,
    erase_generation: u64,
) -> Result<SnapshotInfo, IndexError> {
    fs::create_dir_all(root).map_err(|e| IndexError::io(root, e))?;
    let seq = match read_header(root) {
        Ok(h) => {
            h.dir_name
                .trim_start_matches("snap-")
                .parse::<u64>()
                .unwrap_or(0)
                + 1
        }
        Err(_) => 1,
    };
    let dir_name = format!("snap-{seq:08}");
    let tmp = root.join(format!("{dir_name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    let (gsum, dsum) = index.dump(&tmp, BASENAME)?;
    let basename = BASENAME.to_string();
    fsync_dir(&tmp)?;
    let (graph_len, graph_crc) = (gsum.len, gsum.crc);
    let (data_len, data_crc) = (dsum.len, dsum.crc);
    let final_dir = root.join(&dir_name);
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(|e| IndexError::io(&final_dir, e))?;
    }
    fs::rename(&tmp, &final_dir).map_err(|e| IndexError::io(&final_dir, e))?;
    fsync_dir(root)?;
    let info = SnapshotInfo {
        count: index.len() as u64,
        dim: index.dim(),
        max_id: index.live_ids().last().copied().unwrap_or(0),
        erase_generation,
        params: index.params(),
        dir_name,
        basename,
        graph_len,
        data_len,
        graph_crc,
        data_crc,
    };
    let hp = header_path(root);
    let htmp = root.join(format!("{HEADER_NAME}.tmp"));
    {
        let mut f = File::create(&htmp).map_err(|e| IndexError::io(&htmp, e))?;
        f.write_all(&encode(&info))
            .map_err(|e| IndexError::io(&htmp, e))?;
        f.sync_all().map_err(|e| IndexError::io(&htmp, e))?;
    }
    fs::rename(&htmp, &hp).map_err(|e| IndexError::io(&hp, e))?;
    fsync_dir(root)?;
    remove_others(root, Some(&info.dir_name))?;
    Ok(info)
}

/// Removes every snapshot directory and temporary file under `root` except
/// `keep` (the one the header names).
pub(crate) fn remove_others(root: &Path, keep: Option<&str>) -> Result<(), IndexError> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stray = name.starts_with("snap-") && Some(name.as_str()) != keep;
        let tmp = name.ends_with(".tmp");
        if stray || tmp {
            let p = e.path();
            let r = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(|err| IndexError::io(&p, err))?;
        }
    }
    Ok(())
}

/// Removes the whole snapshot (header first, so a crash leaves no header
/// naming a half-deleted directory).
pub(crate) fn delete(root: &Path) -> Result<(), IndexError> {
    let hp = header_path(root);
    match fs::remove_file(&hp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IndexError::io(hp, e)),
    }
    if root.exists() {
        fsync_dir(root)?;
    }
    remove_others(root, None)
}

/// Loads the snapshot of `model`'s `dim`-long vectors under `root` after
/// checking header, dimension, file lengths and checksums, and that it was
/// written at `erase_generation`. `store_max_id` is the store's largest
/// face id (`None` for no faces): a snapshot holding a larger id is stale,
/// and is refused before that id sizes any table.
pub(crate) fn load(
    root: &Path,
    model: &str,
    dim: usize,
    erase_generation: u64,
    store_max_id: Option<u64>,
) -> Result<(HnswIndex, SnapshotInfo), IndexError> {
    let info = read_header(root)?;
    remove_others(root, Some(&info.dir_name))?;
    if info.dim != dim {
        return Err(IndexError::SnapshotDimension {
            path: header_path(root),
            model: model.to_string(),
            expected: dim,
            found: info.dim,
        });
    }
    if info.erase_generation != erase_generation {
        return Err(IndexError::Stale {
            what: format!(
                "written at erase generation {}, store is at {}",
                info.erase_generation, erase_generation
            ),
        });
    }
    let dir = root.join(&info.dir_name);
    let sums = (
        FileSum {
            len: info.graph_len,
            crc: info.graph_crc,
        },
        FileSum {
            len: info.data_len,
            crc: info.data_crc,
        },
    );
    let idx = HnswIndex::load(
        &dir,
        &info.basename,
        model,
        dim,
        info.params,
        sums,
        store_max_id,
    )?;
    if idx.len() as u64 != info.count {
        return Err(IndexError::Corrupt {
            path: dir,
            what: format!("{} vectors loaded, header says {}", idx.len(), info.count),
        });
    }
    Ok((idx, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{FaceIndex, FaceMeta, SearchFilter, DIM};
    use crate::rules::{CaseStatus, Sex};

    fn meta() -> FaceMeta {
        FaceMeta {
            case_id: 1,
            sex: Sex::Unknown,
            birth_year: None,
            location: None,
            status: CaseStatus::Searching,
        }
    }

    #[test]
    fn an_id_beyond_the_store_is_refused_before_it_sizes_the_id_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = FaceIndex::new(HnswParams::default());
        for id in 1..=3u64 {
            let mut v = [0f32; DIM];
            v[id as usize] = 1.0;
            index.insert(id, &v, meta()).unwrap();
        }
        index.save(dir.path(), 0).unwrap();
        // Rewrite the last id as 2^30 (a 1 GiB id table) with valid checksums,
        // as a corrupt or hostile snapshot could.
        let mut info = read_header(dir.path()).unwrap();
        let data = dir
            .path()
            .join(&info.dir_name)
            .join(format!("{}.hnsw.data", info.basename));
        let mut bytes = fs::read(&data).unwrap();
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&(1u32 << 30).to_ne_bytes());
        fs::write(&data, &bytes).unwrap();
        info.data_crc = crc32fast::hash(&bytes);
        fs::write(header_path(dir.path()), encode(&info)).unwrap();
        let metas = (1..=3).map(|id| (id, meta())).collect();
        let err = FaceIndex::load(dir.path(), 0, metas).unwrap_err();
        assert!(
            matches!(&err, IndexError::Stale { what } if what.contains("store does not have")),
            "{err}"
        );
    }

    #[test]
    fn a_search_width_no_index_needs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = FaceIndex::new(HnswParams::default());
        index.insert(1, &[0.5; DIM], meta()).unwrap();
        index.save(dir.path(), 0).unwrap();
        // A header with a valid checksum asking every search for a beam of
        // 4 billion candidates (64 GiB allocated up front).
        let mut info = read_header(dir.path()).unwrap();
        info.params.ef_search = u32::MAX as usize;
        fs::write(header_path(dir.path()), encode(&info)).unwrap();
        let err = FaceIndex::load(dir.path(), 0, vec![(1, meta())]).unwrap_err();
        assert!(
            matches!(&err, IndexError::Corrupt { what, .. } if what.contains("out of range")),
            "{err}"
        );
    }

    #[test]
    fn a_512_d_snapshot_reads_back_and_is_refused_for_a_model_of_another_dimension() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = FaceIndex::for_model("wide", 512, HnswParams::default()).unwrap();
        for id in 1..=5u64 {
            let mut v = [0f32; 512];
            v[id as usize * 100] = 1.0;
            index.insert(id, &v, meta()).unwrap();
        }
        let info = index.save(dir.path(), 3).unwrap();
        assert_eq!(info.dim, 512);
        assert_eq!(read_header(dir.path()).unwrap().dim, 512);
        let metas: Vec<_> = (1..=5).map(|id| (id, meta())).collect();
        let (back, newer) =
            FaceIndex::load_model(dir.path(), "wide", 512, 3, metas.clone()).unwrap();
        assert!(newer.is_empty());
        assert_eq!((back.dim(), back.model(), back.len()), (512, "wide", 5));
        let mut q = [0f32; 512];
        q[300] = 1.0;
        let hits = back.search(&q, &SearchFilter::default(), 1).unwrap();
        assert_eq!(hits[0].id, 3);
        // The same snapshot for a 128-d model (dlib, or "wide" at another
        // dimension): refused by the header, naming both dimensions.
        for (model, dim) in [("dlib", DIM), ("wide", 256)] {
            let err = FaceIndex::load_model(dir.path(), model, dim, 3, metas.clone()).unwrap_err();
            assert!(
                matches!(&err, IndexError::SnapshotDimension { expected, found: 512, .. }
                    if *expected == dim),
                "{err}"
            );
            assert!(err.to_string().contains("rebuilt"), "{err}");
        }
    }

    #[test]
    fn a_header_whose_count_and_dimension_do_not_fit_the_data_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = FaceIndex::new(HnswParams::default());
        index.insert(1, &[0.5; DIM], meta()).unwrap();
        index.save(dir.path(), 0).unwrap();
        let good = read_header(dir.path()).unwrap();
        // Valid checksums, but a count or dimension that would size
        // gigabytes from a file of a few hundred bytes.
        for (count, dim) in [
            (1u64 << 31, DIM),
            (1, 4096),
            (u64::MAX, DIM),
            (1, 0),
            (1, 1 << 20),
        ] {
            let mut info = good.clone();
            info.count = count;
            info.dim = dim;
            fs::write(header_path(dir.path()), encode(&info)).unwrap();
            let err = read_header(dir.path()).unwrap_err();
            assert!(
                matches!(err, IndexError::Corrupt { .. }),
                "{count} × {dim}: {err}"
            );
        }
    }
}
