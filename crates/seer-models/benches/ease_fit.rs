//! Criterion bench of the EASE fit on a synthetic sparse matrix.
//!
//! 3 000 users × 2 000 items, ~30 items per user drawn with a popularity skew; fixed seed.
//! `cargo bench -p seer-models --bench ease_fit`.

use criterion::{criterion_group, criterion_main, Criterion};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_data::{Csr, Interactions};
use seer_models::{ease, ModelConfig, TrainData};

fn synthetic(n_users: u32, n_items: u32, per_user: usize, seed: u64) -> TrainData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inter = Interactions::default();
    for u in 0..n_users {
        for t in 0..per_user {
            // Squaring a uniform skews draws towards low (popular) item indices.
            let x: f64 = rng.random();
            inter.user.push(u);
            inter.item.push(((x * x) * n_items as f64) as u32);
            inter.ts.push(t as i64);
            inter.rating.push(1.0);
        }
    }
    let rows: Vec<usize> = (0..inter.len()).collect();
    TrainData::from_csr(
        Csr::from_rows(&inter, &rows, n_users as usize, n_items as usize),
        false,
    )
}

fn bench(c: &mut Criterion) {
    let train = synthetic(3_000, 2_000, 30, 1);
    let cfg = ModelConfig::Ease(ease::Config::default());
    let mut g = c.benchmark_group("ease_fit");
    g.sample_size(10);
    g.bench_function("fit 2000 items", |b| {
        b.iter(|| cfg.fit(&train, &ProgressBar::hidden()).expect("EASE fits"))
    });
    let x = train.matrix.binary();
    g.bench_function("gram 2000 items", |b| b.iter(|| ease::gram(&x, 500.0)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
