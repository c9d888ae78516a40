//! Item-based k-nearest-neighbours.
//!
//! Two items are similar when the same users interacted with both. On the binarised training
//! matrix, with `U_i` the users of item `i`,
//!
//! `sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| · |U_j|) + shrink)`,
//!
//! the cosine similarity with a shrinkage term that damps similarities supported by few users.
//! Each item keeps its `k` most similar neighbours; a user's score for item `j` is
//! `Σ_{h ∈ history} sim(h, j)` over the distinct items of the history, counting only the
//! `j` that are among `h`'s `k` neighbours.
//!
//! Papers: Sarwar, Karypis, Konstan & Riedl, "Item-based collaborative filtering
//! recommendation algorithms", WWW 2001; Deshpande & Karypis, "Item-based top-N recommendation
//! algorithms", ACM TOIS 22(1), 2004 (the top-N scoring rule used here).
//! Reference implementation: RecBole `recbole/model/general_recommender/itemknn.py`
//! (`ComputeSimilarity`), whose defaults `k = 100`, `shrink = 0` we take.
//!
//! **Deviations.** RecBole keeps the top `k` neighbours per *target* item (`score(j)` sums over
//! `j`'s neighbours found in the history); by default we keep them per *history* item, as
//! Deshpande & Karypis do (`neighbours = "history"`). `neighbours = "target"` keeps RecBole's
//! choice (the same top-`k` lists, transposed), for like-for-like comparisons with RecBole.
//! Either way scoring adds one sparse row per history item. We do not normalise rows
//! (Deshpande & Karypis's optional step). The history is used as a set: repeats count once.
//! Users with a single item contribute nothing (no co-occurrence); items never seen in
//! training have no neighbours and score 0.

use std::path::Path;

use indicatif::ProgressBar;
use rayon::prelude::*;
use seer_core::{check_score_len, ItemIdx, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use crate::check;
use crate::error::Result;
use crate::history::unique_known;
use crate::io::{self, Loaded, Tensor};
use crate::train::TrainData;

/// Model kind in files and reports.
pub const KIND: &str = "itemknn";

/// Item-kNN hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Neighbours kept per item (≥ 1). RecBole's default 100.
    pub k: usize,
    /// Shrinkage added to the cosine denominator (≥ 0); larger values trust co-occurrences
    /// seen by few users less. RecBole's default 0.
    pub shrink: f64,
    /// Whose `k` nearest neighbours are kept: each history item's (default, Deshpande &
    /// Karypis) or each target item's (RecBole's `ComputeSimilarity`).
    pub neighbours: Neighbours,
}

/// Which side of the item × item similarity is cut to its top `k`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Neighbours {
    /// Each history item `h` keeps its `k` most similar items; `score(j)` sums `sim(h, j)` over
    /// the history items `h` that have `j` among their neighbours.
    #[default]
    History,
    /// Each candidate item `j` keeps its `k` most similar items; `score(j)` sums `sim(h, j)` over
    /// `j`'s neighbours `h` found in the history (RecBole's ItemKNN).
    Target,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            k: 100,
            shrink: 0.0,
            neighbours: Neighbours::History,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        check::at_least_one("itemknn.k", self.k)?;
        check::non_negative("itemknn.shrink", self.shrink)
    }
}

/// A fitted item-kNN model: a sparse item × item similarity matrix.
///
/// # Shapes
/// `indptr: [n_items + 1]`, `neighbours, sims: [nnz]` (nnz ≤ `n_items · k`); row `h` lists
/// `h`'s neighbours by decreasing similarity.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    config: Config,
    n_items: usize,
    indptr: Vec<usize>,
    neighbours: Vec<ItemIdx>,
    sims: Vec<f32>,
}

/// Per-thread scratch for building similarity rows.
struct RowScratch {
    /// `[n_items]` co-occurrence counts with the current item; reset through `touched`.
    co: Vec<u32>,
    touched: Vec<ItemIdx>,
    cand: Vec<(ItemIdx, f32)>,
}

impl ItemKnn {
    /// Computes the top-`k` similarity rows of every item, in parallel over items.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<ItemKnn> {
        config.validate()?;
        let n = train.n_items;
        let x = train.matrix.binary(); // users × items, each pair once
        let xt = x.transpose(); // items × users
        let norms: Vec<f32> = (0..n)
            .map(|i| ((xt.indptr[i + 1] - xt.indptr[i]) as f32).sqrt())
            .collect();
        let shrink = config.shrink as f32;
        let k = config.k;

        pb.set_length(n as u64);
        pb.set_message("item-kNN similarities");
        // Rows are built in blocks so the progress bar is updated once per block, not per item.
        const BLOCK: usize = 256;
        let rows: Vec<Vec<(ItemIdx, f32)>> = (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map_init(
                || RowScratch {
                    co: vec![0; n],
                    touched: Vec::new(),
                    cand: Vec::new(),
                },
                |s, b| {
                    let block: Vec<Vec<(ItemIdx, f32)>> = (b * BLOCK..((b + 1) * BLOCK).min(n))
                        .map(|i| similarity_row(i, &x, &xt, &norms, shrink, k, s))
                        .collect();
                    pb.inc(block.len() as u64);
                    block
                },
            )
            .flatten_iter()
            .collect();
        pb.finish_and_clear();
        let rows = match config.neighbours {
            Neighbours::History => rows,
            Neighbours::Target => transpose_rows(rows, n),
        };

        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0);
        let nnz = rows.iter().map(Vec::len).sum();
        let (mut neighbours, mut sims) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        for row in rows {
            for (j, s) in row {
                neighbours.push(j);
                sims.push(s);
            }
            indptr.push(neighbours.len());
        }
        tracing::info!(n_items = n, nnz, "item-kNN fitted");
        Ok(ItemKnn {
            config: config.clone(),
            n_items: n,
            indptr,
            neighbours,
            sims,
        })
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<ItemKnn> {
        let indptr = file.usize("item_knn.indptr")?;
        let nnz = indptr.last().copied().unwrap_or(0);
        let (_, neighbours) = file.u32("item_knn.neighbours", Some(&[nnz]))?;
        let (_, sims) = file.f32("item_knn.sims", Some(&[nnz]))?;
        let n_items = indptr.len().saturating_sub(1);
        if indptr.is_empty()
            || indptr.windows(2).any(|w| w[0] > w[1])
            || neighbours.iter().any(|&j| j as usize >= n_items)
        {
            return Err(file.bad("item_knn: inconsistent sparse similarity matrix".into()));
        }
        Ok(ItemKnn {
            config,
            n_items,
            indptr,
            neighbours,
            sims,
        })
    }

    /// The neighbours of item `h` and their similarities, most similar first.
    pub fn neighbours(&self, h: ItemIdx) -> (&[ItemIdx], &[f32]) {
        let r = self.indptr[h as usize]..self.indptr[h as usize + 1];
        (&self.neighbours[r.clone()], &self.sims[r])
    }
}

/// Row `i` of the similarity matrix: its `k` most similar items (ties by lower index).
fn similarity_row(
    i: usize,
    x: &seer_data::Csr,
    xt: &seer_data::Csr,
    norms: &[f32],
    shrink: f32,
    k: usize,
    s: &mut RowScratch,
) -> Vec<(ItemIdx, f32)> {
    // Co-occurrence counts through the users of i: O(Σ_{u ∈ U_i} |I_u|).
    for &u in xt.row(i as u32) {
        for &j in x.row(u) {
            if s.co[j as usize] == 0 {
                s.touched.push(j);
            }
            s.co[j as usize] += 1;
        }
    }
    s.cand.clear();
    for &j in &s.touched {
        let c = std::mem::take(&mut s.co[j as usize]);
        if j as usize != i {
            let sim = c as f32 / (norms[i] * norms[j as usize] + shrink);
            if sim > 0.0 {
                s.cand.push((j, sim));
            }
        }
    }
    s.touched.clear();
    let cmp = |a: &(ItemIdx, f32), b: &(ItemIdx, f32)| seer_core::topk::rank_cmp(*a, *b);
    if s.cand.len() > k {
        s.cand.select_nth_unstable_by(k - 1, cmp);
        s.cand.truncate(k);
    }
    s.cand.sort_unstable_by(cmp);
    s.cand.clone()
}

/// `rows[j]` lists `j`'s top neighbours `h`; returns, for every `h`, the items `j` whose lists
/// hold `h` (the similarity is symmetric, so `sim(h, j)` is the same number), most similar
/// first.
fn transpose_rows(rows: Vec<Vec<(ItemIdx, f32)>>, n: usize) -> Vec<Vec<(ItemIdx, f32)>> {
    let mut out: Vec<Vec<(ItemIdx, f32)>> = vec![Vec::new(); n];
    for (j, row) in rows.into_iter().enumerate() {
        for (h, s) in row {
            out[h as usize].push((j as ItemIdx, s));
        }
    }
    out.par_iter_mut()
        .for_each(|r| r.sort_unstable_by(|a, b| seer_core::topk::rank_cmp(*a, *b)));
    out
}

impl Recommender for ItemKnn {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        out.fill(0.0);
        let mut items = Vec::with_capacity(user.history.len());
        unique_known(user.history, self.n_items, &mut items);
        for &h in &items {
            let (nb, sims) = self.neighbours(h);
            for (&j, &s) in nb.iter().zip(sims) {
                out[j as usize] += s;
            }
        }
        Ok(())
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let nnz = self.neighbours.len();
        let tensors = [
            ("item_knn.indptr", Tensor::u64(&self.indptr)),
            ("item_knn.neighbours", Tensor::u32(&[nnz], &self.neighbours)),
            ("item_knn.sims", Tensor::f32(&[nnz], &self.sims)),
        ];
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::testutil::csr;
    use crate::ModelConfig;

    fn train() -> TrainData {
        // users: 0 {0,1,2}, 1 {0,1}, 2 {1,2,3}, 3 {3}, repeats of (0,0)
        TrainData::from_csr(
            csr(
                5,
                &[
                    (0, 0, 1),
                    (0, 1, 2),
                    (0, 2, 3),
                    (0, 0, 4),
                    (1, 0, 1),
                    (1, 1, 2),
                    (2, 1, 1),
                    (2, 2, 2),
                    (2, 3, 3),
                    (3, 3, 1),
                ],
            ),
            false,
        )
    }

    /// Brute force: the full similarity matrix from the definition.
    fn brute(train: &TrainData, shrink: f32) -> Vec<Vec<f32>> {
        let x = train.matrix.binary();
        let n = train.n_items;
        let users_of = |i: u32| -> Vec<u32> {
            (0..x.n_rows as u32)
                .filter(|&u| x.row(u).contains(&i))
                .collect()
        };
        let mut s = vec![vec![0.0; n]; n];
        for i in 0..n as u32 {
            for j in 0..n as u32 {
                if i == j {
                    continue;
                }
                let (ui, uj) = (users_of(i), users_of(j));
                let inter = ui.iter().filter(|u| uj.contains(u)).count() as f32;
                if inter > 0.0 {
                    s[i as usize][j as usize] =
                        inter / ((ui.len() as f32 * uj.len() as f32).sqrt() + shrink);
                }
            }
        }
        s
    }

    #[test]
    fn matches_definition_and_keeps_top_k() {
        let t = train();
        for shrink in [0.0, 2.0] {
            let full = brute(&t, shrink);
            let m = ItemKnn::fit(
                &Config {
                    k: 100,
                    shrink: shrink as f64,
                    ..Config::default()
                },
                &t,
                &ProgressBar::hidden(),
            )
            .unwrap();
            for i in 0..5u32 {
                let mut dense = [0.0; 5];
                let (nb, s) = m.neighbours(i);
                for (&j, &v) in nb.iter().zip(s) {
                    dense[j as usize] = v;
                }
                for j in 0..5 {
                    assert!(
                        (dense[j] - full[i as usize][j]).abs() < 1e-6,
                        "shrink {shrink} sim({i},{j})"
                    );
                }
            }
        }
        // k = 1: item 1 co-occurs with 0 (2 users), 2 (2 users), 3 (1 user); sim(1,0) = 2/sqrt(6),
        // sim(1,2) = 2/sqrt(6): tie broken by the lower index.
        let k1 = Config {
            k: 1,
            ..Config::default()
        };
        let m = ItemKnn::fit(&k1, &t, &ProgressBar::hidden()).unwrap();
        assert_eq!(m.neighbours(1).0, &[0]);
        assert!(m.neighbours(4).0.is_empty());
    }

    #[test]
    fn scores_sum_rows_of_the_unique_history() {
        let t = train();
        let full = brute(&t, 0.0);
        let m = ItemKnn::fit(&Config::default(), &t, &ProgressBar::hidden()).unwrap();
        let mut out = vec![0.0; 5];
        // Repeats and unknown items (7) are ignored.
        m.score(&UserContext::from_history(None, &[0, 2, 0, 7]), &mut out)
            .unwrap();
        for j in 0..5 {
            assert!((out[j] - (full[0][j] + full[2][j])).abs() < 1e-6);
        }
        assert!(m
            .score(&UserContext::from_history(None, &[0]), &mut [0.0; 4])
            .is_err());
    }

    /// RecBole's rule: `score(j) = Σ_{h ∈ history ∩ topk(j)} sim(h, j)`, with `topk(j)` the `k`
    /// items most similar to the candidate `j`.
    #[test]
    fn target_neighbours_follow_recbole() {
        let t = train();
        let full = brute(&t, 0.0);
        let k = 1;
        let cfg = Config {
            k,
            neighbours: Neighbours::Target,
            ..Config::default()
        };
        let m = ItemKnn::fit(&cfg, &t, &ProgressBar::hidden()).unwrap();
        // top-1 of each candidate j, ties to the lower index (as in `similarity_row`).
        let top1 = |j: usize| -> Option<usize> {
            (0..5)
                .filter(|&h| full[j][h] > 0.0)
                .max_by(|&a, &b| full[j][a].total_cmp(&full[j][b]).then(b.cmp(&a)))
        };
        for history in [&[0u32, 2][..], &[1], &[3], &[0, 1, 2, 3]] {
            let mut out = vec![0.0; 5];
            m.score(&UserContext::from_history(None, history), &mut out)
                .unwrap();
            for j in 0..5 {
                let want = match top1(j) {
                    Some(h) if history.contains(&(h as u32)) => full[j][h],
                    _ => 0.0,
                };
                assert!((out[j] - want).abs() < 1e-6, "history {history:?} item {j}");
            }
        }
        // The history-side cut differs here: from the history {2} it scores item 1 (2's own
        // top-1), the target-side cut item 3 (whose top-1 is 2).
        let hist = ItemKnn::fit(
            &Config {
                k,
                ..Config::default()
            },
            &t,
            &ProgressBar::hidden(),
        )
        .unwrap();
        let (mut a, mut b) = (vec![0.0; 5], vec![0.0; 5]);
        let u = UserContext::from_history(None, &[2]);
        m.score(&u, &mut a).unwrap();
        hist.score(&u, &mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn round_trip() {
        crate::testutil::assert_round_trip(
            &ModelConfig::ItemKnn(Config {
                k: 2,
                shrink: 1.0,
                neighbours: Neighbours::Target,
            }),
            &train(),
        );
    }
}
