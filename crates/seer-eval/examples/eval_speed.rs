//! Times the full-ranking protocol on synthetic data the size of Amazon-Beauty
//! (22,363 users × 12,101 items, ~8 events per user, leave-one-out) with a model whose
//! scoring is almost free, so the number measures the protocol itself.
//!
//! `cargo run --release -p seer-eval --example eval_speed [-- <sampled_negatives>]`

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;
use seer_core::{IdMap, Recommender, UserContext};
use seer_data::{Dataset, Interactions, SplitConfig};
use seer_eval::{evaluate, EvalConfig, Stage};

const USERS: u32 = 22_363;
const ITEMS: u32 = 12_101;

/// Pseudo-random but deterministic scores from a hash of (user, item).
struct HashScores;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Recommender for HashScores {
    fn kind(&self) -> &'static str {
        "hash"
    }
    fn n_items(&self) -> usize {
        ITEMS as usize
    }
    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        let seed = u64::from(user.user.unwrap_or(0)) << 32;
        for (i, x) in out.iter_mut().enumerate() {
            *x = (mix(seed | i as u64) >> 40) as f32;
        }
        Ok(())
    }
    fn save(&self, _: &Path) -> seer_core::Result<()> {
        Ok(())
    }
}

fn main() {
    let sampled = std::env::args().nth(1).and_then(|a| a.parse().ok());
    let mut inter = Interactions::default();
    for u in 0..USERS {
        let n = 5 + mix(u64::from(u)) % 6;
        for j in 0..n {
            inter.user.push(u);
            inter
                .item
                .push((mix(u64::from(u) * 131 + j) % u64::from(ITEMS)) as u32);
            inter.ts.push(j as i64);
            inter.rating.push(1.0);
        }
    }
    let data = Dataset {
        name: "synthetic".into(),
        users: IdMap::from((0..USERS).map(|u| format!("u{u}")).collect::<Vec<_>>()),
        items: IdMap::from((0..ITEMS).map(|i| format!("i{i}")).collect::<Vec<_>>()),
        interactions: inter,
        ..Default::default()
    };
    let split = SplitConfig::default().split(&data).expect("valid split");
    let cfg = EvalConfig {
        sampled_negatives: sampled,
        ..Default::default()
    };
    let start = Instant::now();
    let r = evaluate(
        &HashScores,
        &data,
        &split,
        Stage::Test,
        &cfg,
        false,
        &ProgressBar::hidden(),
    )
    .expect("evaluation runs");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} users × {} items in {secs:.2} s on {} threads ({:.0} users/s); ndcg@10 = {:.5}, auc = {:.4}",
        r.users_evaluated,
        r.n_items,
        rayon::current_num_threads(),
        r.users_evaluated as f64 / secs,
        r.metrics["ndcg@10"],
        r.metrics["auc"],
    );
}
