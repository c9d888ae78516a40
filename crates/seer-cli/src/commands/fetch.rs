//! `seer fetch`: a MovieLens set or the MiniLM text encoder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::*;
use crate::fetch;

/// `seer fetch`.
pub(crate) fn fetch_cmd(a: FetchArgs) -> Result<ExitCode> {
    let dir = if a.name == "minilm" {
        let out = a
            .out
            .unwrap_or_else(|| PathBuf::from(seer_models::text_encoder::DEFAULT_MODEL_DIR));
        fetch::fetch_minilm(&out)?
    } else {
        fetch::fetch_movielens(&a.name, &a.out.unwrap_or_else(|| PathBuf::from("data")))?
    };
    println!("fetched {} → {}", a.name, dir.display());
    Ok(ExitCode::SUCCESS)
}
