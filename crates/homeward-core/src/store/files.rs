//! Content-addressed photo files: `photos/ab/cdef…` named by SHA-256.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::StoreError;

/// SHA-256 of `bytes`: the name of a photo's file.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The content-addressed photo files under one root directory
/// (`<root>/photos/ab/cdef…`, `<root>/tmp/`). Shared by every store
/// implementation: [`super::Registry`] keeps them beside its database, a
/// server-backed store under a configured root.
#[derive(Debug)]
pub struct PhotoFiles {
    photos: PathBuf,
    tmp: PathBuf,
}

/// Makes a directory's entries durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

impl PhotoFiles {
    /// Opens (creating if needed) the photo files under `dir`.
    pub fn new(dir: &Path) -> Result<Self, StoreError> {
        let photos = dir.join("photos");
        let tmp = dir.join("tmp");
        for d in [&photos, &tmp] {
            fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
        }
        Ok(PhotoFiles { photos, tmp })
    }

    /// Path of the file holding content `h`.
    pub fn path(&self, h: &[u8; 32]) -> PathBuf {
        let x = hex(h);
        self.photos.join(&x[..2]).join(&x[2..])
    }

    /// Makes `bytes` durable under their hash: temp file, fsync, rename,
    /// fsync of the directories. Idempotent.
    pub fn put(&self, h: &[u8; 32], bytes: &[u8]) -> Result<(), StoreError> {
        let dest = self.path(h);
        if dest.exists() {
            return Ok(());
        }
        let shard = dest.parent().unwrap_or(&self.photos).to_path_buf();
        let new_shard = !shard.exists();
        fs::create_dir_all(&shard).map_err(|e| StoreError::io(&shard, e))?;
        let tmp = self
            .tmp
            .join(format!("{}.{}", hex(&h[..8]), std::process::id()));
        {
            let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
            f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
        }
        fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
        fsync_dir(&shard)?;
        if new_shard {
            fsync_dir(&self.photos)?;
        }
        Ok(())
    }

    /// Removes the file of `h` if present.
    pub fn remove(&self, h: &[u8; 32]) -> Result<(), StoreError> {
        let p = self.path(h);
        match fs::remove_file(&p) {
            Ok(()) => {
                if let Some(parent) = p.parent() {
                    fsync_dir(parent)?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(p, e)),
        }
    }

    /// Empties `tmp/` (files of interrupted writes).
    pub fn clear_tmp(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for e in fs::read_dir(&self.tmp)
            .map_err(|e| StoreError::io(&self.tmp, e))?
            .flatten()
        {
            let p = e.path();
            fs::remove_file(&p).map_err(|err| StoreError::io(&p, err))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every stored content hash (files with other names are ignored).
    pub fn list(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.photos)
            .map_err(|e| StoreError::io(&self.photos, e))?
            .flatten()
        {
            let sname = shard.file_name().to_string_lossy().into_owned();
            if sname.len() != 2 || !shard.path().is_dir() {
                continue;
            }
            let sp = shard.path();
            for f in fs::read_dir(&sp)
                .map_err(|e| StoreError::io(&sp, e))?
                .flatten()
            {
                let name = format!("{sname}{}", f.file_name().to_string_lossy());
                if let Some(h) = unhex(&name) {
                    out.push(h);
                }
            }
        }
        Ok(out)
    }

    /// Removes every stored file whose hash is not in `referenced`.
    pub fn remove_orphans(&self, referenced: &HashSet<[u8; 32]>) -> Result<usize, StoreError> {
        let mut n = 0;
        for h in self.list()? {
            if !referenced.contains(&h) {
                self.remove(&h)?;
                n += 1;
            }
        }
        Ok(n)
    }
}
