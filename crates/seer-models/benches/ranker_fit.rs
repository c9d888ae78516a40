//! Criterion bench of the rankers' training throughput (examples per second, one thread).
//!
//! 200,000 synthetic examples shaped like the two-stage model's: 24 hashed features each (ids,
//! attribute tokens, buckets, one numeric score) in a 2^20-slot space, ~1 positive in 21; fixed
//! seed. One FTRL pass and one FM epoch (16 factors) per iteration, model construction
//! excluded, so examples/s = 200,000 / time. `cargo bench -p seer-models --bench ranker_fit`;
//! with `SEER_RANKER_DUMP=FILE` it also writes the examples as svmlight for
//! `benches/ranker/sklearn_lr.py` (scikit-learn on the same matrix).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_models::ranker::{fm, lr, Examples};

const N: usize = 200_000;
const DIM: usize = 1 << 20;

fn synthetic() -> Examples {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut e = Examples::new();
    let mut x = Vec::with_capacity(24);
    for _ in 0..N {
        x.clear();
        let y = (rng.random::<f32>() < 1.0 / 21.0) as u8 as f32;
        for f in 0..23 {
            // low slots are frequent (buckets, genres), high slots rare (ids)
            let r: f64 = rng.random();
            let slot = ((r.powi(3) * DIM as f64) as u32) ^ (f * 7919);
            x.push((slot % DIM as u32, 1.0));
        }
        x.push((17, rng.random::<f32>() * 2.0 - 1.0 + y));
        e.push(&x, y);
    }
    e
}

/// Writes the examples in svmlight format (`label index:value …`), for
/// `benches/ranker/sklearn_lr.py` to train scikit-learn on the very same matrix.
fn dump(data: &Examples, path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in 0..data.len() {
        let (idx, val) = data.row(r);
        let mut pairs: Vec<(u32, f32)> = idx.iter().copied().zip(val.iter().copied()).collect();
        pairs.sort_by_key(|p| p.0);
        // a hashed slot drawn twice in one row: values add up, as in the models
        pairs.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        write!(f, "{}", data.y[r] as u8)?;
        for (i, v) in pairs {
            write!(f, " {i}:{v}")?;
        }
        writeln!(f)?;
    }
    f.flush()
}

fn bench(c: &mut Criterion) {
    let data = synthetic();
    if let Ok(path) = std::env::var("SEER_RANKER_DUMP") {
        dump(&data, &path).expect("writing the svmlight dump");
        eprintln!("wrote {} examples to {path}", data.len());
    }
    let mut g = c.benchmark_group("ranker_fit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    let lr_cfg = lr::Config {
        epochs: 1,
        ..Default::default()
    };
    g.bench_function("ftrl lr, 1 pass", |b| {
        b.iter_batched(
            || lr::Ftrl::new(&lr_cfg, DIM).expect("valid config"),
            |mut m| {
                m.fit(&data, |_, _| {});
                m
            },
            BatchSize::LargeInput,
        )
    });
    let fm_cfg = fm::Config {
        epochs: 1,
        ..Default::default()
    };
    g.bench_function("fm k=16, 1 epoch", |b| {
        b.iter_batched(
            || fm::Fm::new(&fm_cfg, DIM).expect("valid config"),
            |mut m| {
                m.fit(&data, |_, _| {});
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
