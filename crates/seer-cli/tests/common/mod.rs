//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

/// all-MiniLM-L6-v2 at the workspace root (`seer fetch minilm`), or `None` to skip — unless
/// `SEER_REQUIRE_MINILM` is set (CI fetches the model first), then its absence fails.
pub fn minilm() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").exists() {
        return Some(dir.canonicalize().expect("an existing directory"));
    }
    assert!(
        std::env::var_os("SEER_REQUIRE_MINILM").is_none(),
        "no model at {}; run `seer fetch minilm`",
        dir.display()
    );
    eprintln!(
        "skipped: no MiniLM model at {} (run `seer fetch minilm`)",
        dir.display()
    );
    None
}
