//! Times the fits of EASE and item-kNN on Amazon Beauty (S3-Rec's `Beauty.txt`, one user per
//! line: `user item item …`), for comparison with `benches/ease_numpy.py`.
//!
//! ```text
//! cargo run --release -p seer-models --example beauty_timing -- ../shared/data/amazon-beauty/s3rec/Beauty.txt
//! ```
//! The data is read in place, never copied into the repository.

use std::time::Instant;

use indicatif::ProgressBar;
use seer_models::{ModelConfig, TrainData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/amazon-beauty/s3rec/Beauty.txt".into());
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

    // Accuracy of the `ease::Real` closed form: for j != i, (G B)[i, j] must equal G[i, j]
    // (G B = G - diag(1 / diag P)). Checked on 20 columns in f64.
    let x = train.matrix.binary();
    let t = Instant::now();
    let b = seer_models::ease::closed_form(
        &x,
        500.0,
        faer::get_global_parallelism(),
        &ProgressBar::hidden(),
    )?;
    println!(
        "ease closed form ({}): {:.2} s",
        std::any::type_name::<seer_models::ease::Real>(),
        t.elapsed().as_secs_f64()
    );
    let n = x.n_cols;
    let g = seer_models::ease::gram(&x, 500.0);
    let mut worst = 0.0f64;
    for j in (0..n).step_by(n / 20) {
        for i in 0..n {
            if i == j {
                continue;
            }
            // G symmetric: row i of G is column i (column-major).
            let gb: f64 = (0..n)
                .map(|h| g[h + i * n] as f64 * b[h * n + j] as f64)
                .sum();
            worst = worst.max((gb - g[i + j * n] as f64).abs());
        }
    }
    println!("max |(G B - G)[i, j]| off the diagonal over 20 columns: {worst:.2e}");
    drop((b, g));
    for spec in std::env::args().skip(2).chain([
        "ease".to_string(),
        "itemknn".to_string(),
        "als".to_string(),
    ]) {
        let cfg = ModelConfig::from_spec(&spec)?;
        let t = Instant::now();
        let model = cfg.fit(&train, &ProgressBar::hidden())?;
        println!("{spec}: fit {:.2} s", t.elapsed().as_secs_f64());
        drop(model);
    }
    Ok(())
}
