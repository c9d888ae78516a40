//! Splitting interactions into train / validation / test without leaking the future.
//!
//! A [`Split`] assigns every interaction row to exactly one [`Part`]. Splitters only look at
//! timestamps (or file order when the data has none) and a seed; they never look at items'
//! popularity or any other statistic, so nothing from validation or test reaches training.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// Which part of a split a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Part {
    /// Used for fitting.
    Train = 0,
    /// Used for model selection (early stopping, `seer tune`).
    Valid = 1,
    /// Used once, for the final numbers.
    Test = 2,
}

/// How to split. Serialised in `seer.toml` under `[split]` and in `split.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitConfig {
    /// Per user, in time order: last event → test, second to last → validation, rest → train
    /// (SASRec, S3-Rec). Users with fewer than `min_events` events go wholly to train.
    /// Ties in time keep file order.
    LeaveOneOut {
        /// Users with fewer events than this are training-only (default 3).
        #[serde(default = "default_min_events")]
        min_events: usize,
    },
    /// One global cut in time: events before the validation cut train, events between the
    /// cuts validate, events at or after the test cut test. Cuts are quantiles of all
    /// timestamps (0..1) unless given as unix seconds.
    Temporal {
        /// Validation starts here.
        valid_from: TimePoint,
        /// Test starts here.
        test_from: TimePoint,
    },
    /// Per user, a seeded random holdout of a fraction of events for validation and for test
    /// (ignores time; for data without timestamps).
    RandomHoldout {
        /// Fraction of each user's events held out for validation (default 0.1).
        valid_ratio: f64,
        /// Fraction of each user's events held out for test (default 0.1).
        test_ratio: f64,
        /// RNG seed; the same seed gives the same split.
        seed: u64,
    },
    /// Cold items: a seeded random `fraction` of the items that have events is made cold, and
    /// **every** event of a cold item is held out of training and validation; those events are
    /// the test targets. Validation is each user's last event of a warm item (users with fewer
    /// than 3 warm events keep them all for training). So no model ever sees a cold item
    /// interacted with, and the test measures how well it recommends items known only by
    /// their text or attributes. A cold event is held out whatever its time (the usual
    /// cold-item protocol), so a user's later warm events may be in their history.
    ColdItems {
        /// Fraction of the items with events made cold (default 0.1).
        fraction: f64,
        /// RNG seed; the same seed gives the same cold items.
        seed: u64,
    },
    /// Cold users: a seeded random `fraction` of the users keep only their first 0, 1 or 2
    /// events (up to `max_events`, drawn per user) in training; all their later events are
    /// the test targets. The other users give validation only (their last event), so the
    /// test measures the cold users alone — new users with a profile and at most a couple of
    /// events, served through their profile text or those few events.
    ColdUsers {
        /// Fraction of the users made cold (default 0.1).
        fraction: f64,
        /// Most training events a cold user keeps (default 2).
        max_events: usize,
        /// RNG seed; the same seed gives the same cold users.
        seed: u64,
    },
}

fn default_min_events() -> usize {
    3
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig::LeaveOneOut { min_events: 3 }
    }
}

/// A point in time for temporal splits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimePoint {
    /// Quantile of all event timestamps, in [0, 1].
    Quantile(f64),
    /// Unix seconds.
    Unix(i64),
}

/// The result of a split: one [`Part`] per interaction row.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// How the split was made.
    pub config: SplitConfig,
    /// `part[r]` is the part of interaction row `r`.
    pub part: Vec<Part>,
    /// Few-shot training ([`Split::few_shot`]): `learners[u]` says whether models may learn
    /// from user `u`'s events; the others' events are only inputs at test time. `None`: every
    /// user is a learner.
    pub learners: Option<Vec<bool>>,
}

impl Split {
    /// Rows belonging to any of `parts`, ascending.
    pub fn rows(&self, parts: &[Part]) -> Vec<usize> {
        (0..self.part.len())
            .filter(|&r| parts.contains(&self.part[r]))
            .collect()
    }

    /// Rows of `parts` that models may fit on: [`Split::rows`] of the learners only.
    pub fn fit_rows(&self, data: &Dataset, parts: &[Part]) -> Vec<usize> {
        let user = &data.interactions.user;
        match &self.learners {
            None => self.rows(parts),
            Some(l) => (0..self.part.len())
                .filter(|&r| parts.contains(&self.part[r]) && l[user[r] as usize])
                .collect(),
        }
    }

    /// Few-shot training: only a seeded random `fraction` of the users (rounded, at least one)
    /// are learners, whose training and validation events models fit, tune and stop early on;
    /// every user is still a test subject, the others' earlier events serving as input only.
    /// The other users' validation events become training rows, so validation measures the
    /// learners alone while test histories (training + validation rows) stay whole.
    pub fn few_shot(mut self, data: &Dataset, fraction: f64, seed: u64) -> Result<Split> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::Config {
                key: "split.train_users".into(),
                message: format!("{fraction} not in (0, 1]"),
            });
        }
        let n = data.n_users();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let k = ((n as f64 * fraction).round() as usize).clamp(1.min(n), n);
        let mut learners = vec![false; n];
        for &u in &order[..k] {
            learners[u] = true;
        }
        let user = &data.interactions.user;
        for (r, p) in self.part.iter_mut().enumerate() {
            if *p == Part::Valid && !learners[user[r] as usize] {
                *p = Part::Train;
            }
        }
        self.learners = Some(learners);
        Ok(self)
    }

    /// Number of rows in `p`.
    pub fn count(&self, p: Part) -> usize {
        self.part.iter().filter(|&&x| x == p).count()
    }
}

impl SplitConfig {
    /// Checks parameter ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: String| {
            Err(Error::Config {
                key: key.into(),
                message: msg,
            })
        };
        match self {
            SplitConfig::LeaveOneOut { min_events } if *min_events < 3 => bad(
                "split.min_events",
                format!("{min_events} must be at least 3"),
            ),
            SplitConfig::Temporal {
                valid_from,
                test_from,
            } => {
                for (k, t) in [
                    ("split.valid_from", valid_from),
                    ("split.test_from", test_from),
                ] {
                    if let TimePoint::Quantile(q) = t {
                        if !(0.0..=1.0).contains(q) {
                            return bad(k, format!("quantile {q} not in [0, 1]"));
                        }
                    }
                }
                Ok(())
            }
            SplitConfig::RandomHoldout {
                valid_ratio,
                test_ratio,
                ..
            } => {
                if !(0.0..1.0).contains(valid_ratio) {
                    return bad("split.valid_ratio", format!("{valid_ratio} not in [0, 1)"));
                }
                if !(0.0..1.0).contains(test_ratio) || valid_ratio + test_ratio >= 1.0 {
                    return bad(
                        "split.test_ratio",
                        format!("{test_ratio} not in [0, 1) or valid_ratio + test_ratio >= 1"),
                    );
                }
                Ok(())
            }
            SplitConfig::ColdItems { fraction, .. } | SplitConfig::ColdUsers { fraction, .. }
                if !(*fraction > 0.0 && *fraction < 1.0) =>
            {
                bad("split.fraction", format!("{fraction} not in (0, 1)"))
            }
            _ => Ok(()),
        }
    }

    /// Splits `data`.
    pub fn split(&self, data: &Dataset) -> Result<Split> {
        self.validate()?;
        let inter = &data.interactions;
        let n = inter.len();
        let mut part = vec![Part::Train; n];
        match self {
            SplitConfig::LeaveOneOut { min_events } => {
                for rows in rows_by_user_in_time_order(data) {
                    if rows.len() >= *min_events {
                        part[rows[rows.len() - 1]] = Part::Test;
                        part[rows[rows.len() - 2]] = Part::Valid;
                    }
                }
            }
            SplitConfig::Temporal {
                valid_from,
                test_from,
            } => {
                if !data.has_timestamps {
                    return Err(Error::Config {
                        key: "split.method".into(),
                        message: format!(
                            "dataset {:?} has no timestamps; a temporal split needs them \
                             (use leave_one_out or random_holdout)",
                            data.name
                        ),
                    });
                }
                let mut sorted = inter.ts.clone();
                sorted.sort_unstable();
                let resolve = |t: &TimePoint| match *t {
                    TimePoint::Unix(s) => s,
                    TimePoint::Quantile(q) if sorted.is_empty() => q as i64,
                    TimePoint::Quantile(q) => {
                        let idx = ((sorted.len() as f64) * q).floor() as usize;
                        sorted.get(idx).copied().unwrap_or(i64::MAX)
                    }
                };
                let (v, t) = (resolve(valid_from), resolve(test_from));
                if v > t {
                    return Err(Error::Config {
                        key: "split.valid_from".into(),
                        message: format!("validation cut {v} is after the test cut {t}"),
                    });
                }
                for (p, &ts) in part.iter_mut().zip(&inter.ts) {
                    *p = if ts >= t {
                        Part::Test
                    } else if ts >= v {
                        Part::Valid
                    } else {
                        Part::Train
                    };
                }
            }
            SplitConfig::RandomHoldout {
                valid_ratio,
                test_ratio,
                seed,
            } => {
                for (u, mut rows) in rows_by_user_in_time_order(data).into_iter().enumerate() {
                    // One RNG stream per user, so adding a user never reshuffles the others.
                    let mut rng = ChaCha8Rng::seed_from_u64(
                        seed ^ (u as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    rows.shuffle(&mut rng);
                    let len = rows.len() as f64;
                    let n_test = (len * test_ratio).round() as usize;
                    let n_valid = (len * valid_ratio).round() as usize;
                    if n_test + n_valid >= rows.len() {
                        continue; // too few events: keep the user for training only
                    }
                    for &r in &rows[..n_test] {
                        part[r] = Part::Test;
                    }
                    for &r in &rows[n_test..n_test + n_valid] {
                        part[r] = Part::Valid;
                    }
                }
            }
            SplitConfig::ColdItems { fraction, seed } => {
                let cold = cold_items(data, *fraction, *seed);
                for rows in rows_by_user_in_time_order(data) {
                    let mut warm = Vec::with_capacity(rows.len());
                    for &r in &rows {
                        if cold[inter.item[r] as usize] {
                            part[r] = Part::Test;
                        } else {
                            warm.push(r);
                        }
                    }
                    if warm.len() >= 3 {
                        part[warm[warm.len() - 1]] = Part::Valid;
                    }
                }
            }
            SplitConfig::ColdUsers {
                fraction,
                max_events,
                seed,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                let mut order: Vec<usize> = (0..data.n_users()).collect();
                order.shuffle(&mut rng);
                let n_cold = (data.n_users() as f64 * fraction).round() as usize;
                let mut keep = vec![None; data.n_users()];
                for &u in &order[..n_cold.min(order.len())] {
                    keep[u] = Some(rng.random_range(0..=*max_events));
                }
                for (u, rows) in rows_by_user_in_time_order(data).into_iter().enumerate() {
                    match keep[u] {
                        Some(k) => {
                            for &r in rows.iter().skip(k) {
                                part[r] = Part::Test;
                            }
                        }
                        None if rows.len() >= 2 => part[rows[rows.len() - 1]] = Part::Valid,
                        None => {}
                    }
                }
            }
        }
        Ok(Split {
            config: self.clone(),
            part,
            learners: None,
        })
    }
}

/// The cold items of [`SplitConfig::ColdItems`]: `cold[i]` for a seeded random `fraction` of
/// the items that have at least one event (rounded, at least one).
pub fn cold_items(data: &Dataset, fraction: f64, seed: u64) -> Vec<bool> {
    let mut has = vec![false; data.n_items()];
    for &i in &data.interactions.item {
        has[i as usize] = true;
    }
    let mut items: Vec<usize> = (0..has.len()).filter(|&i| has[i]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    items.shuffle(&mut rng);
    let n =
        ((items.len() as f64 * fraction).round() as usize).clamp(1.min(items.len()), items.len());
    let mut cold = vec![false; has.len()];
    for &i in &items[..n] {
        cold[i] = true;
    }
    cold
}

/// Each user's rows ordered by `(ts, row)`.
pub fn rows_by_user_in_time_order(data: &Dataset) -> Vec<Vec<usize>> {
    let inter = &data.interactions;
    let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); data.n_users()];
    for r in 0..inter.len() {
        by_user[inter.user[r] as usize].push(r);
    }
    for rows in &mut by_user {
        rows.sort_by_key(|&r| (inter.ts[r], r));
    }
    by_user
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Interactions;
    use proptest::prelude::*;
    use seer_core::IdMap;

    /// A dataset from `(user, item, ts)` rows.
    fn dataset(rows: &[(u32, u32, i64)], has_timestamps: bool) -> Dataset {
        let n_users = rows.iter().map(|r| r.0 + 1).max().unwrap_or(0);
        let n_items = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0);
        let users: IdMap = (0..n_users)
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .into();
        let items: IdMap = (0..n_items)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .into();
        Dataset {
            name: "t".into(),
            users,
            items,
            interactions: Interactions {
                user: rows.iter().map(|r| r.0).collect(),
                item: rows.iter().map(|r| r.1).collect(),
                ts: rows.iter().map(|r| r.2).collect(),
                rating: vec![1.0; rows.len()],
                context: vec![],
            },
            has_timestamps,
            item_text: vec![],
            user_attrs: vec![],
        }
    }

    fn rows_strategy() -> impl Strategy<Value = Vec<(u32, u32, i64)>> {
        proptest::collection::vec((0u32..8, 0u32..20, 0i64..50), 0..200)
    }

    #[test]
    fn leave_one_out_takes_the_last_two_with_file_order_ties() {
        let d = dataset(
            &[
                (0, 0, 1),
                (0, 1, 3),
                (0, 2, 3),
                (0, 3, 2),
                (1, 0, 1),
                (1, 1, 2),
            ],
            true,
        );
        let s = SplitConfig::default().split(&d).unwrap();
        // User 0 in time order: rows 0 (1), 3 (2), 1 (3), 2 (3, later in file).
        assert_eq!(
            s.part[..4],
            [Part::Train, Part::Valid, Part::Test, Part::Train]
        );
        // User 1 has 2 events < min_events 3: all train.
        assert_eq!(s.part[4..], [Part::Train, Part::Train]);
    }

    #[test]
    fn temporal_needs_timestamps_and_ordered_cuts() {
        let d = dataset(&[(0, 0, 1), (0, 1, 2)], false);
        let cfg = SplitConfig::Temporal {
            valid_from: TimePoint::Quantile(0.8),
            test_from: TimePoint::Quantile(0.9),
        };
        assert!(cfg.split(&d).is_err());
        let d = dataset(&[(0, 0, 1), (0, 1, 2)], true);
        let bad = SplitConfig::Temporal {
            valid_from: TimePoint::Unix(5),
            test_from: TimePoint::Unix(1),
        };
        assert!(bad.split(&d).is_err());
        assert!(SplitConfig::LeaveOneOut { min_events: 2 }
            .validate()
            .is_err());
    }

    #[test]
    fn random_holdout_seeds() {
        let rows: Vec<(u32, u32, i64)> = (0..40)
            .flat_map(|u| (0..20).map(move |i| (u, i, i as i64)))
            .collect();
        let d = dataset(&rows, true);
        let cfg = |seed| SplitConfig::RandomHoldout {
            valid_ratio: 0.1,
            test_ratio: 0.2,
            seed,
        };
        let a = cfg(1).split(&d).unwrap();
        assert_eq!(a, cfg(1).split(&d).unwrap());
        assert_ne!(a.part, cfg(2).split(&d).unwrap().part);
        assert_eq!(a.count(Part::Test), 40 * 4);
        assert_eq!(a.count(Part::Valid), 40 * 2);
    }

    proptest! {
        /// The cold-item split holds out every event of the cold items (and only those) from
        /// training and validation, makes about `fraction` of the items cold, and is seeded.
        #[test]
        fn cold_items_never_reach_training(rows in rows_strategy(), seed in any::<u64>(), fraction in 0.05f64..0.5) {
            let d = dataset(&rows, true);
            let cfg = SplitConfig::ColdItems { fraction, seed };
            let s = cfg.split(&d).unwrap();
            let cold = cold_items(&d, fraction, seed);
            let with_events: std::collections::BTreeSet<u32> = d.interactions.item.iter().copied().collect();
            if !with_events.is_empty() {
                let n_cold = cold.iter().filter(|&&c| c).count();
                prop_assert!(n_cold >= 1);
                prop_assert!((n_cold as f64 - fraction * with_events.len() as f64).abs() <= 1.0);
            }
            for (r, &p) in s.part.iter().enumerate() {
                let is_cold = cold[d.interactions.item[r] as usize];
                prop_assert_eq!(is_cold, p == Part::Test, "row {} part {:?}", r, p);
            }
            prop_assert_eq!(&cfg.split(&d).unwrap(), &s);
        }

        /// Few-shot: about `fraction` of the users are learners; fitting sees only their
        /// rows, validation only their validation events (the others' become training
        /// input), and test events and every user's test history are unchanged.
        #[test]
        fn few_shot_fits_and_validates_on_the_learners_only(rows in rows_strategy(), seed in any::<u64>(), fraction in 0.05f64..1.0) {
            let d = dataset(&rows, true);
            let full = SplitConfig::default().split(&d).unwrap();
            let s = full.clone().few_shot(&d, fraction, seed).unwrap();
            let learners = s.learners.clone().unwrap();
            let n = learners.iter().filter(|&&l| l).count();
            prop_assert!((n as f64 - fraction * d.n_users() as f64).abs() <= 1.0);
            prop_assert!(d.n_users() == 0 || n >= 1);
            let user = &d.interactions.user;
            for r in 0..s.part.len() {
                let l = learners[user[r] as usize];
                match (full.part[r], s.part[r]) {
                    (Part::Valid, Part::Train) => prop_assert!(!l),
                    (a, b) => prop_assert_eq!(a, b),
                }
            }
            prop_assert_eq!(s.rows(&[Part::Test]), full.rows(&[Part::Test]));
            prop_assert_eq!(s.rows(&[Part::Train, Part::Valid]), full.rows(&[Part::Train, Part::Valid]));
            let fit = s.fit_rows(&d, &[Part::Train, Part::Valid]);
            prop_assert!(fit.iter().all(|&r| learners[user[r] as usize]));
            let want: Vec<usize> = full
                .rows(&[Part::Train, Part::Valid])
                .into_iter()
                .filter(|&r| learners[user[r] as usize])
                .collect();
            prop_assert_eq!(fit, want);
            prop_assert_eq!(&full.clone().few_shot(&d, fraction, seed).unwrap(), &s);
            prop_assert!(full.clone().few_shot(&d, 0.0, seed).is_err());
        }

        /// Cold users keep at most `max_events` training events, in time order before their
        /// test events; nobody else has a test event.
        #[test]
        fn cold_users_keep_at_most_their_first_events(rows in rows_strategy(), seed in any::<u64>()) {
            let d = dataset(&rows, true);
            let cfg = SplitConfig::ColdUsers { fraction: 0.3, max_events: 2, seed };
            let s = cfg.split(&d).unwrap();
            for by_user in rows_by_user_in_time_order(&d) {
                let parts: Vec<Part> = by_user.iter().map(|&r| s.part[r]).collect();
                if parts.contains(&Part::Test) {
                    let first_test = parts.iter().position(|&p| p == Part::Test).unwrap();
                    prop_assert!(first_test <= 2);
                    prop_assert!(parts[..first_test].iter().all(|&p| p == Part::Train));
                    prop_assert!(parts[first_test..].iter().all(|&p| p == Part::Test));
                } else {
                    prop_assert!(parts.iter().filter(|&&p| p == Part::Valid).count() <= 1);
                }
            }
            prop_assert_eq!(&cfg.split(&d).unwrap(), &s);
        }

        /// Every row lands in exactly one part, and in time-ordered splits no validation or
        /// test event of a user precedes one of their training events.
        #[test]
        fn parts_cover_rows_and_respect_time(rows in rows_strategy(), q1 in 0.0f64..1.0, q2 in 0.0f64..1.0, seed in any::<u64>()) {
            let d = dataset(&rows, true);
            let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            let configs = [
                SplitConfig::default(),
                SplitConfig::Temporal { valid_from: TimePoint::Quantile(lo), test_from: TimePoint::Quantile(hi) },
                SplitConfig::RandomHoldout { valid_ratio: 0.2, test_ratio: 0.2, seed },
            ];
            for cfg in configs {
                let s = cfg.split(&d).unwrap();
                prop_assert_eq!(s.part.len(), rows.len());
                let total = s.count(Part::Train) + s.count(Part::Valid) + s.count(Part::Test);
                prop_assert_eq!(total, rows.len());
                let mut all = s.rows(&[Part::Train]);
                all.extend(s.rows(&[Part::Valid]));
                all.extend(s.rows(&[Part::Test]));
                all.sort_unstable();
                prop_assert_eq!(all, (0..rows.len()).collect::<Vec<_>>());
                // Same config, same split.
                prop_assert_eq!(&cfg.split(&d).unwrap(), &s);
                if matches!(cfg, SplitConfig::RandomHoldout { .. }) {
                    continue;
                }
                let rank = |p: Part| p as u8;
                for by_user in rows_by_user_in_time_order(&d) {
                    // Along each user's time order, parts never go back (train ≤ valid ≤ test).
                    for w in by_user.windows(2) {
                        prop_assert!(rank(s.part[w[0]]) <= rank(s.part[w[1]]) || d.interactions.ts[w[0]] == d.interactions.ts[w[1]] && !matches!(cfg, SplitConfig::LeaveOneOut { .. }),
                            "{:?}: row {} ({:?}) before row {} ({:?})", cfg, w[0], s.part[w[0]], w[1], s.part[w[1]]);
                    }
                }
                if let SplitConfig::Temporal { .. } = cfg {
                    // The global cut: every train event precedes every valid event, which
                    // precedes every test event.
                    let ts = &d.interactions.ts;
                    let max = |p| s.rows(&[p]).iter().map(|&r| ts[r]).max();
                    let min = |p| s.rows(&[p]).iter().map(|&r| ts[r]).min();
                    if let (Some(a), Some(b)) = (max(Part::Train), min(Part::Valid)) { prop_assert!(a < b); }
                    if let (Some(a), Some(b)) = (max(Part::Valid), min(Part::Test)) { prop_assert!(a < b); }
                    if let (Some(a), Some(b)) = (max(Part::Train), min(Part::Test)) { prop_assert!(a < b); }
                }
            }
        }
    }
}
