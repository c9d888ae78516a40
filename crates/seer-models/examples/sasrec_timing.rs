//! Times SASRec on Amazon Beauty, for comparison with `benches/sasrec_torch.py` (the same
//! network, loss, batch and sequence length in PyTorch).
//!
//! ```text
//! cargo run --release -p seer-models --example sasrec_timing -- step  ../shared/data/amazon-beauty/s3rec/Beauty.txt
//! RAYON_NUM_THREADS=1 cargo run --release -p seer-models --example sasrec_timing -- infer ../shared/data/amazon-beauty/s3rec/Beauty.txt
//! cargo run --release -p seer-models --example sasrec_timing -- epoch ../shared/data/amazon-beauty/s3rec/Beauty.txt
//! ```
//! - `step`: one training step (forward, full-catalogue cross-entropy, backward, AdamW) on a
//!   fixed batch of the 128 users with the longest training sequences, cropped to the last 51
//!   items (50 inputs, 50 targets each): mean of 20 steps after 3 warm-up steps.
//! - `infer`: scoring the whole catalogue for one user from a 50-item sequence (mean of 200
//!   calls after 10 warm-up calls); run with `RAYON_NUM_THREADS=1` for one core.
//! - `encoder`: forward and backward of the Transformer encoder alone (2 heads, as BERT4Rec;
//!   no catalogue loss) on the `step` batch: mean of 20 after 3 warm-up.
//! - `epoch`: one epoch of real training (cropped, length-bucketed batches), no validation.
//!
//! Sizes: hidden 64, 2 blocks, 1 head, inner 256, dropout 0.5, max length 50, batch 128.

use std::time::Instant;

use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seer_core::{Recommender, UserContext};
use seer_models::sasrec::{Config, Sasrec};
use seer_models::seq::{Padded, SeqNet};
use seer_models::{FitOptions, TrainData};
use seer_nn::optim::AdamW;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("SEER_DEFAULT_MALLOC").is_none() {
        seer_nn::keep_freed_memory();
    }
    let mode = std::env::args().nth(1).unwrap_or_else(|| "step".into());
    let path = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "../shared/data/amazon-beauty/s3rec/Beauty.txt".into());
    let (data, _) = seer_data::import::import_sequence(
        std::path::Path::new(&path),
        &seer_data::CleaningConfig::default(),
        &ProgressBar::hidden(),
    )?;
    let split = seer_data::SplitConfig::LeaveOneOut { min_events: 3 }.split(&data)?;
    let train = TrainData::new(&data, &split.rows(&[seer_data::Part::Train]));
    let threads = candle_core::utils::get_num_threads();
    let cfg = Config::default();
    let n = train.n_items;
    let m = &train.matrix;
    match mode.as_str() {
        "step" => step(&cfg, m, n, threads)?,
        "encoder" => {
            let cfg = Config {
                heads: 2,
                ..cfg.clone()
            };
            let windows = longest_windows(m, cfg.batch_size, cfg.max_len);
            let padded = Padded::new(&windows, n as u32, cfg.max_len);
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let net = SeqNet::new(cfg.net(n), &mut rng, &candle_core::Device::Cpu)?;
            let mut times = Vec::new();
            for i in 0..23 {
                let t = Instant::now();
                let enc = net.encode(&padded, Some(&mut rng))?;
                let _g = enc.sum_all()?.backward()?;
                if i >= 3 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            println!(
                "seer encoder forward + backward: {:.1} ms (2 heads; batch {}, length {}, {threads} threads)",
                mean * 1e3,
                cfg.batch_size,
                padded.l
            );
        }
        "infer" => {
            let model = Sasrec::fit(
                &Config {
                    epochs: 1,
                    ..cfg.clone()
                },
                &train,
                &FitOptions::default(),
                &ProgressBar::hidden(),
            )?;
            let hist: Vec<u32> = (0..50).map(|i| (i * 37 % n) as u32).collect();
            let mut scores = vec![0.0; n];
            let ctx = UserContext::from_history(None, &hist);
            let mut times = Vec::new();
            for i in 0..210 {
                let t = Instant::now();
                model.score(&ctx, &mut scores)?;
                if i >= 10 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            println!(
                "seer sasrec inference: {:.3} ms per user (length 50, {n} items, {threads} threads)",
                mean * 1e3
            );
        }
        "score" => {
            // Scores every user (train history) as the validation pass does, 3 times.
            let model = Sasrec::fit(
                &Config { epochs: 1, ..cfg },
                &train,
                &FitOptions::default(),
                &ProgressBar::hidden(),
            )?;
            let users: Vec<u32> = (0..m.n_rows as u32).collect();
            for round in 0..3 {
                let t = Instant::now();
                use rayon::prelude::*;
                users
                    .par_chunks(256)
                    .try_for_each(|chunk| -> Result<(), seer_core::Error> {
                        let ctx: Vec<UserContext<'_>> = chunk
                            .iter()
                            .map(|&u| UserContext::from_history(Some(u), m.row(u)))
                            .collect();
                        let mut out = vec![0f32; chunk.len() * n];
                        model.score_batch(&ctx, &mut out)
                    })?;
                println!("score round {round}: {:.1} s", t.elapsed().as_secs_f64());
            }
        }
        _ => {
            let t = Instant::now();
            let model = Sasrec::fit(
                &Config { epochs: 1, ..cfg },
                &train,
                &FitOptions::default(),
                &ProgressBar::hidden(),
            )?;
            println!(
                "seer sasrec epoch: {:.1} s, loss {:.4} ({threads} threads)",
                t.elapsed().as_secs_f64(),
                model.log().epochs[0].loss
            );
        }
    }
    Ok(())
}

/// `step`: one training step on the longest users' windows, timed by phase.
fn step(
    cfg: &Config,
    m: &seer_data::Csr,
    n: usize,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let windows = longest_windows(m, cfg.batch_size, cfg.max_len + 1);
    let inputs: Vec<&[u32]> = windows.iter().map(|w| &w[..w.len() - 1]).collect();
    let targets: Vec<u32> = windows
        .iter()
        .flat_map(|w| w[1..].iter().copied())
        .collect();
    let padded = Padded::new(&inputs, n as u32, cfg.max_len);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net = SeqNet::new(cfg.net(n), &mut rng, &candle_core::Device::Cpu)?;
    let mut opt = AdamW::new(cfg.train_loop().adam, net.params())?;
    let rows = padded.real_positions();
    let mut times = Vec::new();
    let mut phases = [0.0f64; 4];
    for i in 0..23 {
        let t = Instant::now();
        let enc = net.encode(&padded, Some(&mut rng))?;
        let t1 = t.elapsed().as_secs_f64();
        let loss = net.catalogue_loss(&net.gather(&enc, &rows)?, &targets)?;
        let t2 = t.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        let t3 = t.elapsed().as_secs_f64();
        opt.step(net.params(), &grads)?;
        if i >= 3 {
            let t4 = t.elapsed().as_secs_f64();
            times.push(t4);
            for (p, d) in phases.iter_mut().zip([t1, t2 - t1, t3 - t2, t4 - t3]) {
                *p += d / 20.0;
            }
        }
    }
    // The loss alone, from a leaf: forward + backward of the fused op.
    let leaf =
        candle_core::Var::from_tensor(&net.gather(&net.encode(&padded, None)?, &rows)?.detach())?;
    let t = Instant::now();
    for _ in 0..5 {
        let l = net.catalogue_loss(leaf.as_tensor(), &targets)?;
        l.backward()?;
    }
    println!(
        "catalogue loss fwd+bwd alone: {:.1} ms",
        t.elapsed().as_secs_f64() * 200.0
    );
    println!(
        "phases (ms): encode {:.1}, loss {:.1}, backward {:.1}, adamw {:.1}",
        phases[0] * 1e3,
        phases[1] * 1e3,
        phases[2] * 1e3,
        phases[3] * 1e3
    );
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "seer sasrec train step: {:.1} ms (batch {}, {} positions, {} items, {threads} threads)",
        mean * 1e3,
        cfg.batch_size,
        rows.len(),
        n
    );
    Ok(())
}

/// The last `len` events of each of the `batch` users with the longest training sequences.
fn longest_windows(m: &seer_data::Csr, batch: usize, len: usize) -> Vec<&[u32]> {
    let mut users: Vec<u32> = (0..m.n_rows as u32).collect();
    users.sort_by_key(|&u| std::cmp::Reverse(m.row(u).len()));
    users[..batch]
        .iter()
        .map(|&u| {
            let s = m.row(u);
            &s[s.len() - len.min(s.len())..]
        })
        .collect()
}
