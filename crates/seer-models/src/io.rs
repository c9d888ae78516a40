//! Saving and loading models as `weights.safetensors`.
//!
//! A saved model is a directory. Its `weights.safetensors` holds every tensor of the model,
//! named hierarchically (`ease.b`, `item_knn.indptr`), and a header with
//! - `format_version`: the on-disk format, [`FORMAT_VERSION`]; other versions are refused;
//! - `model`: the model kind (`"ease"`, …), which [`crate::load`] dispatches on;
//! - `config`: the resolved [`crate::ModelConfig`] as JSON, so config and weights travel
//!   together.
//!
//! The CLI adds `ids.json` (the vocabularies) next to it.
//!
//! Writes are atomic: the file is written into a temporary directory next to the target and
//! renamed into place, so a reader never sees half a model. When the target directory does not
//! exist yet, the whole temporary directory is renamed; when it exists (the CLI may have put
//! `ids.json` there, or an older model is being replaced) only the file is renamed into it,
//! which is atomic as well because both live on the same filesystem.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::error::{Error, Result};

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// File name of the tensors + header inside a model directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// One tensor to write, borrowing the model's memory where the layout allows.
pub(crate) struct Tensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

impl<'a> Tensor<'a> {
    /// An `f32` tensor; `data.len()` must equal the product of `shape`.
    pub(crate) fn f32(shape: &[usize], data: &'a [f32]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        // Little-endian in the file; every platform seer targets is little-endian, so the
        // in-memory bytes can be written as they are without a copy.
        Tensor {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            data: Cow::Borrowed(bytemuck::cast_slice(data)),
        }
    }

    /// A `u32` tensor.
    pub(crate) fn u32(shape: &[usize], data: &'a [u32]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            dtype: Dtype::U32,
            shape: shape.to_vec(),
            data: Cow::Borrowed(bytemuck::cast_slice(data)),
        }
    }

    /// A `u64` tensor from `usize` offsets (copied, so the file does not depend on the
    /// platform's pointer width).
    pub(crate) fn u64(data: &[usize]) -> Tensor<'static> {
        let v: Vec<u64> = data.iter().map(|&x| x as u64).collect();
        Tensor {
            dtype: Dtype::U64,
            shape: vec![v.len()],
            data: Cow::Owned(bytemuck::cast_slice(&v).to_vec()),
        }
    }
}

impl<'a> Tensor<'a> {
    /// Raw bytes (a JSON document, UTF-8 text) as a `u8` tensor.
    pub(crate) fn bytes(data: &'a [u8]) -> Self {
        Tensor {
            dtype: Dtype::U8,
            shape: vec![data.len()],
            data: Cow::Borrowed(data),
        }
    }
}

impl View for &Tensor<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// [`save`] for a model: `config` is the model's own config struct, written with the
/// registry's `model` tag (`{"model": "ease", "lambda": 500.0}`), so [`crate::load`] reads it
/// back as a [`crate::ModelConfig`] without any model naming the registry.
pub(crate) fn save_model(
    dir: &Path,
    kind: &str,
    config: &impl serde::Serialize,
    tensors: &[(&str, Tensor<'_>)],
) -> Result<()> {
    let bad = |message: String| Error::BadModelFile {
        path: dir.join(WEIGHTS_FILE),
        message,
    };
    let mut value = serde_json::to_value(config)
        .map_err(|e| bad(format!("cannot serialise the config: {e}")))?;
    let Some(map) = value.as_object_mut() else {
        return Err(bad(format!("the {kind} config is not a JSON object")));
    };
    map.insert("model".to_string(), kind.into());
    save(dir, kind, &value, tensors)
}

/// Writes `tensors` and a header (`format_version`, `model` = `kind`, `config` as JSON) into
/// `dir/weights.safetensors`, atomically.
pub(crate) fn save(
    dir: &Path,
    kind: &str,
    config: &impl serde::Serialize,
    tensors: &[(&str, Tensor<'_>)],
) -> Result<()> {
    let config = serde_json::to_string(config).map_err(|e| Error::BadModelFile {
        path: dir.join(WEIGHTS_FILE),
        message: format!("cannot serialise the config: {e}"),
    })?;
    let metadata = HashMap::from([
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("model".to_string(), kind.to_string()),
        ("config".to_string(), config),
    ]);

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| Error::Io {
        path: parent.clone(),
        source,
    })?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = parent.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    std::fs::create_dir(&tmp).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    let result = (|| {
        let tmp_file = tmp.join(WEIGHTS_FILE);
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (*n, t)),
            Some(metadata),
            &tmp_file,
        )
        .map_err(|e| match e {
            safetensors::SafeTensorError::IoError(source) => Error::Io {
                path: tmp_file.clone(),
                source,
            },
            e => Error::BadModelFile {
                path: tmp_file.clone(),
                message: e.to_string(),
            },
        })?;
        if dir.exists() {
            let target = dir.join(WEIGHTS_FILE);
            std::fs::rename(&tmp_file, &target).map_err(|source| Error::Io {
                path: target,
                source,
            })?;
            std::fs::remove_dir(&tmp).map_err(|source| Error::Io {
                path: tmp.clone(),
                source,
            })
        } else {
            std::fs::rename(&tmp, dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    })();
    if result.is_err() {
        // Best effort: the error being returned is the interesting one.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn unique_suffix() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    nanos ^ u128::from(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A model file read into memory, header checked.
pub(crate) struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

impl Loaded {
    /// Reads `dir/weights.safetensors` and checks its format version.
    pub(crate) fn read(dir: &Path) -> Result<Loaded> {
        let path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::BadModelFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let loaded = Loaded {
            path,
            bytes,
            metadata,
        };
        let found = loaded.meta("format_version")?;
        if found != FORMAT_VERSION {
            return Err(Error::FormatVersion {
                path: loaded.path.clone(),
                found: found.to_string(),
                expected: FORMAT_VERSION,
            });
        }
        Ok(loaded)
    }

    /// The saved model's own config: the header's `config` without its `model` tag (see
    /// [`save_model`]).
    pub(crate) fn model_config<C: serde::de::DeserializeOwned>(&self) -> Result<C> {
        let bad = |e: serde_json::Error| self.bad(format!("header entry \"config\": {e}"));
        let mut value: serde_json::Value =
            serde_json::from_str(self.meta("config")?).map_err(bad)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("model");
        }
        serde_json::from_value(value).map_err(bad)
    }

    /// A header entry, or an error naming it.
    pub(crate) fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.bad(format!("header has no {key:?} entry")))
    }

    /// Whether the file holds a tensor called `name`.
    /// The model directory the file was read from.
    pub(crate) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes).is_ok_and(|st| st.tensor(name).is_ok())
    }

    pub(crate) fn bad(&self, message: String) -> Error {
        Error::BadModelFile {
            path: self.path.clone(),
            message,
        }
    }

    fn raw(
        &self,
        name: &str,
        dtype: Dtype,
        shape: Option<&[usize]>,
    ) -> Result<(Vec<usize>, &[u8])> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| self.bad(e.to_string()))?;
        let t = st
            .tensor(name)
            .map_err(|e| self.bad(format!("tensor {name:?}: {e}")))?;
        if t.dtype() != dtype {
            return Err(self.bad(format!(
                "tensor {name:?}: expected {dtype:?}, found {:?}",
                t.dtype()
            )));
        }
        if let Some(shape) = shape {
            if t.shape() != shape {
                return Err(self.bad(format!(
                    "tensor {name:?}: expected shape {shape:?}, found {:?}",
                    t.shape()
                )));
            }
        }
        let shape = t.shape().to_vec();
        let data = t.data();
        // `data` borrows from `self.bytes`, not from `st`.
        let start = data.as_ptr() as usize - self.bytes.as_ptr() as usize;
        Ok((shape, &self.bytes[start..start + data.len()]))
    }

    /// An `f32` tensor and its shape; `shape` is checked when given.
    pub(crate) fn f32(
        &self,
        name: &str,
        shape: Option<&[usize]>,
    ) -> Result<(Vec<usize>, Vec<f32>)> {
        let (shape, data) = self.raw(name, Dtype::F32, shape)?;
        // The tensor need not be 4-byte aligned inside the file buffer: copy.
        Ok((shape, bytemuck::pod_collect_to_vec(data)))
    }

    /// A `u32` tensor and its shape.
    pub(crate) fn u32(
        &self,
        name: &str,
        shape: Option<&[usize]>,
    ) -> Result<(Vec<usize>, Vec<u32>)> {
        let (shape, data) = self.raw(name, Dtype::U32, shape)?;
        Ok((shape, bytemuck::pod_collect_to_vec(data)))
    }

    /// A `u8` tensor's bytes.
    pub(crate) fn bytes(&self, name: &str) -> Result<&[u8]> {
        Ok(self.raw(name, Dtype::U8, None)?.1)
    }

    /// A one-dimensional `u64` tensor as `usize` offsets.
    pub(crate) fn usize(&self, name: &str) -> Result<Vec<usize>> {
        let (_, data) = self.raw(name, Dtype::U64, None)?;
        let v: Vec<u64> = bytemuck::pod_collect_to_vec(data);
        v.into_iter()
            .map(|x| {
                usize::try_from(x)
                    .map_err(|_| self.bad(format!("tensor {name:?}: offset {x} too large")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelConfig;

    fn write_with_header(dir: &Path, version: &str) {
        let cfg = ModelConfig::default_for("pop").unwrap();
        let data = [1.0f32, 2.0];
        let metadata = HashMap::from([
            ("format_version".to_string(), version.to_string()),
            ("model".to_string(), "pop".to_string()),
            ("config".to_string(), serde_json::to_string(&cfg).unwrap()),
        ]);
        std::fs::create_dir_all(dir).unwrap();
        let t = Tensor::f32(&[2], &data);
        safetensors::serialize_to_file(
            [("popularity.scores", &t)],
            Some(metadata),
            &dir.join(WEIGHTS_FILE),
        )
        .unwrap();
    }

    #[test]
    fn refuses_other_format_versions() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        write_with_header(&dir, "1");
        assert_eq!(crate::load(&dir).unwrap().n_items(), 2);
        write_with_header(&dir, "2");
        let e = crate::load(&dir).err().unwrap();
        assert!(matches!(e, Error::FormatVersion { .. }));
        assert!(
            e.to_string()
                .ends_with("model written by format 2, this seer reads 1"),
            "{e}"
        );
        let core: seer_core::Error = e.into();
        assert!(
            core.to_string().contains("model written by format 2"),
            "{core}"
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let e = crate::load(&tmp.path().join("missing")).err().unwrap();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let dir = tmp.path().join("garbage");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(WEIGHTS_FILE), b"not a model").unwrap();
        assert!(matches!(
            crate::load(&dir).err().unwrap(),
            Error::BadModelFile { .. }
        ));
        // A tensor with the wrong name for its kind.
        let dir = tmp.path().join("wrong");
        let cfg = ModelConfig::default_for("ease").unwrap();
        let data = [0.0f32; 4];
        save(
            &dir,
            "ease",
            &cfg,
            &[("ease.c", Tensor::f32(&[2, 2], &data))],
        )
        .unwrap();
        let e = crate::load(&dir).err().unwrap().to_string();
        assert!(e.contains("ease.b"), "{e}");
    }

    #[test]
    fn save_leaves_no_temporary_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        let cfg = ModelConfig::default_for("pop").unwrap();
        let data = [3.0f32];
        save(
            &dir,
            "pop",
            &cfg,
            &[("popularity.scores", Tensor::f32(&[1], &data))],
        )
        .unwrap();
        std::fs::write(dir.join("ids.json"), "{}").unwrap();
        save(
            &dir,
            "pop",
            &cfg,
            &[("popularity.scores", Tensor::f32(&[1], &data))],
        )
        .unwrap();
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("m")]);
        let mut inside: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        inside.sort();
        assert_eq!(
            inside,
            vec![std::ffi::OsString::from("ids.json"), WEIGHTS_FILE.into()]
        );
    }
}
