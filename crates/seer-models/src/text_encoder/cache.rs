//! Embedding cache on disk: vectors keyed by the encoder's fingerprint and a hash of the text,
//! so re-running never re-embeds unchanged items.
//!
//! One append-only file per model, `DIR/<fingerprint>.emb`: an 16-byte header (`SEEREMB1`, the
//! dimension as little-endian u32, 4 reserved bytes), then records of the first 16 bytes of the
//! text's SHA-256 followed by `dim` little-endian f32. New vectors are appended and synced in
//! [`EmbeddingCache::flush`]; a record cut short by a crash is ignored on the next open (and
//! overwritten by the next append), so the file never needs repair.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::TextEncoder;
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SEEREMB1";
const HEADER: usize = 16;
const KEY: usize = 16;

/// The key of a text: the first 16 bytes of its SHA-256.
fn key(text: &str) -> [u8; KEY] {
    let d = Sha256::digest(text.as_bytes());
    let mut k = [0u8; KEY];
    k.copy_from_slice(&d[..KEY]);
    k
}

/// Cached embeddings of one encoder, loaded into memory, with new ones appended on flush.
#[derive(Debug)]
pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    index: HashMap<[u8; KEY], usize>,
    vectors: Vec<f32>,
    /// Records at `index` positions `>= flushed` are not on disk yet.
    flushed: usize,
    /// File length covering whole records only (a torn tail is overwritten).
    valid_len: u64,
    /// Keys added since the last flush, in order.
    pending: Vec<[u8; KEY]>,
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EmbeddingCache {
    /// Opens (or creates) the cache of `encoder` in `dir`.
    pub fn open(dir: &Path, encoder: &TextEncoder) -> Result<EmbeddingCache> {
        Self::open_raw(dir, encoder.fingerprint(), encoder.dim())
    }

    /// Opens the cache file `dir/<fingerprint>.emb` for vectors of `dim` floats.
    pub fn open_raw(dir: &Path, fingerprint: &str, dim: usize) -> Result<EmbeddingCache> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let path = dir.join(format!("{fingerprint}.emb"));
        let mut cache = EmbeddingCache {
            path: path.clone(),
            dim,
            index: HashMap::new(),
            vectors: Vec::new(),
            flushed: 0,
            valid_len: HEADER as u64,
            pending: Vec::new(),
        };
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(e) => return Err(io_err(&path, e)),
        }
        if bytes.len() < HEADER {
            // A header cut short by a crash: start over.
            return Ok(cache);
        }
        let found = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if &bytes[..8] != MAGIC || found != dim {
            return Err(Error::BadModelFile {
                path,
                message: format!(
                    "not an embedding cache of {dim}-dimensional vectors (header {:?}, dim {found}); \
                     delete it to start a new cache",
                    String::from_utf8_lossy(&bytes[..8])
                ),
            });
        }
        let rec = KEY + 4 * dim;
        for r in bytes[HEADER..].chunks_exact(rec) {
            let mut k = [0u8; KEY];
            k.copy_from_slice(&r[..KEY]);
            let slot = cache.index.len();
            if cache.index.insert(k, slot).is_some() {
                // Duplicate records are harmless; keep the first.
                continue;
            }
            cache.vectors.extend(
                r[KEY..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        cache.flushed = cache.index.len();
        cache.valid_len = (HEADER + (bytes.len() - HEADER) / rec * rec) as u64;
        Ok(cache)
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds no vector.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The file backing the cache.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached vector of `text`.
    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.index
            .get(&key(text))
            .map(|&s| &self.vectors[s * self.dim..(s + 1) * self.dim])
    }

    /// Adds the vector of `text` (kept in memory until [`Self::flush`]).
    pub fn insert(&mut self, text: &str, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        let k = key(text);
        if self.index.contains_key(&k) {
            return;
        }
        self.index.insert(k, self.index.len());
        self.vectors.extend_from_slice(vector);
        self.pending.push(k);
    }

    /// Appends the vectors added since the last flush to the file and syncs it.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut buf = Vec::with_capacity(HEADER + self.pending.len() * (KEY + 4 * self.dim));
        if self.valid_len == HEADER as u64 && self.flushed == 0 {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&(self.dim as u32).to_le_bytes());
            buf.extend_from_slice(&[0u8; 4]);
            f.seek(SeekFrom::Start(0)).map_err(|e| io_err(&path, e))?;
        } else {
            f.seek(SeekFrom::Start(self.valid_len))
                .map_err(|e| io_err(&path, e))?;
        }
        for k in &self.pending {
            let s = self.index[k];
            buf.extend_from_slice(k);
            for v in &self.vectors[s * self.dim..(s + 1) * self.dim] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        f.write_all(&buf).map_err(|e| io_err(&path, e))?;
        f.sync_data().map_err(|e| io_err(&path, e))?;
        self.valid_len = f.stream_position().map_err(|e| io_err(&path, e))?;
        self.flushed = self.index.len();
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_reopening_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open_raw(dir.path(), "abc", 3).unwrap();
        assert!(c.is_empty() && c.get("x").is_none());
        c.insert("x", &[1.0, 2.0, 3.0]);
        c.insert("y", &[4.0, 5.0, 6.0]);
        c.insert("x", &[9.0, 9.0, 9.0]); // already there: kept as first given
        c.flush().unwrap();
        let mut c = EmbeddingCache::open_raw(dir.path(), "abc", 3).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("x").unwrap(), &[1.0, 2.0, 3.0]);
        c.insert("z", &[7.0, 8.0, 9.0]);
        c.flush().unwrap();
        // A crash in the middle of an append leaves a partial record: ignored, then overwritten.
        let path = c.path().to_path_buf();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        let mut c = EmbeddingCache::open_raw(dir.path(), "abc", 3).unwrap();
        assert_eq!(c.len(), 3);
        c.insert("w", &[0.5, 0.5, 0.5]);
        c.flush().unwrap();
        let c = EmbeddingCache::open_raw(dir.path(), "abc", 3).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c.get("z").unwrap(), &[7.0, 8.0, 9.0]);
        assert_eq!(c.get("w").unwrap(), &[0.5, 0.5, 0.5]);
        // Another model's fingerprint is another file; a wrong dimension is refused.
        assert!(EmbeddingCache::open_raw(dir.path(), "def", 3)
            .unwrap()
            .is_empty());
        let err = EmbeddingCache::open_raw(dir.path(), "abc", 4).unwrap_err();
        assert!(err.to_string().contains("delete it"), "{err}");
    }
}
