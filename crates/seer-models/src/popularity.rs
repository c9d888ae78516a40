//! Most-popular baseline.
//!
//! Ranks items by how many training events they have, either over all time or in a recent
//! window, the same list for every user. It is the floor every other model must beat, and a
//! strong one on data with a temporal split (Ji et al., "A Critical Study on Data Leakage in
//! Recommender System Offline Evaluation", TOIS 2023, arXiv:2010.11060, show a recent-window
//! popularity baseline is hard to beat when the split respects time).
//!
//! Reference implementation: RecBole `recbole/model/general_recommender/pop.py` (all-time
//! interaction counts).
//!
//! **Deviations.** RecBole scores by all-time counts only. With `window_days` we count only
//! the events in the last `window_days` days before the *last training timestamp* (never the
//! wall clock, so a refit on older data gives the same model), and break ties among items with
//! equal window counts — including the many with none — by all-time count: the score is
//! `window_count + all_time_count / (max_all_time_count + 1)`, which keeps the window order and
//! adds an all-time order below it. Repeated events of a user on an item each count.

use std::path::Path;

use indicatif::ProgressBar;
use seer_core::{check_score_len, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{self, Loaded, Tensor};
use crate::train::TrainData;

/// Model kind in files and reports.
pub const KIND: &str = "pop";

/// Popularity hyperparameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Count only events in this many days (> 0, fractions allowed) before the last training
    /// event; `None` (the default) counts all events. Needs real timestamps.
    pub window_days: Option<f64>,
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        match self.window_days {
            Some(d) if !(d.is_finite() && d > 0.0) => Err(Error::config(
                "pop.window_days",
                format!("{d} must be a positive number of days"),
            )),
            _ => Ok(()),
        }
    }
}

/// A fitted popularity model: one score per item.
#[derive(Debug, Clone)]
pub struct Popularity {
    config: Config,
    /// `[n_items]`: the score of each item.
    scores: Vec<f32>,
}

impl Popularity {
    /// Counts events per item in `train`.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<Popularity> {
        config.validate()?;
        let m = &train.matrix;
        let all: Vec<u32> = m.col_counts();
        let scores = match config.window_days {
            None => all.iter().map(|&c| c as f32).collect(),
            Some(days) => {
                if !train.has_timestamps {
                    return Err(Error::config(
                        "pop.window_days",
                        "the data has no timestamps, so there is no recent window; drop window_days",
                    ));
                }
                let mut window = vec![0u32; train.n_items];
                if let Some(&last) = m.ts.iter().max() {
                    let from = last as f64 - days * 86_400.0;
                    for (&i, &t) in m.indices.iter().zip(&m.ts) {
                        if t as f64 >= from {
                            window[i as usize] += 1;
                        }
                    }
                }
                let denom = all.iter().copied().max().unwrap_or(0) as f64 + 1.0;
                window
                    .iter()
                    .zip(&all)
                    .map(|(&w, &a)| (w as f64 + a as f64 / denom) as f32)
                    .collect()
            }
        };
        pb.finish_and_clear();
        Ok(Popularity {
            config: config.clone(),
            scores,
        })
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Popularity> {
        let (_, scores) = file.f32("popularity.scores", None)?;
        Ok(Popularity { config, scores })
    }
}

impl Recommender for Popularity {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.scores.len()
    }

    fn score(&self, _user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items(), out.len())?;
        out.copy_from_slice(&self.scores);
        Ok(())
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let tensors = [(
            "popularity.scores",
            Tensor::f32(&[self.scores.len()], &self.scores),
        )];
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::csr;
    use crate::ModelConfig;

    #[test]
    fn all_time_counts_every_event() {
        // user 0: items 0, 1, 1; user 1: item 1, 2
        let train = TrainData::from_csr(
            csr(3, &[(0, 0, 1), (0, 1, 2), (0, 1, 3), (1, 1, 4), (1, 2, 5)]),
            true,
        );
        let m = Popularity::fit(&Config::default(), &train, &ProgressBar::hidden()).unwrap();
        let mut out = vec![0.0; 3];
        m.score(&UserContext::from_history(None, &[]), &mut out)
            .unwrap();
        assert_eq!(out, vec![1.0, 3.0, 1.0]);
        assert!(m
            .score(&UserContext::from_history(None, &[]), &mut [0.0; 2])
            .is_err());
    }

    #[test]
    fn window_counts_recent_events_and_breaks_ties_by_all_time() {
        let day = 86_400;
        // item 0: 3 old events; item 1: 1 recent; item 2: 1 old; last event at day 100.
        let train = TrainData::from_csr(
            csr(
                3,
                &[
                    (0, 0, 0),
                    (1, 0, day),
                    (2, 0, 2 * day),
                    (0, 2, 3 * day),
                    (1, 1, 100 * day),
                ],
            ),
            true,
        );
        let cfg = Config {
            window_days: Some(10.0),
        };
        let m = Popularity::fit(&cfg, &train, &ProgressBar::hidden()).unwrap();
        let mut out = vec![0.0; 3];
        m.score(&UserContext::from_history(Some(0), &[]), &mut out)
            .unwrap();
        assert!(out[1] > out[0] && out[0] > out[2], "{out:?}");

        let untimed = TrainData {
            has_timestamps: false,
            ..train
        };
        let e = Popularity::fit(&cfg, &untimed, &ProgressBar::hidden())
            .unwrap_err()
            .to_string();
        assert!(e.contains("pop.window_days"), "{e}");
        assert!(Config {
            window_days: Some(-1.0)
        }
        .validate()
        .is_err());
    }

    #[test]
    fn round_trip() {
        let train = TrainData::from_csr(csr(4, &[(0, 3, 1), (1, 3, 2), (1, 0, 3)]), true);
        crate::testutil::assert_round_trip(&ModelConfig::Popularity(Config::default()), &train);
    }
}
