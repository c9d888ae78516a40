//! Times the fits of EASE and item-kNN on Amazon Beauty (S3-Rec's `Beauty.txt`, one user per
//! line: `user item item …`), for comparison with `benches/ease_numpy.py`.
//!
//! ```text
//! cargo run --release -p seer-models --example beauty_timing -- ../shared/data/amazon-beauty/s3rec/Beauty.txt
//! ```
//! The data is read in place, never copied into the repository.

use std::time::Instant;

use indicatif::ProgressBar;
use seer_data::{Csr, Interactions};
use seer_models::{ModelConfig, TrainData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/amazon-beauty/s3rec/Beauty.txt".into());
    let text = std::fs::read_to_string(&path)?;
    let mut inter = Interactions::default();
    let mut items = seer_core::IdMap::new();
    let mut n_users = 0u32;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next().is_none() {
            continue;
        }
        for (pos, item) in parts.enumerate() {
            inter.user.push(n_users);
            inter.item.push(items.get_or_insert(item));
            inter.ts.push(pos as i64);
            inter.rating.push(1.0);
        }
        n_users += 1;
    }
    let rows: Vec<usize> = (0..inter.len()).collect();
    let m = Csr::from_rows(&inter, &rows, n_users as usize, items.len());
    println!(
        "{path}: {n_users} users, {} items, {} events, {} threads",
        items.len(),
        m.nnz(),
        rayon::current_num_threads()
    );
    let train = TrainData::from_csr(m, false);

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
