//! Bayesian personalised ranking (BPR) matrix factorisation.
//!
//! Users and items get `factors`-dimensional vectors; a user's score for an item is their dot
//! product. Training samples, for every training event `(u, i)`, an item `j` the user never
//! interacted with in the training data, and minimises the BPR loss
//! `−ln σ(x_uᵀ y_i − x_uᵀ y_j)` (mean over a mini-batch) with Adam.
//!
//! Paper: Rendle, Freudenthaler, Gantner & Schmidt-Thieme, "BPR: Bayesian Personalized Ranking
//! from Implicit Feedback", UAI 2009. Reference implementation, whose defaults we take so the
//! two can be compared on the same split (`benches/recbole`): RecBole 1.2.1
//! `recbole/model/general_recommender/bpr.py` with `recbole/model/loss.py::BPRLoss` — 64
//! factors, Xavier-normal initialisation, one uniformly drawn negative per event (rejecting the
//! user's training items), batches of 2,048 events, Adam with learning rate 0.001 and no
//! weight decay, up to 300 epochs, full-ranking validation NDCG@10 after every epoch, stopping
//! at the eleventh validation without improvement, the best epoch kept.
//!
//! **Deviations.**
//! - The optimiser is the same dense Adam as PyTorch's (every row's moments decay every step,
//!   as they do for `nn.Embedding` with dense gradients), written out here over flat `f32`
//!   buffers, parallel over rows with rayon: no tensor library is needed for two embedding
//!   tables, and it is many times faster than autograd would be.
//! - Optional L2 regularisation `reg · (‖x_u‖² + ‖y_i‖² + ‖y_j‖²)` on the batch's rows
//!   (`reg = 0`, RecBole's BPR has none).
//! - Users without a trained vector (unseen in training, or with no training events) are folded
//!   in as the mean of their history items' vectors: a cold user is scored item-to-item
//!   through the learned space instead of not at all. A trained user is scored from its
//!   trained vector; events newer than the fit reach it at the next fit, as in RecBole.
//! - Training is not resumable from a checkpoint (an epoch takes well under a second on
//!   Amazon Beauty).

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use seer_core::{check_score_len, ItemIdx, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use crate::check;
use crate::error::{Error, Result};
use crate::io::{self, Loaded, Tensor};
use crate::train::{EarlyStop, EpochLog, TrainLog};
use crate::train::{FitOptions, TrainData};

/// Model kind in files and reports.
pub const KIND: &str = "bpr";

/// BPR hyperparameters; the defaults are RecBole 1.2.1's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Latent factors per user and item (≥ 1). Default 64 (RecBole's `embedding_size`).
    pub factors: usize,
    /// Adam learning rate (> 0). Default 0.001.
    pub lr: f64,
    /// Training events per mini-batch (≥ 1). Default 2048 (RecBole's `train_batch_size`).
    pub batch_size: usize,
    /// Maximum epochs, passes over every training event (≥ 1). Default 300.
    pub epochs: usize,
    /// Stop after this many validations without improvement; 0 never stops early.
    /// Default 11: RecBole's `stopping_step = 10` stops at the eleventh validation without
    /// improvement (`recbole/utils/utils.py::early_stopping` stops when `cur_step > max_step`).
    pub patience: usize,
    /// Validate every this many epochs (≥ 1). Default 1.
    pub eval_every: usize,
    /// L2 regularisation of the batch's user and item vectors (≥ 0). Default 0 (RecBole).
    pub reg: f64,
    /// Seed of initialisation, shuffling and negative sampling; the same seed gives the same
    /// model.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            factors: 64,
            lr: 0.001,
            batch_size: 2048,
            epochs: 300,
            patience: 11,
            eval_every: 1,
            reg: 0.0,
            seed: 42,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        check::at_least_one("bpr.factors", self.factors)?;
        check::positive("bpr.lr", self.lr)?;
        check::at_least_one("bpr.batch_size", self.batch_size)?;
        check::at_least_one("bpr.epochs", self.epochs)?;
        check::at_least_one("bpr.eval_every", self.eval_every)?;
        check::non_negative("bpr.reg", self.reg)
    }
}

/// A fitted BPR model.
///
/// # Shapes
/// `user_factors: [n_users, factors]`, `item_factors: [n_items, factors]`, row-major;
/// `trained: [n_users]` (1 where the user had training events and so a learned vector).
#[derive(Debug, Clone)]
pub struct Bpr {
    config: Config,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    trained: Vec<u32>,
    log: TrainLog,
}

/// PyTorch's Adam (`betas = (0.9, 0.999)`, `eps = 1e-8`) over one flat parameter buffer.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f32 = 1e-8;

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step at step number `t` (1-based) with gradient `g`, which is zeroed on the way.
    fn step(&mut self, params: &mut [f32], g: &mut [f32], lr: f64, t: i32) {
        let bc1 = 1.0 - BETA1.powi(t);
        let bc2 = 1.0 - BETA2.powi(t);
        let step_size = (lr / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        let (b1, b2) = (BETA1 as f32, BETA2 as f32);
        const CHUNK: usize = 4096;
        params
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks_mut(CHUNK))
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for j in 0..p.len() {
                    let gj = g[j];
                    m[j] = b1 * m[j] + (1.0 - b1) * gj;
                    v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                    p[j] -= step_size * m[j] / (v[j].sqrt() / bc2_sqrt + EPS);
                    g[j] = 0.0;
                }
            });
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Xavier-normal initialisation of an `[n, k]` table (`std = sqrt(2 / (n + k))`, PyTorch's
/// `xavier_normal_` on an embedding weight).
fn xavier_normal(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let std = (2.0 / (n + k) as f64).sqrt();
    // Box–Muller: two uniforms give one standard normal draw.
    (0..n * k)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2: f64 = rng.random::<f64>();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (z * std) as f32
        })
        .collect()
}

impl Bpr {
    /// Trains on `train`: up to `config.epochs` epochs, validating with `opts.validator`
    /// (when given) every `eval_every` epochs, keeping the best epoch's vectors and stopping
    /// after `patience` validations without improvement.
    pub fn fit(
        config: &Config,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Bpr> {
        config.validate()?;
        let k = config.factors;
        let m = &train.matrix;
        let (n_users, n_items) = (train.n_users, train.n_items);
        if m.nnz() == 0 {
            return Err(Error::config(
                "bpr",
                "the training data has no events; BPR needs at least one",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        // RecBole initialises the user table, then the item table.
        let user_factors = xavier_normal(n_users, k, &mut rng);
        let item_factors = xavier_normal(n_items, k, &mut rng);
        // Each user's distinct training items, sorted: the negatives' rejection set.
        let positives: Vec<Vec<ItemIdx>> = (0..n_users as u32)
            .map(|u| {
                let mut r = m.row(u).to_vec();
                r.sort_unstable();
                r.dedup();
                r
            })
            .collect();
        let trained: Vec<u32> = positives.iter().map(|p| u32::from(!p.is_empty())).collect();
        // One training pair per event, repeats kept (RecBole trains on every `.inter` row).
        let pairs: Vec<(u32, ItemIdx)> = (0..n_users as u32)
            .flat_map(|u| m.row(u).iter().map(move |&i| (u, i)))
            .collect();
        let mut model = Bpr {
            config: config.clone(),
            n_users,
            n_items,
            user_factors,
            item_factors,
            trained,
            log: TrainLog::default(),
        };
        let log = model.train(&pairs, &positives, opts, pb, &mut rng)?;
        if let Some(slot) = opts.log {
            if let Ok(mut g) = slot.lock() {
                *g = Some(log.clone());
            }
        }
        tracing::info!(
            n_users,
            n_items,
            factors = k,
            epochs = log.epochs.len(),
            best_epoch = log.best_epoch,
            best_valid = log.best_valid,
            "BPR fitted"
        );
        model.log = log;
        Ok(model)
    }

    fn train(
        &mut self,
        pairs: &[(u32, ItemIdx)],
        positives: &[Vec<ItemIdx>],
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
        rng: &mut ChaCha8Rng,
    ) -> Result<TrainLog> {
        let cfg = self.config.clone();
        let k = cfg.factors;
        let n_items = self.n_items as u32;
        let mut gu = vec![0.0f32; self.user_factors.len()];
        let mut gi = vec![0.0f32; self.item_factors.len()];
        let mut adam_u = Adam::new(gu.len());
        let mut adam_i = Adam::new(gi.len());
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let mut es = EarlyStop::new(cfg.epochs, cfg.eval_every, cfg.patience);
        let mut t = 0i32;
        let n_batches = pairs.len().div_ceil(cfg.batch_size);
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let (reg, lr) = (cfg.reg as f32, cfg.lr);
        for epoch in 1..=cfg.epochs {
            pb.set_prefix(format!("BPR epoch {epoch}/{}", cfg.epochs));
            pb.set_length(n_batches as u64);
            pb.set_position(0);
            let t0 = Instant::now();
            // Fisher–Yates with the model's generator (RecBole shuffles every epoch).
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let mut total = 0.0f64;
            for (b, batch) in order.chunks(cfg.batch_size).enumerate() {
                let scale = 1.0 / batch.len() as f32;
                for &p in batch {
                    let (u, i) = pairs[p];
                    let pos = &positives[u as usize];
                    // Uniform negative outside the user's training items (a user who has every
                    // item keeps the last draw).
                    let mut j = rng.random_range(0..n_items);
                    for _ in 0..100 {
                        if pos.binary_search(&j).is_err() {
                            break;
                        }
                        j = rng.random_range(0..n_items);
                    }
                    let (u, i, j) = (u as usize, i as usize, j as usize);
                    let xu = &self.user_factors[u * k..(u + 1) * k];
                    let yi = &self.item_factors[i * k..(i + 1) * k];
                    let yj = &self.item_factors[j * k..(j + 1) * k];
                    let x = dot(xu, yi) - dot(xu, yj);
                    // −ln(σ(x) + 1e-10), RecBole's BPRLoss; d/dx = −σ(−x).
                    let sig = 1.0 / (1.0 + (-x as f64).exp());
                    total += -(sig + 1e-10).ln();
                    let g = -(1.0 - sig) as f32 * scale;
                    let (gu_row, gi_all) = (&mut gu[u * k..(u + 1) * k], &mut gi);
                    for d in 0..k {
                        gu_row[d] += g * (yi[d] - yj[d]) + 2.0 * reg * scale * xu[d];
                    }
                    for d in 0..k {
                        gi_all[i * k + d] += g * xu[d] + 2.0 * reg * scale * yi[d];
                        gi_all[j * k + d] += -g * xu[d] + 2.0 * reg * scale * yj[d];
                    }
                }
                t += 1;
                adam_u.step(&mut self.user_factors, &mut gu, lr, t);
                adam_i.step(&mut self.item_factors, &mut gi, lr, t);
                pb.set_position(b as u64 + 1);
            }
            let loss = total / pairs.len() as f64;
            if !loss.is_finite() {
                return Err(Error::Tensor(format!(
                    "BPR training diverged at epoch {epoch}: loss {loss}; lower bpr.lr"
                )));
            }
            let seconds = t0.elapsed().as_secs_f64();
            let entry = EpochLog {
                epoch,
                loss,
                seconds,
                seqs_per_sec: pairs.len() as f64 / seconds.max(1e-9),
                valid: None,
            };
            let me = &*self;
            let validate = opts.validator.map(|f| move || f(me));
            let stop = es.end_epoch(
                entry,
                validate.as_ref().map(|f| f as &dyn Fn() -> Result<f64>),
                || Ok((me.user_factors.clone(), me.item_factors.clone())),
            )?;
            let log = &es.log;
            pb.set_message(format!(
                "loss {loss:.4}{}",
                log.best_valid
                    .map(|v| format!(" · best valid {v:.4} (epoch {})", log.best_epoch))
                    .unwrap_or_default()
            ));
            let valid = log.epochs.last().and_then(|e| e.valid);
            tracing::info!(epoch, loss, seconds, valid, "BPR epoch done");
            if stop {
                break;
            }
        }
        pb.finish_and_clear();
        let (log, best) = es.finish();
        if let Some((u, i)) = best {
            self.user_factors = u;
            self.item_factors = i;
        }
        Ok(log)
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Bpr> {
        let k = config.factors;
        let (ishape, item_factors) = file.f32("bpr.item_factors", None)?;
        let (ushape, user_factors) = file.f32("bpr.user_factors", None)?;
        let (tshape, trained) = file.u32("bpr.trained", None)?;
        let (n_items, n_users) = match (&ishape[..], &ushape[..], &tshape[..]) {
            ([n_items, fi], [n_users, fu], [nt]) if *fi == k && *fu == k && nt == n_users => {
                (*n_items, *n_users)
            }
            _ => {
                return Err(file.bad(format!(
                    "BPR tensors: expected item factors [n_items, {k}], user factors \
                     [n_users, {k}] and trained [n_users]; found {ishape:?}, {ushape:?}, \
                     {tshape:?}"
                )))
            }
        };
        Ok(Bpr {
            config,
            n_users,
            n_items,
            user_factors,
            item_factors,
            trained,
            log: TrainLog::default(),
        })
    }

    /// The training log (loss, seconds and validation metric per epoch; empty when loaded).
    pub fn log(&self) -> &TrainLog {
        &self.log
    }

    /// Item factors, row-major `[n_items, factors]`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The user's vector into `x`: the trained one, or the mean of the history's item
    /// vectors for a user without one (zero for an empty or all-unknown history).
    fn user_vector(&self, user: &UserContext<'_>, x: &mut [f32]) {
        let k = self.config.factors;
        if let Some(u) = user.user.map(|u| u as usize) {
            if u < self.n_users && self.trained[u] == 1 {
                x.copy_from_slice(&self.user_factors[u * k..(u + 1) * k]);
                return;
            }
        }
        x.fill(0.0);
        let mut n = 0usize;
        for &i in user.history {
            if (i as usize) < self.n_items {
                let y = &self.item_factors[i as usize * k..(i as usize + 1) * k];
                x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
                n += 1;
            }
        }
        if n > 0 {
            x.iter_mut().for_each(|a| *a /= n as f32);
        }
    }
}

impl Recommender for Bpr {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        let k = self.config.factors;
        let mut x = vec![0.0f32; k];
        self.user_vector(user, &mut x);
        for (o, y) in out.iter_mut().zip(self.item_factors.chunks_exact(k)) {
            *o = dot(y, &x);
        }
        Ok(())
    }

    /// All users' vectors, then one `[users, k] × [k, n_items]` product.
    fn score_batch(&self, users: &[UserContext<'_>], out: &mut [f32]) -> seer_core::Result<()> {
        let k = self.config.factors;
        let vector = |u: &UserContext<'_>, x: &mut [f32]| self.user_vector(u, x);
        crate::history::score_factor_users(users, &self.item_factors, k, out, vector)
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let k = self.config.factors;
        let tensors = [
            (
                "bpr.item_factors",
                Tensor::f32(&[self.n_items, k], &self.item_factors),
            ),
            (
                "bpr.user_factors",
                Tensor::f32(&[self.n_users, k], &self.user_factors),
            ),
            ("bpr.trained", Tensor::u32(&[self.n_users], &self.trained)),
        ];
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::blocks;
    use crate::ModelConfig;
    use seer_core::topk::top_k;

    fn small() -> Config {
        Config {
            factors: 8,
            lr: 0.05,
            batch_size: 16,
            epochs: 60,
            ..Config::default()
        }
    }

    #[test]
    fn learns_the_block_structure() {
        let train = blocks();
        let model = Bpr::fit(
            &small(),
            &train,
            &FitOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        // The loss falls from ln 2 (random vectors score alike) to well below it.
        let losses: Vec<f64> = model.log().epochs.iter().map(|e| e.loss).collect();
        assert!(losses[0] > 0.6, "{losses:?}");
        assert!(*losses.last().unwrap() < 0.2, "{losses:?}");
        // Each trained user's missing item of its own block ranks first among unseen items.
        let mut scores = vec![0.0; 12];
        for user in 0..24u32 {
            let blk = user / 8;
            let missing = blk * 4 + user % 4;
            let ctx = UserContext::from_history(Some(user), train.matrix.row(user));
            model.score(&ctx, &mut scores).unwrap();
            for &i in train.matrix.row(user) {
                scores[i as usize] = f32::NEG_INFINITY;
            }
            assert_eq!(top_k(&scores, 1)[0].0, missing, "user {user}");
        }
        // A cold user (no index) is folded in from its history: block 1's items come first.
        let ctx = UserContext::from_history(None, &[4, 5]);
        model.score(&ctx, &mut scores).unwrap();
        let top: Vec<u32> = top_k(&scores, 4).into_iter().map(|p| p.0).collect();
        assert!(top.iter().all(|i| (4..8).contains(i)), "{top:?}");
    }

    #[test]
    fn same_seed_same_model_and_early_stopping_keeps_the_best_epoch() {
        let train = blocks();
        let a = Bpr::fit(
            &small(),
            &train,
            &FitOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let b = Bpr::fit(
            &small(),
            &train,
            &FitOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(a.item_factors(), b.item_factors());
        // A validator that peaks at epoch 3 and then falls: training stops after `patience`
        // worse validations and keeps epoch 3's vectors.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let validator = |_: &dyn Recommender| -> Result<f64> {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Ok(if n <= 3 { n as f64 } else { 3.0 - n as f64 })
        };
        let log = std::sync::Mutex::new(None);
        let opts = FitOptions {
            validator: Some(&validator),
            log: Some(&log),
            ..FitOptions::default()
        };
        let cfg = Config {
            patience: 2,
            ..small()
        };
        let m = Bpr::fit(&cfg, &train, &opts, &ProgressBar::hidden()).unwrap();
        let log = log.into_inner().unwrap().unwrap();
        assert_eq!((log.best_epoch, log.epochs.len()), (3, 5));
        // The kept vectors are epoch 3's: refitting for exactly 3 epochs gives them.
        let three = Bpr::fit(
            &Config { epochs: 3, ..cfg },
            &train,
            &FitOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(m.item_factors(), three.item_factors());
    }

    #[test]
    fn adam_matches_pytorch_on_one_step() {
        // torch.optim.Adam([p], lr=0.1) on p = [1, -2], grad = [0.5, 0]:
        // step 1 moves p[0] by -lr (m̂/√v̂ = 1) and leaves p[1] (zero gradient, zero moments).
        let mut p = vec![1.0f32, -2.0];
        let mut g = vec![0.5f32, 0.0];
        let mut adam = Adam::new(2);
        adam.step(&mut p, &mut g, 0.1, 1);
        assert!((p[0] - 0.9).abs() < 1e-6, "{p:?}");
        assert_eq!(p[1], -2.0);
        assert_eq!(g, vec![0.0, 0.0]);
        // Step 2 with a zero gradient still moves p[0] (momentum), as dense PyTorch Adam does.
        adam.step(&mut p, &mut g, 0.1, 2);
        assert!(p[0] < 0.9 - 0.01, "{p:?}");
    }

    #[test]
    fn round_trip_and_validation_errors() {
        crate::testutil::assert_round_trip(&ModelConfig::Bpr(small()), &blocks());
        for (spec, key) in [
            ("bpr:factors=0", "bpr.factors"),
            ("bpr:lr=0", "bpr.lr"),
            ("bpr:batch_size=0", "bpr.batch_size"),
            ("bpr:reg=-1", "bpr.reg"),
        ] {
            let e = ModelConfig::from_spec(spec).unwrap_err().to_string();
            assert!(e.contains(key), "{spec}: {e}");
        }
    }
}
