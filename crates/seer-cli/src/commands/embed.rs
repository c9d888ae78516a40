//! `seer embed`: sentence vectors with the text encoder.

use std::fs;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::import::load_dataset;
use crate::args::*;
use crate::progress::Progress;

/// `seer embed`: encodes the lines of a file, reports sentences/s and peak memory.
pub(crate) fn embed(a: &EmbedArgs, progress: &Progress) -> Result<ExitCode> {
    use seer_models::text_encoder::{EmbeddingCache, TextEncoder};
    let raw: Vec<String> = match (&a.input, &a.items) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::to_owned)
            .collect(),
        (None, Some(dir)) => {
            let data = load_dataset(dir)?;
            (0..data.n_items() as u32)
                .map(|i| data.item_document(i).replace('\n', " "))
                .filter(|t| !t.trim().is_empty())
                .collect()
        }
        (None, None) => bail!("give a text file or --items DATASET"),
    };
    let texts: Vec<&str> = raw.iter().map(String::as_str).collect();
    if let Some(path) = &a.write_texts {
        fs::write(path, raw.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let enc = TextEncoder::resolve(&a.text_model)?;
    seer_eval::mem::reset_peak_rss();
    let mut best = f64::INFINITY;
    let mut vectors = Vec::new();
    let mut hits = 0;
    for _ in 0..a.repeat.max(1) {
        let pb = progress.bar(texts.len() as u64, "embedding");
        let t0 = std::time::Instant::now();
        (vectors, hits) = match &a.cache {
            Some(dir) => {
                let mut cache = EmbeddingCache::open(dir, &enc)?;
                enc.encode_cached(&texts, &mut cache, &pb)?
            }
            None => (enc.encode(&texts, &pb)?, 0),
        };
        best = best.min(t0.elapsed().as_secs_f64());
        pb.finish_and_clear();
    }
    let tokens: usize = enc.tokenize(&texts)?.iter().map(|t| t.len()).sum();
    let peak = seer_eval::mem::peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
    println!(
        "embedded {} texts ({tokens} tokens, {} from the cache) in {best:.3} s: {:.1} sentences/s, \
         {} threads, peak memory {peak:.0} MB",
        texts.len(),
        hits,
        texts.len() as f64 / best,
        rayon::current_num_threads()
    );
    if let Some(out) = &a.out {
        let d = enc.dim();
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
        );
        for v in vectors.chunks_exact(d) {
            let line: Vec<String> = v.iter().map(|x| format!("{x:.7}")).collect();
            writeln!(w, "{}", line.join(" "))?;
        }
        w.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
