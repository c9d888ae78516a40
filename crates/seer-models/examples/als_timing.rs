//! Times implicit-ALS fits on Amazon Beauty (S3-Rec's `Beauty.txt`, one user per line:
//! `user item item …`) and prints seconds per iteration and the final training loss, so the
//! conjugate-gradient and Cholesky solvers can be compared.
//!
//! ```text
//! cargo run --release -p seer-models --example als_timing -- \
//!     ../shared/data/amazon-beauty/s3rec/Beauty.txt als als:solver=cholesky
//! ```
//! Every argument after the path is a model spec (default: `als` and `als:solver=cholesky`).
//! The data is read in place, never copied into the repository.

use std::time::Instant;

use indicatif::ProgressBar;
use seer_models::{als::Als, ModelConfig, TrainData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "../shared/data/amazon-beauty/s3rec/Beauty.txt".into());
    let mut specs: Vec<String> = args.collect();
    if specs.is_empty() {
        specs = vec!["als".into(), "als:solver=cholesky".into()];
    }
    // The same importer `seer import` uses (sequence file, file order = time order).
    let (data, _) = seer_data::import::import_sequence(
        std::path::Path::new(&path),
        &seer_data::CleaningConfig::default(),
        &ProgressBar::hidden(),
    )?;
    let rows: Vec<usize> = (0..data.interactions.len()).collect();
    let train = TrainData::new(&data, &rows);
    println!(
        "{path}: {} users, {} items, {} events, {} threads",
        data.n_users(),
        data.n_items(),
        train.matrix.nnz(),
        rayon::current_num_threads()
    );
    for spec in specs {
        let ModelConfig::Als(cfg) = ModelConfig::from_spec(&spec)? else {
            return Err(format!("{spec}: not an ALS spec").into());
        };
        let t = Instant::now();
        let model = Als::fit(&cfg, &train, &ProgressBar::hidden())?;
        let secs = t.elapsed().as_secs_f64();
        let losses = model.losses();
        println!(
            "{spec}: fit {secs:.2} s, {:.3} s/iteration, loss after iteration 1 {:.2}, final {:.2}",
            secs / cfg.iters as f64,
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}
