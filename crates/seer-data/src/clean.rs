//! Cleaning: what importers drop, why, and the report that says so.
//!
//! Importers never silently lose data. Every row they skip (unparsable field, out-of-range
//! rating, timestamp before 1990) and every row [`apply`] drops afterwards (exact duplicate,
//! repeated user–item pair, k-core) is counted in a [`CleaningReport`] under a reason, with the
//! first few examples as `file:line:field: message`. With [`CleaningConfig::strict`] the first
//! bad input row is a fatal [`Error::BadField`] instead.
//!
//! Order of the steps, applied by every importer:
//! 1. while reading: rows with missing/unparsable fields, ratings outside
//!    [`CleaningConfig::rating_range`], timestamps outside [`CleaningConfig::min_timestamp`]..now
//!    (only when the data has real timestamps), side-file rows naming ids that never occur in
//!    the interactions (interactions are the source of truth);
//! 2. exact duplicate rows (same user, item, time, rating and context);
//! 3. repeated user–item events, by [`Repeats`];
//! 4. k-core filtering ([`CleaningConfig::k_core_users`], [`CleaningConfig::k_core_items`]),
//!    iterated to a fixed point;
//! 5. dense re-indexing of users and items that still have events ([`seer_core::IdMap::retain`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use seer_core::IdMap;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, TextColumn};
use crate::error::{Error, Result};

/// Reason: a row with a missing or unparsable field (skipped while importing).
pub const BAD_ROW: &str = "bad_row";
/// Reason: a rating outside [`CleaningConfig::rating_range`].
pub const RATING_OUT_OF_RANGE: &str = "rating_out_of_range";
/// Reason: a timestamp before [`CleaningConfig::min_timestamp`], negative, or in the future.
pub const TIMESTAMP_OUT_OF_RANGE: &str = "timestamp_out_of_range";
/// Reason: a side-file row (item text, user attributes) for an id never seen in interactions.
pub const UNKNOWN_SIDE_ID: &str = "unknown_side_id";
/// Reason: an exact duplicate of an earlier row.
pub const DUPLICATE_ROW: &str = "duplicate_row";
/// Reason: a repeated user–item event dropped by [`Repeats::KeepFirst`] / [`Repeats::KeepLast`].
pub const REPEATED_PAIR: &str = "repeated_pair";
/// Reason: an event of a user or item below the k-core threshold.
pub const K_CORE: &str = "k_core";

/// What to do with several events of the same user–item pair at different times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeats {
    /// Keep only the earliest event of each pair (by time, ties by file order). The default:
    /// implicit-feedback models treat a pair as one positive, and keeping the first event
    /// stops a re-purchase in the test period from being an item the user "already saw".
    #[default]
    KeepFirst,
    /// Keep only the latest event of each pair (e.g. the last rating a user gave).
    KeepLast,
    /// Keep every event (sequence models that want re-consumption).
    KeepAll,
}

/// How to clean imported data. Serialised in `seer.toml` under `[import.cleaning]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleaningConfig {
    /// Make the first bad input row a fatal error naming file, line and field, instead of
    /// skipping it into the report. Default `false`.
    pub strict: bool,
    /// Drop rows identical to an earlier row in every column. Default `true`.
    pub drop_duplicates: bool,
    /// Repeated user–item events: `keep_first` (default), `keep_last` or `keep_all`.
    pub repeats: Repeats,
    /// Inclusive `[min, max]` of valid ratings; rows outside are dropped. Default: no check.
    pub rating_range: Option<(f32, f32)>,
    /// Earliest valid unix timestamp (seconds). Default 631152000 = 1990-01-01; rows before
    /// it, negative ones and ones more than a day in the future are dropped. Only applies to
    /// data with real timestamps.
    pub min_timestamp: i64,
    /// Drop users with fewer than this many events, iterated with `k_core_items` to a fixed
    /// point. Default 0 (off).
    pub k_core_users: usize,
    /// Drop items with fewer than this many events. Default 0 (off).
    pub k_core_items: usize,
    /// How many examples to keep per reason in the report. Default 5.
    pub max_examples: usize,
}

impl Default for CleaningConfig {
    fn default() -> Self {
        CleaningConfig {
            strict: false,
            drop_duplicates: true,
            repeats: Repeats::KeepFirst,
            rating_range: None,
            min_timestamp: 631_152_000,
            k_core_users: 0,
            k_core_items: 0,
            max_examples: 5,
        }
    }
}

impl CleaningConfig {
    /// Checks values; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if let Some((lo, hi)) = self.rating_range {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(Error::Config {
                    key: "import.cleaning.rating_range".into(),
                    message: format!("[{lo}, {hi}] is not a finite range with min <= max"),
                });
            }
        }
        Ok(())
    }
}

/// What cleaning did: counts per reason, examples, and sizes before and after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CleaningReport {
    /// Interaction rows read from the input (including ones dropped later).
    pub rows_read: u64,
    /// Interaction rows in the final dataset.
    pub rows_kept: u64,
    /// Distinct users among parsed rows, before steps 2–5.
    pub users_before: u64,
    /// Users in the final dataset.
    pub users_after: u64,
    /// Distinct items among parsed rows, before steps 2–5.
    pub items_before: u64,
    /// Items in the final dataset.
    pub items_after: u64,
    /// Number of rows dropped per reason (see the constants in [`crate::clean`]).
    pub dropped: BTreeMap<String, u64>,
    /// The first few examples per reason, each `file:line:field: message`.
    pub examples: BTreeMap<String, Vec<String>>,
    /// Notes that are not drops (e.g. "no timestamps: ts is the position in the sequence").
    pub notes: Vec<String>,
    #[serde(skip)]
    max_examples: usize,
}

impl CleaningReport {
    /// An empty report keeping up to `max_examples` examples per reason.
    pub fn new(max_examples: usize) -> Self {
        CleaningReport {
            max_examples,
            ..Default::default()
        }
    }

    /// Counts one dropped row under `reason`; `example` is only called while the reason has
    /// fewer than `max_examples` examples.
    pub fn record(&mut self, reason: &str, example: impl FnOnce() -> String) {
        self.record_n(reason, 1, example);
    }

    /// Counts `n` dropped rows under `reason`.
    pub fn record_n(&mut self, reason: &str, n: u64, example: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        *self.dropped.entry(reason.to_owned()).or_insert(0) += n;
        let ex = self.examples.entry(reason.to_owned()).or_default();
        if ex.len() < self.max_examples {
            ex.push(example());
        }
    }

    /// Rows dropped for `reason` (0 if none).
    pub fn count(&self, reason: &str) -> u64 {
        self.dropped.get(reason).copied().unwrap_or(0)
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("a report always serialises");
        std::fs::write(path, json).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

impl fmt::Display for CleaningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} {:>12} {:>12}", "", "before", "after")?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12}",
            "rows", self.rows_read, self.rows_kept
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12}",
            "users", self.users_before, self.users_after
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12}",
            "items", self.items_before, self.items_after
        )?;
        if self.dropped.is_empty() {
            writeln!(f, "nothing dropped")?;
        } else {
            writeln!(f, "{:<24} {:>12}", "dropped (reason)", "rows")?;
            for (reason, n) in &self.dropped {
                writeln!(f, "{reason:<24} {n:>12}")?;
                for ex in self.examples.get(reason).into_iter().flatten() {
                    writeln!(f, "    e.g. {ex}")?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Applies steps 2–5 (duplicates, repeats, k-core, re-indexing) to a freshly imported
/// dataset, recording what it drops into `report` and filling its before/after sizes.
pub fn apply(data: Dataset, cfg: &CleaningConfig, report: &mut CleaningReport) -> Dataset {
    let inter = &data.interactions;
    let n = inter.len();
    let mut keep = vec![true; n];
    let name = data.name.as_str();
    let describe = |r: usize| {
        format!(
            "{name}: row {}: user {:?} item {:?} ts {}",
            r + 1,
            data.users.id(inter.user[r]).unwrap_or("?"),
            data.items.id(inter.item[r]).unwrap_or("?"),
            inter.ts[r]
        )
    };
    {
        let mut seen = vec![false; data.n_users()];
        for &u in &inter.user {
            seen[u as usize] = true;
        }
        report.users_before = seen.iter().filter(|&&s| s).count() as u64;
        let mut seen = vec![false; data.n_items()];
        for &i in &inter.item {
            seen[i as usize] = true;
        }
        report.items_before = seen.iter().filter(|&&s| s).count() as u64;
    }

    // Rows sorted by (user, item, ts, row): duplicates and repeats become neighbours.
    if n > 0 && (cfg.drop_duplicates || cfg.repeats != Repeats::KeepAll) {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&r| (inter.user[r], inter.item[r], inter.ts[r], r));
        if cfg.drop_duplicates {
            let same = |a: usize, b: usize| {
                inter.user[a] == inter.user[b]
                    && inter.item[a] == inter.item[b]
                    && inter.ts[a] == inter.ts[b]
                    && inter.rating[a].to_bits() == inter.rating[b].to_bits()
                    && inter.context.iter().all(|c| c.codes[a] == c.codes[b])
            };
            // Compare against every earlier row of the same (user, item, ts) run.
            let mut start = 0;
            for k in 1..=order.len() {
                let run_ends = k == order.len() || {
                    let (a, b) = (order[start], order[k]);
                    (inter.user[a], inter.item[a], inter.ts[a])
                        != (inter.user[b], inter.item[b], inter.ts[b])
                };
                if run_ends {
                    let run = &order[start..k];
                    for (j, &r) in run.iter().enumerate() {
                        if run[..j].iter().any(|&p| keep[p] && same(p, r)) {
                            keep[r] = false;
                            report.record(DUPLICATE_ROW, || describe(r));
                        }
                    }
                    start = k;
                }
            }
        }
        if cfg.repeats != Repeats::KeepAll {
            let mut start = 0;
            for k in 1..=order.len() {
                let run_ends = k == order.len() || {
                    let (a, b) = (order[start], order[k]);
                    (inter.user[a], inter.item[a]) != (inter.user[b], inter.item[b])
                };
                if run_ends {
                    let live: Vec<usize> = order[start..k]
                        .iter()
                        .copied()
                        .filter(|&r| keep[r])
                        .collect();
                    let winner = match cfg.repeats {
                        Repeats::KeepFirst => live.first().copied(),
                        _ => live.last().copied(),
                    };
                    for &r in &live {
                        if Some(r) != winner {
                            keep[r] = false;
                            report.record(REPEATED_PAIR, || describe(r));
                        }
                    }
                    start = k;
                }
            }
        }
    }

    k_core(&data, &mut keep, cfg.k_core_users, cfg.k_core_items, report);

    let rows: Vec<usize> = (0..n).filter(|&r| keep[r]).collect();
    let out = reindex(data, &rows);
    report.rows_kept = out.interactions.len() as u64;
    report.users_after = out.n_users() as u64;
    report.items_after = out.n_items() as u64;
    out
}

/// Clears `keep` for rows of users with fewer than `ku` kept rows and of items with fewer
/// than `ki`, repeating until nothing changes.
pub(crate) fn k_core(
    data: &Dataset,
    keep: &mut [bool],
    ku: usize,
    ki: usize,
    report: &mut CleaningReport,
) {
    if ku <= 1 && ki <= 1 {
        return;
    }
    let inter = &data.interactions;
    loop {
        let mut uc = vec![0usize; data.n_users()];
        let mut ic = vec![0usize; data.n_items()];
        for r in 0..inter.len() {
            if keep[r] {
                uc[inter.user[r] as usize] += 1;
                ic[inter.item[r] as usize] += 1;
            }
        }
        let mut changed = false;
        for r in 0..inter.len() {
            if keep[r] && (uc[inter.user[r] as usize] < ku || ic[inter.item[r] as usize] < ki) {
                keep[r] = false;
                changed = true;
                report.record(K_CORE, || {
                    format!(
                        "{}: row {}: user {:?} has {} events (k_core_users {ku}), item {:?} \
                         has {} (k_core_items {ki})",
                        data.name,
                        r + 1,
                        data.users.id(inter.user[r]).unwrap_or("?"),
                        uc[inter.user[r] as usize],
                        data.items.id(inter.item[r]).unwrap_or("?"),
                        ic[inter.item[r] as usize],
                    )
                });
            }
        }
        if !changed {
            return;
        }
    }
}

/// Keeps `rows` (in that order) and renumbers users and items densely, dropping those with
/// no remaining events; text columns follow their entities.
pub(crate) fn reindex(data: Dataset, rows: &[usize]) -> Dataset {
    let inter = data.interactions.select(rows);
    let mut used_u = vec![false; data.users.len()];
    let mut used_i = vec![false; data.items.len()];
    for (&u, &i) in inter.user.iter().zip(&inter.item) {
        used_u[u as usize] = true;
        used_i[i as usize] = true;
    }
    let (users, remap_u) = data.users.retain(|u| used_u[u as usize]);
    let (items, remap_i) = data.items.retain(|i| used_i[i as usize]);
    let remap_col = |cols: Vec<TextColumn>, map: &IdMap, used: &[bool]| -> Vec<TextColumn> {
        cols.into_iter()
            .map(|c| {
                let mut values = Vec::with_capacity(map.len());
                for (k, v) in c.values.into_iter().enumerate() {
                    if used.get(k).copied().unwrap_or(false) {
                        values.push(v);
                    }
                }
                values.resize(map.len(), String::new());
                TextColumn {
                    name: c.name,
                    values,
                }
            })
            .collect()
    };
    let item_text = remap_col(data.item_text, &items, &used_i);
    let user_attrs = remap_col(data.user_attrs, &users, &used_u);
    let mut inter = inter;
    for u in &mut inter.user {
        *u = remap_u[*u as usize];
    }
    for i in &mut inter.item {
        *i = remap_i[*i as usize];
    }
    Dataset {
        name: data.name,
        users,
        items,
        interactions: inter,
        has_timestamps: data.has_timestamps,
        item_text,
        user_attrs,
    }
}

/// The distinct `(user, item)` pairs of `data` (test helper and sanity checks).
pub fn distinct_pairs(data: &Dataset) -> HashSet<(u32, u32)> {
    data.interactions
        .user
        .iter()
        .copied()
        .zip(data.interactions.item.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Interactions;
    use proptest::prelude::*;

    fn dataset(rows: &[(u32, u32, i64)], n_users: u32, n_items: u32) -> Dataset {
        let users: IdMap = (0..n_users)
            .map(|u| format!("u{u}"))
            .collect::<Vec<_>>()
            .into();
        let items: IdMap = (0..n_items)
            .map(|i| format!("i{i}"))
            .collect::<Vec<_>>()
            .into();
        Dataset {
            name: "t".into(),
            item_text: vec![TextColumn {
                name: "title".into(),
                values: (0..n_items).map(|i| format!("title {i}")).collect(),
            }],
            users,
            items,
            interactions: Interactions {
                user: rows.iter().map(|r| r.0).collect(),
                item: rows.iter().map(|r| r.1).collect(),
                ts: rows.iter().map(|r| r.2).collect(),
                rating: vec![1.0; rows.len()],
                context: vec![],
            },
            has_timestamps: true,
            user_attrs: vec![],
        }
    }

    #[test]
    fn duplicates_and_repeats() {
        let d = dataset(&[(0, 0, 5), (0, 0, 5), (0, 0, 3), (1, 1, 1)], 2, 3);
        let mut rep = CleaningReport::new(5);
        let out = apply(d.clone(), &CleaningConfig::default(), &mut rep);
        assert_eq!(rep.count(DUPLICATE_ROW), 1);
        assert_eq!(rep.count(REPEATED_PAIR), 1);
        assert_eq!(out.interactions.ts, vec![3, 1]); // keep_first keeps the earliest
        assert_eq!(out.n_items(), 2); // i2 never occurs
        assert_eq!(out.item_field(1, "title"), Some("title 1"));

        let cfg = CleaningConfig {
            repeats: Repeats::KeepLast,
            ..Default::default()
        };
        let out = apply(d.clone(), &cfg, &mut CleaningReport::new(5));
        assert_eq!(out.interactions.ts, vec![5, 1]);

        let cfg = CleaningConfig {
            repeats: Repeats::KeepAll,
            drop_duplicates: false,
            ..Default::default()
        };
        let out = apply(d, &cfg, &mut CleaningReport::new(5));
        assert_eq!(out.interactions.len(), 4);
    }

    #[test]
    fn report_display_and_json() {
        let mut rep = CleaningReport::new(1);
        rep.record(BAD_ROW, || {
            "a.csv:3:rating: expected a number, found \"x\"".into()
        });
        rep.record(BAD_ROW, || unreachable!("only one example is kept"));
        assert_eq!(rep.count(BAD_ROW), 2);
        let text = rep.to_string();
        assert!(
            text.contains("bad_row") && text.contains("a.csv:3:rating"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        rep.save(&dir.path().join("r.json")).unwrap();
        let back: CleaningReport =
            serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
        assert_eq!(back.dropped, rep.dropped);
    }

    #[test]
    fn config_from_toml_like_json() {
        let c: CleaningConfig =
            serde_json::from_str(r#"{"repeats":"keep_all","k_core_users":5}"#).unwrap();
        assert_eq!(c.repeats, Repeats::KeepAll);
        assert_eq!(c.k_core_users, 5);
        assert!(c.drop_duplicates);
        assert!(serde_json::from_str::<CleaningConfig>(r#"{"typo":1}"#).is_err());
        let bad = CleaningConfig {
            rating_range: Some((5.0, 1.0)),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    proptest! {
        /// After k-core filtering every remaining user and item meets the threshold, and
        /// applying it again changes nothing (a fixed point).
        #[test]
        fn k_core_reaches_fixed_point(
            rows in proptest::collection::vec((0u32..12, 0u32..10, 0i64..5), 0..120),
            ku in 0usize..5,
            ki in 0usize..5,
        ) {
            let d = dataset(&rows, 12, 10);
            let cfg = CleaningConfig {
                k_core_users: ku,
                k_core_items: ki,
                repeats: Repeats::KeepAll,
                drop_duplicates: false,
                ..Default::default()
            };
            let mut rep = CleaningReport::new(5);
            let out = apply(d, &cfg, &mut rep);
            let mut uc = vec![0usize; out.n_users()];
            let mut ic = vec![0usize; out.n_items()];
            for (&u, &i) in out.interactions.user.iter().zip(&out.interactions.item) {
                uc[u as usize] += 1;
                ic[i as usize] += 1;
            }
            prop_assert!(uc.iter().all(|&c| c >= ku.max(1)));
            prop_assert!(ic.iter().all(|&c| c >= ki.max(1)));
            prop_assert_eq!(rep.rows_kept + rep.count(K_CORE), rows.len() as u64);
            let again = apply(out.clone(), &cfg, &mut CleaningReport::new(5));
            prop_assert_eq!(again, out);
        }
    }
}
