//! A [`Dataset`] on disk: a directory of little-endian binary columns and JSON.
//!
//! ```text
//! dataset/
//!   manifest.json       format_version, name, counts, has_timestamps, file list, cleaning report
//!   user.u32 item.u32   one dense index per event
//!   ts.i64 rating.f32   one value per event
//!   context.<k>.u32     codes of context column k (u32::MAX = missing)
//!   context.json        [{name, values}] context vocabularies
//!   users.json items.json   original ids in index order
//!   item_text.json user_attrs.json   [{name, values}]
//! ```
//!
//! Columns are raw little-endian arrays, read back with one `read` + `bytemuck` cast per file,
//! so loading is bound by disk speed. A directory is written into a sibling `NAME.tmp-…` and
//! renamed into place, so a reader never sees a half-written dataset (tantivy swaps its
//! `meta.json` the same way). [`Dataset::load`] checks [`FORMAT_VERSION`] first.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use bytemuck::Pod;
use seer_core::IdMap;
use serde::{Deserialize, Serialize};

use crate::clean::CleaningReport;
use crate::dataset::{CategoricalColumn, Dataset, Interactions, TextColumn};
use crate::error::{Error, Result};

/// The on-disk format this seer writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`: what a dataset directory holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// On-disk format; see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Dataset name.
    pub name: String,
    /// Number of users.
    pub n_users: u64,
    /// Number of items.
    pub n_items: u64,
    /// Number of interaction rows.
    pub n_interactions: u64,
    /// Whether `ts` holds real unix timestamps (else sequence positions).
    pub has_timestamps: bool,
    /// Binary column files, in the order above.
    pub columns: Vec<String>,
    /// Names of the context columns (`context.<k>.u32`).
    pub context: Vec<String>,
    /// Names of the item text fields.
    pub item_text: Vec<String>,
    /// Names of the user attribute fields.
    pub user_attrs: Vec<String>,
    /// What cleaning did when the dataset was imported, if known.
    pub cleaning: Option<CleaningReport>,
}

#[derive(Serialize, Deserialize)]
struct Vocab {
    name: String,
    values: IdMap,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// `v` as little-endian bytes (a borrow on little-endian machines).
fn le_bytes<T: Pod>(v: &[T]) -> Cow<'_, [u8]> {
    let bytes: &[u8] = bytemuck::cast_slice(v);
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytes)
    } else {
        let mut out = bytes.to_vec();
        for c in out.chunks_mut(std::mem::size_of::<T>()) {
            c.reverse();
        }
        Cow::Owned(out)
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).expect("dataset JSON always serialises");
    std::fs::write(path, bytes).map_err(io(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BadDatasetDir {
        path: path.into(),
        message: format!("unreadable JSON: {e}"),
    })
}

fn read_column<T: Pod>(path: &Path, len: u64) -> Result<Vec<T>> {
    let mut bytes = std::fs::read(path).map_err(io(path))?;
    let size = std::mem::size_of::<T>();
    if bytes.len() as u64 != len * size as u64 {
        return Err(Error::BadDatasetDir {
            path: path.into(),
            message: format!(
                "expected {len} values ({} bytes), found {} bytes",
                len * size as u64,
                bytes.len()
            ),
        });
    }
    if cfg!(target_endian = "big") {
        for c in bytes.chunks_mut(size) {
            c.reverse();
        }
    }
    // pod_collect_to_vec copies into a properly aligned Vec<T>.
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:08x}", std::process::id())
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    dir.with_file_name(format!("{name}.{tag}-{}", unique_suffix()))
}

impl Dataset {
    /// Writes the dataset into directory `dir` (replacing it if it exists), with `cleaning`
    /// stored in the manifest. The directory appears complete or not at all.
    pub fn save(&self, dir: &Path, cleaning: Option<&CleaningReport>) -> Result<()> {
        let _span = tracing::info_span!("save_dataset", dir = %dir.display()).entered();
        let tmp = sibling(dir, "tmp");
        let result = self.write_into(&tmp, cleaning).and_then(|()| {
            if dir.exists() {
                let old = sibling(dir, "old");
                std::fs::rename(dir, &old).map_err(io(dir))?;
                std::fs::rename(&tmp, dir).map_err(io(dir))?;
                std::fs::remove_dir_all(&old).map_err(io(&old))
            } else {
                std::fs::rename(&tmp, dir).map_err(io(dir))
            }
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn write_into(&self, dir: &Path, cleaning: Option<&CleaningReport>) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let inter = &self.interactions;
        let mut columns = Vec::new();
        let mut write = |name: String, bytes: Cow<'_, [u8]>| -> Result<()> {
            let p = dir.join(&name);
            std::fs::write(&p, bytes).map_err(io(&p))?;
            columns.push(name);
            Ok(())
        };
        write("user.u32".into(), le_bytes(&inter.user))?;
        write("item.u32".into(), le_bytes(&inter.item))?;
        write("ts.i64".into(), le_bytes(&inter.ts))?;
        write("rating.f32".into(), le_bytes(&inter.rating))?;
        for (k, c) in inter.context.iter().enumerate() {
            write(format!("context.{k}.u32"), le_bytes(&c.codes))?;
        }
        let vocab: Vec<Vocab> = inter
            .context
            .iter()
            .map(|c| Vocab {
                name: c.name.clone(),
                values: c.values.clone(),
            })
            .collect();
        write_json(&dir.join("context.json"), &vocab)?;
        write_json(&dir.join("users.json"), &self.users)?;
        write_json(&dir.join("items.json"), &self.items)?;
        write_json(&dir.join("item_text.json"), &self.item_text)?;
        write_json(&dir.join("user_attrs.json"), &self.user_attrs)?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: self.name.clone(),
            n_users: self.n_users() as u64,
            n_items: self.n_items() as u64,
            n_interactions: inter.len() as u64,
            has_timestamps: self.has_timestamps,
            columns,
            context: inter.context.iter().map(|c| c.name.clone()).collect(),
            item_text: self.item_text.iter().map(|c| c.name.clone()).collect(),
            user_attrs: self.user_attrs.iter().map(|c| c.name.clone()).collect(),
            cleaning: cleaning.cloned(),
        };
        // Manifest last: a directory with a manifest is complete.
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest always serialises");
        let p = dir.join("manifest.json");
        std::fs::write(&p, bytes).map_err(io(&p))
    }

    /// Reads a directory written by [`Dataset::save`], checking its format version and that
    /// every column is consistent with the counts in the manifest.
    pub fn load(dir: &Path) -> Result<Dataset> {
        Ok(Self::load_with_manifest(dir)?.0)
    }

    /// Like [`Dataset::load`], also returning the manifest (with the cleaning report).
    pub fn load_with_manifest(dir: &Path) -> Result<(Dataset, Manifest)> {
        let _span = tracing::info_span!("load_dataset", dir = %dir.display()).entered();
        let manifest = read_manifest(dir)?;
        let n = manifest.n_interactions;
        let bad = |path: PathBuf, message: String| Error::BadDatasetDir { path, message };
        let user: Vec<u32> = read_column(&dir.join("user.u32"), n)?;
        let item: Vec<u32> = read_column(&dir.join("item.u32"), n)?;
        let ts: Vec<i64> = read_column(&dir.join("ts.i64"), n)?;
        let rating: Vec<f32> = read_column(&dir.join("rating.f32"), n)?;
        let vocab: Vec<Vocab> = read_json(&dir.join("context.json"))?;
        let mut context = Vec::with_capacity(vocab.len());
        for (k, v) in vocab.into_iter().enumerate() {
            let p = dir.join(format!("context.{k}.u32"));
            let codes: Vec<u32> = read_column(&p, n)?;
            if let Some(c) = codes
                .iter()
                .find(|&&c| c != u32::MAX && c as usize >= v.values.len())
            {
                return Err(bad(
                    p,
                    format!("code {c} outside the vocabulary of {}", v.values.len()),
                ));
            }
            context.push(CategoricalColumn {
                name: v.name,
                values: v.values,
                codes,
            });
        }
        let users: IdMap = read_json(&dir.join("users.json"))?;
        let items: IdMap = read_json(&dir.join("items.json"))?;
        if users.len() as u64 != manifest.n_users || items.len() as u64 != manifest.n_items {
            return Err(bad(
                dir.into(),
                format!(
                    "manifest says {} users and {} items, id files hold {} and {}",
                    manifest.n_users,
                    manifest.n_items,
                    users.len(),
                    items.len()
                ),
            ));
        }
        if let Some(u) = user.iter().find(|&&u| u as usize >= users.len()) {
            return Err(bad(
                dir.join("user.u32"),
                format!("user index {u} >= {} users", users.len()),
            ));
        }
        if let Some(i) = item.iter().find(|&&i| i as usize >= items.len()) {
            return Err(bad(
                dir.join("item.u32"),
                format!("item index {i} >= {} items", items.len()),
            ));
        }
        let item_text: Vec<TextColumn> = read_json(&dir.join("item_text.json"))?;
        let user_attrs: Vec<TextColumn> = read_json(&dir.join("user_attrs.json"))?;
        for (cols, len, file) in [
            (&item_text, items.len(), "item_text.json"),
            (&user_attrs, users.len(), "user_attrs.json"),
        ] {
            if let Some(c) = cols.iter().find(|c| c.values.len() != len) {
                return Err(bad(
                    dir.join(file),
                    format!(
                        "field {:?} has {} values, expected {len}",
                        c.name,
                        c.values.len()
                    ),
                ));
            }
        }
        let data = Dataset {
            name: manifest.name.clone(),
            users,
            items,
            interactions: Interactions {
                user,
                item,
                ts,
                rating,
                context,
            },
            has_timestamps: manifest.has_timestamps,
            item_text,
            user_attrs,
        };
        Ok((data, manifest))
    }
}

/// Reads and version-checks `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let v: Version = serde_json::from_slice(&bytes).map_err(|e| Error::BadDatasetDir {
        path: path.clone(),
        message: format!("not a seer dataset manifest (no format_version): {e}"),
    })?;
    if v.format_version != FORMAT_VERSION {
        return Err(Error::BadDatasetDir {
            path,
            message: format!(
                "dataset written by format {}, this seer reads {FORMAT_VERSION}",
                v.format_version
            ),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::BadDatasetDir {
        path,
        message: format!("unreadable manifest: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Dataset {
        Dataset {
            name: "s".into(),
            users: vec!["u1".to_string(), "u2".to_string()].into(),
            items: vec!["a".to_string(), "b".to_string(), "c".to_string()].into(),
            interactions: Interactions {
                user: vec![0, 1, 1],
                item: vec![2, 0, 1],
                ts: vec![-5, 10, i64::MAX],
                rating: vec![1.0, 2.5, f32::MIN_POSITIVE],
                context: vec![CategoricalColumn {
                    name: "device".into(),
                    values: vec!["web".to_string()].into(),
                    codes: vec![0, u32::MAX, 0],
                }],
            },
            has_timestamps: true,
            item_text: vec![TextColumn {
                name: "title".into(),
                values: vec!["A".into(), "".into(), "Café | ☕".into()],
            }],
            user_attrs: vec![TextColumn {
                name: "age".into(),
                values: vec!["1".into(), "".into()],
            }],
        }
    }

    #[test]
    fn round_trip_and_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        let mut report = CleaningReport::new(5);
        report.record("bad_row", || "x:1:y: z".into());
        sample().save(&dir, Some(&report)).unwrap();
        let (back, manifest) = Dataset::load_with_manifest(&dir).unwrap();
        assert_eq!(back, sample());
        assert_eq!(manifest.cleaning.unwrap().count("bad_row"), 1);
        assert_eq!(
            manifest.columns[..4],
            ["user.u32", "item.u32", "ts.i64", "rating.f32"]
        );
        // Saving again replaces the directory and leaves no temporary siblings.
        let mut other = sample();
        other.name = "t".into();
        other.save(&dir, None).unwrap();
        assert_eq!(Dataset::load(&dir).unwrap().name, "t");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Little-endian on disk.
        let bytes = std::fs::read(dir.join("item.u32")).unwrap();
        assert_eq!(&bytes[..4], &[2, 0, 0, 0]);
    }

    #[test]
    fn version_and_damage_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        sample().save(&dir, None).unwrap();
        let m = dir.join("manifest.json");
        let text = std::fs::read_to_string(&m)
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 2");
        std::fs::write(&m, text).unwrap();
        let e = Dataset::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("dataset written by format 2, this seer reads 1"),
            "{e}"
        );

        sample().save(&dir, None).unwrap();
        std::fs::write(dir.join("ts.i64"), [0u8; 7]).unwrap();
        let e = Dataset::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("ts.i64") && e.contains("expected 3 values"),
            "{e}"
        );

        sample().save(&dir, None).unwrap();
        std::fs::write(dir.join("item.u32"), le_bytes(&[0u32, 7, 1]).as_ref()).unwrap();
        let e = Dataset::load(&dir).unwrap_err().to_string();
        assert!(e.contains("item index 7"), "{e}");
        assert!(Dataset::load(&tmp.path().join("missing")).is_err());
    }
}
