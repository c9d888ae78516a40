//! The one evaluation protocol: full ranking over the whole catalogue, seen items masked.
//!
//! For every user with held-out events at the chosen [`Stage`]:
//!
//! 1. **History** = the user's events known at prediction time, oldest first: the training
//!    rows for [`Stage::Validation`], training + validation rows for [`Stage::Test`]. The
//!    model sees it as a [`UserContext`] with timestamps and context columns, and `now` /
//!    `now_context` = the time and context of the user's first target event (what a live
//!    request carries: when it is made and from where, not what is chosen).
//! 2. **Targets** = the distinct items of the user's validation (resp. test) rows. Targets
//!    already in the history are dropped (counted in
//!    [`EvalReport::targets_in_history_dropped`]): a model cannot be asked to recommend what
//!    it must mask. Users left without targets are skipped (counted in
//!    [`EvalReport::users_skipped`]).
//! 3. The model scores **every** item; history items are masked (`-inf`); the remaining items
//!    are the candidates, ranked by higher score first. **Ties** in score go to the item
//!    more popular in the stage's history part (training popularity, so nothing held out
//!    leaks), then to the lower item index. Not to the index alone: indices follow first
//!    appearance in the source file, which correlates with time and with later popularity,
//!    so an index tie rule would let file order rank the users whose scores tie (e.g. users
//!    with an empty history on a temporal split, whom history-based models score all zero).
//!    A NaN or `-inf` score from the model is treated as the lowest finite score, so such
//!    items stay candidates and rank last.
//! 4. Per-user metrics from [`crate::metrics`] are averaged over evaluated users (macro
//!    average), summed in user order so the result does not depend on thread scheduling.
//!
//! Sampled-negative metrics (rank each target against `n` random candidates instead of the
//! whole catalogue) are computed **in addition** only when
//! [`EvalConfig::sampled_negatives`] is set; their keys start with `sampled{n}_` and the
//! report carries `sampled: true`. They are not comparable to full-ranking numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufWriter, Write};
use std::path::Path;

use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use seer_core::topk::{rank_cmp, top_k_into};
use seer_core::{ItemIdx, Recommender, UserContext, UserIdx};
use seer_data::{Csr, Dataset, Part, Split};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::error::{Error, Result};
use crate::metrics::{self, is_candidate, TargetRank};

/// Evaluation settings (`[eval]` in `seer.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Cut-offs K for the top-K metrics, each ≥ 1 (default `[5, 10, 20]`). Sorted and
    /// de-duplicated before use.
    pub ks: Vec<usize>,
    /// When set to `n`, also compute sampled metrics: each target ranked against `n` seeded
    /// random unmasked non-target items (default: none; full ranking is the protocol).
    pub sampled_negatives: Option<usize>,
    /// Seed of the negative sampler; the same seed gives the same numbers (default 42).
    pub seed: u64,
    /// Users scored per `score_batch` call and per parallel task (default 256). Memory per
    /// thread is `batch_users × n_items × 4` bytes.
    pub batch_users: usize,
    /// Test protocol (default `seer`). `seer`: at test time the model sees the validation
    /// event — its input history is train + validation (and the CLI refits non-sequential
    /// models on train + validation). `recbole`: RecBole's default — the model is fit on train
    /// only and scores from the training events, while validation items are masked too; use it
    /// to reproduce RecBole's numbers.
    pub protocol: TestProtocol,
}

/// How the test stage treats the validation events (see [`EvalConfig::protocol`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestProtocol {
    /// The model's input at test time includes the validation events.
    #[default]
    Seer,
    /// The model's input at test time is the training events only; validation items are
    /// still masked (RecBole's default).
    Recbole,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            ks: vec![5, 10, 20],
            sampled_negatives: None,
            seed: 42,
            batch_users: 256,
            protocol: TestProtocol::Seer,
        }
    }
}

impl EvalConfig {
    /// Checks value ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: String| {
            Err(Error::Config {
                key: key.into(),
                message,
            })
        };
        if self.ks.is_empty() {
            return bad("eval.ks", "must list at least one cut-off".into());
        }
        if self.ks.contains(&0) {
            return bad(
                "eval.ks",
                format!("{:?}: every K must be at least 1", self.ks),
            );
        }
        if self.batch_users == 0 {
            return bad("eval.batch_users", "0 must be at least 1".into());
        }
        if self.sampled_negatives == Some(0) {
            return bad(
                "eval.sampled_negatives",
                "0 must be at least 1 (or unset)".into(),
            );
        }
        Ok(())
    }

    /// The cut-offs, sorted ascending without duplicates.
    pub fn sorted_ks(&self) -> Vec<usize> {
        let mut ks = self.ks.clone();
        ks.sort_unstable();
        ks.dedup();
        ks
    }
}

/// Which held-out part is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Targets = validation rows; history = training rows. For model selection.
    Validation,
    /// Targets = test rows; history = training + validation rows. For the final numbers.
    Test,
}

impl Stage {
    /// Parts forming the history, and the target part.
    pub(crate) fn parts(self) -> (&'static [Part], Part) {
        match self {
            Stage::Validation => (&[Part::Train], Part::Valid),
            Stage::Test => (&[Part::Train, Part::Valid], Part::Test),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Validation => "validation",
            Stage::Test => "test",
        })
    }
}

/// One user's top-`max(ks)` recommendations, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecs {
    /// Dense user index.
    pub user: UserIdx,
    /// `(item, score)` pairs, best first.
    pub items: Vec<(ItemIdx, f32)>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The evaluated stage.
    pub stage: Stage,
    /// Users with at least one target after dropping targets already in their history.
    pub users_evaluated: usize,
    /// Users without targets (no held-out rows, or all of them already in the history).
    pub users_skipped: usize,
    /// Distinct (user, target item) pairs dropped because the item was in the history.
    pub targets_in_history_dropped: usize,
    /// Catalogue size.
    pub n_items: usize,
    /// The cut-offs used, ascending.
    pub ks: Vec<usize>,
    /// True when sampled-negative metrics (`sampled{n}_*` keys) are included.
    pub sampled: bool,
    /// The number of sampled negatives per target, when `sampled`.
    #[serde(default)]
    pub sampled_negatives: Option<usize>,
    /// Metric name → value, averaged over evaluated users. Keys are lower-case:
    /// `hr@K`, `precision@K`, `recall@K`, `f1@K`, `ndcg@K`, `mrr@K`, `map@K`, `coverage@K`,
    /// `pop@K`, `pop_norm@K` per cut-off, full-ranking `mrr` and `auc`, and with sampling
    /// `sampled{n}_hr@K`, `sampled{n}_ndcg@K`, `sampled{n}_mrr`, `sampled{n}_auc`. A metric
    /// no user could be scored on (e.g. `auc` when no user has a negative) is absent.
    pub metrics: BTreeMap<String, f64>,
    /// Per-user top-`max(ks)` lists, in user order, when `keep_recs` was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recs: Option<Vec<UserRecs>>,
    /// Each evaluated user's NDCG at the headline cut-off (10 when evaluated, else the
    /// largest K), in user order: for paired comparisons of models on the same users
    /// ([`crate::paired_difference`]). Not written to JSON (one entry per user).
    #[serde(skip)]
    pub per_user_ndcg: Vec<(UserIdx, f64)>,
}

impl EvalReport {
    /// The value of metric `key` (e.g. `"ndcg@10"`), if present.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).copied()
    }
}

/// Names and positions of the per-user metric values.
struct Layout {
    ks: Vec<usize>,
    sampled: Option<usize>,
    names: Vec<String>,
}

/// Per-K metrics computed per user, in layout order.
const PER_K: [&str; 8] = [
    "hr",
    "precision",
    "recall",
    "f1",
    "ndcg",
    "mrr",
    "map",
    "pop",
];
/// Per-K sampled metrics.
const SAMPLED_PER_K: [&str; 2] = ["hr", "ndcg"];

impl Layout {
    fn new(ks: Vec<usize>, sampled: Option<usize>) -> Self {
        let mut names = Vec::new();
        for &k in &ks {
            names.extend(PER_K.iter().map(|m| format!("{m}@{k}")));
        }
        names.push("mrr".into());
        names.push("auc".into());
        if let Some(n) = sampled {
            for &k in &ks {
                names.extend(SAMPLED_PER_K.iter().map(|m| format!("sampled{n}_{m}@{k}")));
            }
            names.push(format!("sampled{n}_mrr"));
            names.push(format!("sampled{n}_auc"));
        }
        Self { ks, sampled, names }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    fn max_k(&self) -> usize {
        self.ks.last().copied().unwrap_or(0)
    }
}

/// Scratch buffers reused by one worker thread across chunks (no allocation per user).
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    /// The user's scores in tie-break order (`perm[p] = score of order[p]`).
    perm: Vec<f32>,
    top: Vec<(ItemIdx, f32)>,
    ranked: Vec<ItemIdx>,
    targets: Vec<ItemIdx>,
    ranks: Vec<TargetRank>,
    negatives: Vec<(ItemIdx, f32)>,
    pool: Vec<ItemIdx>,
    /// `stamp[i] == user + 1` marks item `i` as taken while sampling for `user`.
    stamp: Vec<u32>,
}

/// What one chunk of users produced.
struct ChunkOut {
    /// `users × layout.len()` values (NaN = undefined for that user) of evaluated users.
    values: Vec<f64>,
    /// Top-`max(ks)` list of each evaluated user (for coverage and `recs`).
    tops: Vec<(UserIdx, Vec<(ItemIdx, f32)>)>,
    skipped: usize,
    dropped: usize,
    /// `(probability, label)` of every proposed candidate of models that predict
    /// probabilities ([`Recommender::candidate_probabilities`]).
    pointwise: Vec<(f32, f32)>,
}

/// Shared, read-only inputs of the per-chunk work.
struct Inputs<'a> {
    model: &'a dyn Recommender,
    /// Masked items: every event known at this stage.
    history: &'a Csr,
    /// What the model is given as the user's history (= `history`, except under
    /// [`TestProtocol::Recbole`] at test time: training events only).
    input: &'a Csr,
    targets: &'a Csr,
    popularity: &'a [u32],
    /// Tie-break order: items by training popularity (descending), then index.
    order: &'a [ItemIdx],
    /// Inverse of `order`: `pos[order[p]] = p`.
    pos: &'a [u32],
    layout: &'a Layout,
    seed: u64,
    n_items: usize,
}

/// Checks that `model` scores `data`'s catalogue and `split` covers its events.
pub(crate) fn check_inputs(model: &dyn Recommender, data: &Dataset, split: &Split) -> Result<()> {
    if model.n_items() != data.n_items() {
        return Err(Error::CatalogueMismatch {
            model: model.n_items(),
            data: data.n_items(),
        });
    }
    if split.part.len() != data.interactions.len() {
        return Err(Error::SplitMismatch {
            split: split.part.len(),
            data: data.interactions.len(),
        });
    }
    Ok(())
}

/// Evaluates `model` on `stage` of `split` with the full-ranking protocol (see the module
/// docs), in parallel over users. `keep_recs` keeps every user's top-`max(ks)` list in the
/// report. `pb` advances by one per user with targets.
pub fn evaluate(
    model: &dyn Recommender,
    data: &Dataset,
    split: &Split,
    stage: Stage,
    cfg: &EvalConfig,
    keep_recs: bool,
    pb: &ProgressBar,
) -> Result<EvalReport> {
    cfg.validate()?;
    check_inputs(model, data, split)?;
    let n_items = data.n_items();
    let n_users = data.n_users();
    let _span = tracing::info_span!("evaluate", %stage, model = model.kind()).entered();
    let (hist_parts, target_part) = stage.parts();
    let inter = &data.interactions;
    let history = Csr::from_rows(inter, &split.rows(hist_parts), n_users, n_items);
    let recbole_input = (stage == Stage::Test && cfg.protocol == TestProtocol::Recbole)
        .then(|| Csr::from_rows(inter, &split.rows(&[Part::Train]), n_users, n_items));
    let targets = Csr::from_rows(inter, &split.rows(&[target_part]), n_users, n_items);
    let popularity = history.col_counts();
    let layout = Layout::new(cfg.sorted_ks(), cfg.sampled_negatives);

    let users: Vec<UserIdx> = (0..n_users as UserIdx)
        .filter(|&u| !targets.row(u).is_empty())
        .collect();
    let no_targets = n_users - users.len();
    pb.set_length(users.len() as u64);
    pb.set_position(0);

    let mut order: Vec<ItemIdx> = (0..n_items as ItemIdx).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(popularity[i as usize]), i));
    let mut pos = vec![0u32; n_items];
    for (p, &i) in order.iter().enumerate() {
        pos[i as usize] = p as u32;
    }
    let inputs = Inputs {
        model,
        history: &history,
        input: recbole_input.as_ref().unwrap_or(&history),
        targets: &targets,
        popularity: &popularity,
        order: &order,
        pos: &pos,
        layout: &layout,
        seed: cfg.seed,
        n_items,
    };
    // Chunks are processed in parallel but collected in order, and values are summed in
    // user order below, so the metrics are bit-for-bit reproducible.
    let chunks: Vec<ChunkOut> = users
        .par_chunks(cfg.batch_users)
        .map_init(Scratch::default, |s, chunk| {
            let out = eval_chunk(&inputs, chunk, s);
            pb.inc(chunk.len() as u64);
            out
        })
        .collect::<Result<_>>()?;

    // ---- reduce in user order ----
    let m = layout.len();
    let mut sums = vec![0.0f64; m];
    let mut counts = vec![0usize; m];
    let (mut evaluated, mut skipped, mut dropped) = (0usize, no_targets, 0usize);
    for c in &chunks {
        skipped += c.skipped;
        dropped += c.dropped;
        evaluated += c.tops.len();
        for row in c.values.chunks_exact(m) {
            for (j, &v) in row.iter().enumerate() {
                if !v.is_nan() {
                    sums[j] += v;
                    counts[j] += 1;
                }
            }
        }
    }
    let mut metrics: BTreeMap<String, f64> = layout
        .names
        .iter()
        .zip(sums.iter().zip(&counts))
        .filter(|(_, (_, &c))| c > 0)
        .map(|(name, (&s, &c))| (name.clone(), s / c as f64))
        .collect();
    ranker_metrics(&chunks, &mut metrics);
    list_metrics(
        &chunks,
        &layout.ks,
        &popularity,
        n_items,
        evaluated,
        &mut metrics,
    );
    let headline = crate::result::headline_k(&layout.ks);
    let per_user_ndcg =
        match headline.and_then(|k| layout.names.iter().position(|n| *n == format!("ndcg@{k}"))) {
            Some(j) => chunks
                .iter()
                .flat_map(|c| {
                    c.tops
                        .iter()
                        .zip(c.values.chunks_exact(m))
                        .map(move |((u, _), row)| (*u, row[j]))
                })
                .collect(),
            None => Vec::new(),
        };
    let recs = keep_recs.then(|| {
        chunks
            .into_iter()
            .flat_map(|c| c.tops)
            .map(|(user, items)| UserRecs { user, items })
            .collect()
    });
    info!(
        %stage,
        users_evaluated = evaluated,
        users_skipped = skipped,
        targets_in_history_dropped = dropped,
        mrr = metrics.get("mrr").copied().unwrap_or(f64::NAN),
        "evaluation done"
    );
    Ok(EvalReport {
        stage,
        users_evaluated: evaluated,
        users_skipped: skipped,
        targets_in_history_dropped: dropped,
        n_items,
        ks: layout.ks.clone(),
        sampled: layout.sampled.is_some(),
        sampled_negatives: layout.sampled,
        metrics,
        recs,
        per_user_ndcg,
    })
}

/// The ranker's pointwise metrics (`ranker_auc`, `ranker_logloss`,
/// `ranker_calibration_error`) over every chunk's candidate probabilities, when any.
fn ranker_metrics(chunks: &[ChunkOut], metrics: &mut BTreeMap<String, f64>) {
    let (p, y): (Vec<f32>, Vec<f32>) = chunks
        .iter()
        .flat_map(|c| c.pointwise.iter().copied())
        .unzip();
    if !p.is_empty() {
        if let Some(a) = seer_core::prob::auc(&p, &y) {
            metrics.insert("ranker_auc".into(), a);
        }
        metrics.insert("ranker_logloss".into(), seer_core::prob::log_loss(&p, &y));
        metrics.insert(
            "ranker_calibration_error".into(),
            seer_core::prob::calibration_error(&p, &y, 10),
        );
    }
}

/// Catalogue coverage of the top-K lists and their popularity normalised by the most
/// popular item's, at every K.
fn list_metrics(
    chunks: &[ChunkOut],
    ks: &[usize],
    popularity: &[u32],
    n_items: usize,
    evaluated: usize,
    metrics: &mut BTreeMap<String, f64>,
) {
    let max_pop = popularity.iter().copied().max().unwrap_or(0);
    for &k in ks {
        if evaluated == 0 {
            break;
        }
        let lists = chunks.iter().flat_map(|c| c.tops.iter());
        let mut seen = vec![false; n_items];
        for (_, top) in lists {
            for &(i, _) in top.iter().take(k) {
                seen[i as usize] = true;
            }
        }
        let covered = seen.iter().filter(|&&b| b).count();
        metrics.insert(
            format!("coverage@{k}"),
            covered as f64 / n_items.max(1) as f64,
        );
        let pop = metrics.get(&format!("pop@{k}")).copied().unwrap_or(0.0);
        let norm = if max_pop > 0 {
            pop / f64::from(max_pop)
        } else {
            0.0
        };
        metrics.insert(format!("pop_norm@{k}"), norm);
    }
}

/// The context codes of user `u`'s first event in `m` (the request's context: known at the
/// time of the request, like `now`), when `m` has context columns.
pub(crate) fn first_context(m: &Csr, u: UserIdx) -> Option<&[u32]> {
    let k = m.n_context;
    let c = m.row_context(u);
    (k > 0 && c.len() >= k).then(|| &c[..k])
}

/// Scores one chunk of users with one `score_batch` call and computes their metrics.
fn eval_chunk(inp: &Inputs<'_>, users: &[UserIdx], s: &mut Scratch) -> Result<ChunkOut> {
    let n = inp.n_items;
    let ctxs: Vec<UserContext<'_>> = users
        .iter()
        .map(|&u| UserContext {
            user: Some(u),
            history: inp.input.row(u),
            timestamps: Some(inp.input.row_ts(u)),
            now: inp.targets.row_ts(u).first().copied(),
            context: (inp.input.n_context > 0).then(|| inp.input.row_context(u)),
            now_context: first_context(inp.targets, u),
        })
        .collect();
    s.scores.clear();
    s.scores.resize(users.len() * n, 0.0);
    let mut scores = std::mem::take(&mut s.scores);
    inp.model.score_batch(&ctxs, &mut scores)?;
    let m = inp.layout.len();
    let mut out = ChunkOut {
        values: Vec::with_capacity(users.len() * m),
        tops: Vec::new(),
        skipped: 0,
        dropped: 0,
        pointwise: Vec::new(),
    };
    for (ctx, &u) in ctxs.iter().zip(users) {
        if let Some(cands) = inp.model.candidate_probabilities(ctx)? {
            let targets = inp.targets.row(u);
            for (i, p) in cands {
                out.pointwise
                    .push((p, if targets.contains(&i) { 1.0 } else { 0.0 }));
            }
        }
    }
    for (&u, row) in users.iter().zip(scores.chunks_exact_mut(n.max(1))) {
        eval_user(inp, u, row, s, &mut out);
    }
    s.scores = scores;
    Ok(out)
}

/// Masks, ranks and scores one user; appends to `out`.
fn eval_user(inp: &Inputs<'_>, u: UserIdx, row: &mut [f32], s: &mut Scratch, out: &mut ChunkOut) {
    // Only history items may be masked: model-given NaN / -inf become the lowest score.
    for x in row.iter_mut() {
        if !is_candidate(*x) {
            *x = f32::MIN;
        }
    }
    for &h in inp.history.row(u) {
        row[h as usize] = f32::NEG_INFINITY;
    }
    s.targets.clear();
    s.targets.extend_from_slice(inp.targets.row(u));
    s.targets.sort_unstable();
    s.targets.dedup();
    let before = s.targets.len();
    s.targets.retain(|&t| row[t as usize] != f32::NEG_INFINITY);
    out.dropped += before - s.targets.len();
    if s.targets.is_empty() {
        out.skipped += 1;
        return;
    }
    let layout = inp.layout;
    // Rank in tie-break order: position p holds item `order[p]` (training popularity, then
    // index), so the index-based tie rule of `top_k_into` / `target_ranks_into` becomes
    // "more popular in training first". See the module docs for why.
    s.perm.clear();
    s.perm.extend(inp.order.iter().map(|&i| row[i as usize]));
    top_k_into(&s.perm, layout.max_k(), &mut s.top);
    for e in s.top.iter_mut() {
        e.0 = inp.order[e.0 as usize];
    }
    s.ranked.clear();
    s.ranked.extend(s.top.iter().map(|&(i, _)| i));
    let (ranked, targets) = (&s.ranked, &s.targets);
    for &k in &layout.ks {
        out.values.extend([
            metrics::hit_rate(ranked, targets, k),
            metrics::precision(ranked, targets, k),
            metrics::recall(ranked, targets, k),
            metrics::f1(ranked, targets, k),
            metrics::ndcg(ranked, targets, k),
            metrics::mrr_at(ranked, targets, k),
            metrics::average_precision(ranked, targets, k),
            metrics::mean_popularity(ranked, inp.popularity, k),
        ]);
    }
    // From here on items are positions in the tie-break order.
    for t in s.targets.iter_mut() {
        *t = inp.pos[*t as usize];
    }
    s.targets.sort_unstable();
    let perm = std::mem::take(&mut s.perm);
    let n_cand = metrics::target_ranks_into(&perm, &s.targets, &mut s.ranks);
    out.values.push(metrics::mrr_full(&s.ranks));
    out.values
        .push(metrics::auc(&s.ranks, n_cand).unwrap_or(f64::NAN));
    if let Some(n_neg) = layout.sampled {
        sample_negatives(inp, u, &perm, n_cand, n_neg, s);
        sampled_metrics(&perm, &s.targets, &s.negatives, &layout.ks, &mut out.values);
    }
    s.perm = perm;
    out.tops.push((u, s.top.clone()));
}

/// Fills `s.negatives` with `n` distinct random candidates that are not targets (all of them
/// when fewer exist), from a per-user seeded stream so chunking never changes the draw.
fn sample_negatives(
    inp: &Inputs<'_>,
    u: UserIdx,
    row: &[f32],
    n_cand: usize,
    n: usize,
    s: &mut Scratch,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(
        inp.seed ^ (u64::from(u) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    s.negatives.clear();
    let pool_size = n_cand - s.targets.len();
    if pool_size <= 2 * n {
        // Dense case: list the pool and draw by partial Fisher–Yates.
        s.pool.clear();
        s.pool
            .extend((0..row.len() as ItemIdx).filter(|&i| {
                is_candidate(row[i as usize]) && s.targets.binary_search(&i).is_err()
            }));
        let take = n.min(s.pool.len());
        for j in 0..take {
            let k = rng.random_range(j..s.pool.len());
            s.pool.swap(j, k);
        }
        s.negatives
            .extend(s.pool[..take].iter().map(|&i| (i, row[i as usize])));
        return;
    }
    // Sparse case: rejection sampling; at least half the catalogue draws are accepted.
    if s.stamp.len() != row.len() {
        s.stamp = vec![0; row.len()];
    }
    let mark = u + 1;
    for &t in &s.targets {
        s.stamp[t as usize] = mark;
    }
    while s.negatives.len() < n {
        let i = rng.random_range(0..row.len() as ItemIdx);
        if s.stamp[i as usize] != mark && is_candidate(row[i as usize]) {
            s.stamp[i as usize] = mark;
            s.negatives.push((i, row[i as usize]));
        }
    }
}

/// Sampled metrics of one user, appended in layout order.
///
/// Each target is ranked separately against the same sampled negatives:
/// `rank = #{negatives beating it}` under [`rank_cmp`]; per target `hr@K = 1[rank < K]`,
/// `ndcg@K = 1[rank < K] / log2(rank + 2)`, `mrr = 1 / (rank + 1)`,
/// `auc = (N − greater − ½·tied) / N`; the user's value is the mean over targets.
fn sampled_metrics(
    row: &[f32],
    targets: &[ItemIdx],
    negatives: &[(ItemIdx, f32)],
    ks: &[usize],
    values: &mut Vec<f64>,
) {
    let n_t = targets.len() as f64;
    let stats: Vec<(usize, usize, usize)> = targets
        .iter()
        .map(|&t| {
            let x = (t, row[t as usize]);
            let beat = negatives
                .iter()
                .filter(|&&y| rank_cmp(y, x).is_lt())
                .count();
            let greater = negatives.iter().filter(|&&(_, sy)| sy > x.1).count();
            let tied = negatives.iter().filter(|&&(_, sy)| sy == x.1).count();
            (beat, greater, tied)
        })
        .collect();
    for &k in ks {
        let hr = stats.iter().filter(|s| s.0 < k).count() as f64 / n_t;
        let ndcg: f64 = stats
            .iter()
            .filter(|s| s.0 < k)
            .map(|s| 1.0 / ((s.0 + 2) as f64).log2())
            .sum::<f64>()
            / n_t;
        values.extend([hr, ndcg]);
    }
    values.push(stats.iter().map(|s| 1.0 / (s.0 + 1) as f64).sum::<f64>() / n_t);
    let n = negatives.len() as f64;
    values.push(if negatives.is_empty() {
        f64::NAN
    } else {
        stats
            .iter()
            .map(|s| (n - s.1 as f64 - 0.5 * s.2 as f64) / n)
            .sum::<f64>()
            / n_t
    });
}

/// Writes the report's recommendation lists as CSV `user_id,rank,item_id,score` with the
/// original string ids and 1-based ranks. Fails with [`Error::NoRecs`] when the report was
/// made without `keep_recs`.
pub fn export_recs(report: &EvalReport, data: &Dataset, path: &Path) -> Result<()> {
    let recs = report.recs.as_ref().ok_or(Error::NoRecs)?;
    let file = std::fs::File::create(path).map_err(Error::io(path))?;
    let mut w = BufWriter::new(file);
    let io = Error::io;
    writeln!(w, "user_id,rank,item_id,score").map_err(io(path))?;
    for r in recs {
        let user = data.users.id(r.user).ok_or(Error::MissingId {
            what: "user",
            index: r.user,
        })?;
        for (rank, &(item, score)) in r.items.iter().enumerate() {
            let item_id = data.items.id(item).ok_or(Error::MissingId {
                what: "item",
                index: item,
            })?;
            writeln!(
                w,
                "{},{},{},{}",
                csv_field(user),
                rank + 1,
                csv_field(item_id),
                score
            )
            .map_err(io(path))?;
        }
    }
    w.flush().map_err(io(path))
}

/// Quotes a CSV field when it contains a separator, quote or line break (RFC 4180).
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

#[cfg(test)]
pub(crate) mod tests;
