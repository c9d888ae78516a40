//! Generative next-items decoding: "what comes next, then after that".
//!
//! [`generate`] runs a beam search over a model's next-item distribution: each step scores
//! every item after the user's history extended by a beam's items so far, turns the scores
//! into log-probabilities (softmax over the catalogue, so scores are read as logits — true for
//! the sequence models, whose scores are the logits of their next-item softmax), and keeps
//! the `beam` most likely partial sequences. Items the user has seen and items already in a
//! beam are never proposed, so the result has no repeats. With `beam = 1` this is greedy
//! decoding.
//!
//! Unlike a plain top-N list, later items are conditioned on the earlier ones: after a phone
//! the model may predict a case, after the case a screen protector.

use crate::{topk, ItemIdx, Recommender, Result, UserContext};

/// One generated sequence: items in order and the sum of their log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The next items, in the order the model expects them.
    pub items: Vec<ItemIdx>,
    /// Log-probability of the whole sequence under the model.
    pub log_prob: f64,
}

/// Beam search for the next `n` items of each user in `users` (all decoded together: every
/// step is one [`Recommender::score_batch`] call over all live beams). `exclude[u]` lists
/// items never to propose for user `u` besides its history (which is always excluded).
/// Generated events get the timestamp `now` (or the last history timestamp) when the user has
/// timestamps. Returns one [`Generated`] per user; it is shorter than `n` only when the
/// catalogue runs out.
pub fn generate(
    model: &dyn Recommender,
    users: &[UserContext<'_>],
    exclude: &[&[ItemIdx]],
    n: usize,
    beam: usize,
) -> Result<Vec<Generated>> {
    let beam = beam.max(1);
    let v = model.n_items();
    // Live beams per user: (items so far, log-prob).
    let mut beams: Vec<Vec<Generated>> = vec![
        vec![Generated {
            items: Vec::new(),
            log_prob: 0.0,
        }];
        users.len()
    ];
    let mut banned = vec![false; v];
    let mut scores = Vec::new();
    let mut top = Vec::new();
    for _ in 0..n {
        // Every live beam of every user as one context.
        let mut histories: Vec<Vec<ItemIdx>> = Vec::new();
        let mut stamps: Vec<Option<Vec<i64>>> = Vec::new();
        let mut contexts: Vec<Option<Vec<u32>>> = Vec::new();
        for (u, bs) in users.iter().zip(&beams) {
            for b in bs {
                let mut h = u.history.to_vec();
                h.extend_from_slice(&b.items);
                histories.push(h);
                stamps.push(u.timestamps.map(|t| {
                    let mut t = t.to_vec();
                    let at = u.now.or(t.last().copied()).unwrap_or(0);
                    t.resize(t.len() + b.items.len(), at);
                    t
                }));
                // Generated events happen in the request's context.
                contexts.push(u.context.map(|c| {
                    let k = c.len() / u.history.len().max(1);
                    let mut c = c.to_vec();
                    for _ in &b.items {
                        match u.now_context {
                            Some(now) if now.len() == k => c.extend_from_slice(now),
                            _ => c.extend(std::iter::repeat_n(crate::MISSING, k)),
                        }
                    }
                    c
                }));
            }
        }
        let mut ctxs = Vec::with_capacity(histories.len());
        let mut k = 0;
        for (u, bs) in users.iter().zip(&beams) {
            for _ in bs {
                ctxs.push(UserContext {
                    user: u.user,
                    history: &histories[k],
                    timestamps: stamps[k].as_deref(),
                    now: u.now,
                    context: contexts[k].as_deref(),
                    now_context: u.now_context,
                });
                k += 1;
            }
        }
        scores.resize(ctxs.len() * v, 0.0);
        model.score_batch(&ctxs, &mut scores)?;

        let mut row = 0;
        for (ui, u) in users.iter().enumerate() {
            let mut candidates: Vec<Generated> = Vec::new();
            for b in &beams[ui] {
                let s = &mut scores[row * v..(row + 1) * v];
                row += 1;
                for &i in u
                    .history
                    .iter()
                    .chain(exclude.get(ui).copied().unwrap_or(&[]))
                    .chain(&b.items)
                {
                    if let Some(x) = banned.get_mut(i as usize) {
                        *x = true;
                    }
                }
                let log_z = log_sum_exp(s, &banned);
                for (x, &ban) in s.iter_mut().zip(&banned) {
                    if ban {
                        *x = f32::NEG_INFINITY;
                    }
                }
                banned.fill(false);
                topk::top_k_into(s, beam, &mut top);
                for &(i, score) in &top {
                    let mut items = b.items.clone();
                    items.push(i);
                    candidates.push(Generated {
                        items,
                        log_prob: b.log_prob + f64::from(score) - log_z,
                    });
                }
            }
            if candidates.is_empty() {
                continue; // catalogue exhausted: keep the beams as they are
            }
            // Best first; ties keep the earlier (higher-ranked) candidate.
            candidates.sort_by(|a, b| b.log_prob.total_cmp(&a.log_prob));
            candidates.truncate(beam);
            beams[ui] = candidates;
        }
    }
    Ok(beams.into_iter().map(|mut bs| bs.swap_remove(0)).collect())
}

/// `log Σ exp(s_i)` over the items not `banned` (finite scores only).
fn log_sum_exp(s: &[f32], banned: &[bool]) -> f64 {
    let max = s
        .iter()
        .zip(banned)
        .filter(|(x, &b)| !b && x.is_finite())
        .map(|(&x, _)| x)
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return 0.0;
    }
    let sum: f64 = s
        .iter()
        .zip(banned)
        .filter(|(x, &b)| !b && x.is_finite())
        .map(|(&x, _)| f64::from(x - max).exp())
        .sum();
    f64::from(max) + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A toy model over 6 items whose next-item logits depend on the last item only:
    /// after item `a` the scores are row `a` of a table (no history: row 5).
    struct Markov([[f32; 6]; 6]);

    impl Recommender for Markov {
        fn kind(&self) -> &'static str {
            "markov"
        }
        fn n_items(&self) -> usize {
            6
        }
        fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> Result<()> {
            crate::check_score_len(6, out.len())?;
            let last = user.history.last().copied().unwrap_or(5) as usize;
            out.copy_from_slice(&self.0[last]);
            Ok(())
        }
        fn save(&self, _: &Path) -> Result<()> {
            Ok(())
        }
    }

    fn model() -> Markov {
        let mut t = [[0.0f32; 6]; 6];
        // From the start (5): item 0 is a bit likelier than item 1 ...
        t[5] = [2.0, 1.8, 0.0, 0.0, 0.0, 0.0];
        // ... but after 0 everything is uncertain, while after 1 item 2 is near certain.
        t[0] = [0.0, 0.5, 0.5, 0.5, 0.5, 0.5];
        t[1] = [0.0, 0.0, 9.0, 0.0, 0.0, 0.0];
        t[2] = [0.0, 0.0, 0.0, 3.0, 0.0, 0.0];
        t[3] = [0.0, 0.0, 0.0, 0.0, 3.0, 0.0];
        t[4] = [3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        Markov(t)
    }

    #[test]
    fn beam_search_finds_the_likelier_sequence_greedy_misses() -> Result<()> {
        let m = model();
        let u = UserContext::from_history(None, &[]);
        let greedy = generate(&m, &[u], &[&[]], 2, 1)?;
        assert_eq!(greedy[0].items, vec![0, 1]);
        let beam = generate(&m, &[u], &[&[]], 2, 3)?;
        assert_eq!(beam[0].items, vec![1, 2]);
        assert!(beam[0].log_prob > greedy[0].log_prob);
        // The log-probability is the sum of the two softmax steps.
        let ls = |row: &[f32], i: usize| {
            f64::from(row[i]) - row.iter().map(|&x| f64::from(x).exp()).sum::<f64>().ln()
        };
        let t = &m.0;
        let mut second = t[1];
        second[1] = f32::NEG_INFINITY; // already generated
        let expect = ls(&t[5], 1) + ls(&second, 2);
        assert!((beam[0].log_prob - expect).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn no_repeats_and_seen_or_excluded_items_never_proposed() -> Result<()> {
        let m = model();
        // History [4]: after 4 the model wants 0; 0 is excluded, so something else comes.
        let hist = [2u32, 4];
        let u = UserContext::from_history(None, &hist);
        let g = generate(&m, &[u, u], &[&[0], &[]], 4, 2)?;
        for (k, gen) in g.iter().enumerate() {
            // 6 items, 2 seen, and for the first user 1 excluded: 3 or 4 items are left.
            let left = if k == 0 { 3 } else { 4 };
            assert_eq!(gen.items.len(), left, "{gen:?}");
            let mut seen = gen.items.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), left, "repeats in {:?}", gen.items);
            assert!(!gen.items.iter().any(|i| hist.contains(i)), "{gen:?}");
            if k == 0 {
                assert!(!gen.items.contains(&0), "{gen:?}");
            }
        }
        assert_eq!(g[1].items[0], 0);
        // Asking for more than is left stops when the catalogue runs out.
        let g = generate(&m, &[u], &[&[]], 6, 2)?;
        assert_eq!(g[0].items.len(), 4);
        Ok(())
    }
}
