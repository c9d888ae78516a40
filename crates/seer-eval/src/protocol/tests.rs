//! Tests of the evaluation protocol.

use super::*;
use seer_core::IdMap;
use seer_data::{Interactions, SplitConfig};
use std::sync::Mutex;

/// What a mock model was shown: user, history, `now`.
type Seen = (Option<UserIdx>, Vec<ItemIdx>, Option<i64>);

/// Scores items by a fixed vector and records what it was shown.
struct Fixed {
    scores: Vec<f32>,
    seen: Mutex<Vec<Seen>>,
}

impl Fixed {
    fn new(scores: Vec<f32>) -> Self {
        Self {
            scores,
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Recommender for Fixed {
    fn kind(&self) -> &'static str {
        "fixed"
    }
    fn n_items(&self) -> usize {
        self.scores.len()
    }
    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        seer_core::check_score_len(self.scores.len(), out.len())?;
        self.seen
            .lock()
            .unwrap()
            .push((user.user, user.history.to_vec(), user.now));
        out.copy_from_slice(&self.scores);
        Ok(())
    }
    fn save(&self, _: &Path) -> seer_core::Result<()> {
        Ok(())
    }
}

/// Knows the split and scores each user's targets of one stage highest.
struct Oracle {
    n_items: usize,
    targets: Csr,
}

impl Recommender for Oracle {
    fn kind(&self) -> &'static str {
        "oracle"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        // Distractors get distinct scores by index; targets beat all of them.
        for (i, x) in out.iter_mut().enumerate() {
            *x = i as f32;
        }
        for &t in self.targets.row(user.user.unwrap()) {
            out[t as usize] = 1000.0;
        }
        Ok(())
    }
    fn save(&self, _: &Path) -> seer_core::Result<()> {
        Ok(())
    }
}

/// 4 users, 6 items, leave-one-out split (min 3 events):
/// - u0: 0,1,2 | valid 3 | test 4
/// - u1: 1 | valid 2 | test 2 (test item already in history at test stage)
/// - u2: 5,0 only (too few events: training-only, skipped)
/// - u3: 0 | valid 1 | test 0 (test target in history at both... dropped at test)
pub(crate) fn tiny() -> (Dataset, Split) {
    let ev: &[(u32, u32, i64)] = &[
        (0, 0, 1),
        (0, 1, 2),
        (0, 2, 3),
        (0, 3, 4),
        (0, 4, 5),
        (1, 1, 1),
        (1, 2, 2),
        (1, 2, 3),
        (2, 5, 1),
        (2, 0, 2),
        (3, 0, 1),
        (3, 1, 2),
        (3, 0, 3),
    ];
    let inter = Interactions {
        user: ev.iter().map(|e| e.0).collect(),
        item: ev.iter().map(|e| e.1).collect(),
        ts: ev.iter().map(|e| e.2 * 100).collect(),
        rating: vec![1.0; ev.len()],
        context: vec![],
    };
    let data = Dataset {
        name: "tiny".into(),
        users: IdMap::from(vec![
            "alice".into(),
            "bob".into(),
            "carol".into(),
            "dan,jr".into(),
        ]),
        items: IdMap::from((0..6).map(|i| format!("i{i}")).collect::<Vec<_>>()),
        interactions: inter,
        has_timestamps: true,
        ..Default::default()
    };
    let split = SplitConfig::LeaveOneOut { min_events: 3 }
        .split(&data)
        .unwrap();
    (data, split)
}

fn cfg(ks: &[usize]) -> EvalConfig {
    EvalConfig {
        ks: ks.to_vec(),
        batch_users: 2,
        ..Default::default()
    }
}

fn run(m: &dyn Recommender, stage: Stage, c: &EvalConfig) -> EvalReport {
    let (data, split) = tiny();
    evaluate(m, &data, &split, stage, c, true, &ProgressBar::hidden()).unwrap()
}

/// Ties go to the item more popular in the stage's history, then to the lower index —
/// never to file order alone. Validation-stage training counts in `tiny()`: item 0: 3,
/// item 1: 2, items 2 and 5: 1, items 3 and 4: 0.
#[test]
fn ties_are_broken_by_training_popularity() {
    let zeros = Fixed::new(vec![0.0; 6]);
    let r = run(&zeros, Stage::Validation, &cfg(&[3]));
    let recs = r.recs.unwrap();
    let bob = recs.iter().find(|x| x.user == 1).unwrap();
    let items: Vec<ItemIdx> = bob.items.iter().map(|x| x.0).collect();
    // bob's history is {1}; by index alone this would be [0, 2, 3].
    assert_eq!(items, vec![0, 2, 5]);
    // bob's validation target (item 2) is second in that order: full MRR 1/2 for him.
    let alice = recs.iter().find(|x| x.user == 0).unwrap();
    assert_eq!(
        alice.items.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![5, 3, 4]
    );
}

#[test]
fn config_defaults_and_validation() {
    let c: EvalConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, EvalConfig::default());
    assert_eq!(c.ks, vec![5, 10, 20]);
    assert!(serde_json::from_str::<EvalConfig>(r#"{"kz": [1]}"#).is_err());
    let e = EvalConfig {
        ks: vec![0],
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().starts_with("eval.ks"), "{e}");
    assert!(EvalConfig {
        batch_users: 0,
        ..Default::default()
    }
    .validate()
    .is_err());
    assert!(EvalConfig {
        sampled_negatives: Some(0),
        ..Default::default()
    }
    .validate()
    .is_err());
}

#[test]
fn validation_stage_by_hand() {
    // Scores favour high indices: ranking 5 > 4 > 3 > 2 > 1 > 0.
    let m = Fixed::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = run(&m, Stage::Validation, &cfg(&[1, 2]));
    // u0: history {0,1,2} masked → ranking 5,4,3; target 3 at rank 2 (0-based).
    // u1: history {1} → ranking 5,4,3,2,0; target 2 at rank 3.
    // u3: history {0} → ranking 5,4,3,2,1; target 1 at rank 4.
    assert_eq!(
        (
            r.users_evaluated,
            r.users_skipped,
            r.targets_in_history_dropped
        ),
        (3, 1, 0)
    );
    assert_eq!(r.metric("hr@2"), Some(0.0));
    let mrr = (1.0 / 3.0 + 1.0 / 4.0 + 1.0 / 5.0) / 3.0;
    assert!((r.metric("mrr").unwrap() - mrr).abs() < 1e-12);
    // AUC: u0 beats 0 of 2 negatives, u1 1 of 4 (item 0), u3 0 of 4.
    assert!((r.metric("auc").unwrap() - (0.0 + 0.25 + 0.0) / 3.0).abs() < 1e-12);
    // Everyone's top-1 is item 5, top-2 adds item 4.
    assert_eq!(r.metric("coverage@1"), Some(1.0 / 6.0));
    assert_eq!(r.metric("coverage@2"), Some(2.0 / 6.0));
    // Training popularity: item 5 once (u2), item 4 never.
    assert_eq!(r.metric("pop@1"), Some(1.0));
    assert_eq!(r.metric("pop@2"), Some(0.5));
    // The most popular training item is item 0 (u0, u2, u3).
    let max_pop = 3.0;
    assert_eq!(r.metric("pop_norm@1"), Some(1.0 / max_pop));
    // History masked: no user is ever recommended a history item.
    let recs = r.recs.unwrap();
    assert_eq!(
        recs.iter().map(|x| x.user).collect::<Vec<_>>(),
        vec![0, 1, 3]
    );
    assert_eq!(recs[0].items, vec![(5, 5.0), (4, 4.0)]);
    // The model saw training histories in time order and `now` = first target time.
    let mut seen = m.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen[0], (Some(0), vec![0, 1, 2], Some(400)));
    assert_eq!(seen[1], (Some(1), vec![1], Some(200)));
    assert_eq!(seen[2], (Some(3), vec![0], Some(200)));
}

/// The per-user NDCG kept for paired comparisons is the headline cut-off's (the largest
/// K without 10), one value per evaluated user in user order, averaging to the metric.
#[test]
fn per_user_ndcg_is_kept_at_the_headline_cut_off() {
    let m = Fixed::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = run(&m, Stage::Validation, &cfg(&[1, 3, 5]));
    let users: Vec<UserIdx> = r.per_user_ndcg.iter().map(|x| x.0).collect();
    assert_eq!(users, vec![0, 1, 3]);
    // u0's target 3 at rank 2 (0-based) of its top 5: 1 / log2(4) = 0.5.
    assert!((r.per_user_ndcg[0].1 - 0.5).abs() < 1e-12);
    let mean = r.per_user_ndcg.iter().map(|x| x.1).sum::<f64>() / 3.0;
    assert!((mean - r.metric("ndcg@5").unwrap()).abs() < 1e-12);
    let r10 = run(&m, Stage::Validation, &cfg(&[5, 10, 20]));
    let mean = r10.per_user_ndcg.iter().map(|x| x.1).sum::<f64>() / 3.0;
    assert!((mean - r10.metric("ndcg@10").unwrap()).abs() < 1e-12);
}

#[test]
fn test_stage_history_includes_validation_and_drops_seen_targets() {
    let m = Fixed::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = run(&m, Stage::Test, &cfg(&[1, 2]));
    // u1's test item 2 is its validation item, u3's test item 0 its training item:
    // both dropped, both users skipped (plus u2 with no test rows).
    assert_eq!(
        (
            r.users_evaluated,
            r.users_skipped,
            r.targets_in_history_dropped
        ),
        (1, 3, 2)
    );
    // u0: history {0,1,2,3} → ranking 5,4; target 4 at rank 1.
    assert_eq!(r.metric("hr@1"), Some(0.0));
    assert_eq!(r.metric("hr@2"), Some(1.0));
    assert_eq!(r.metric("mrr"), Some(0.5));
    assert_eq!(r.metric("auc"), Some(0.0));
    assert_eq!(r.recs.as_ref().unwrap()[0].items, vec![(5, 5.0), (4, 4.0)]);
    // The validation item 3 was part of u0's history at test stage.
    let seen = m.seen.lock().unwrap();
    let u0 = seen.iter().find(|s| s.0 == Some(0)).unwrap();
    assert_eq!(u0.1, vec![0, 1, 2, 3]);
    assert_eq!(u0.2, Some(500));
}

/// RecBole's protocol: at test time the model's input is the training events only, but
/// the validation item is still masked.
#[test]
fn recbole_protocol_scores_from_train_and_masks_validation() {
    let m = Fixed::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let c = EvalConfig {
        protocol: TestProtocol::Recbole,
        ..cfg(&[1, 2])
    };
    let r = run(&m, Stage::Test, &c);
    let u0 = m
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.0 == Some(0))
        .cloned()
        .unwrap();
    assert_eq!(u0.1, vec![0, 1, 2], "validation item 3 not in the input");
    // ...but masked: u0's top-2 is still 5, 4 (item 3 would otherwise rank third).
    assert_eq!(r.recs.as_ref().unwrap()[0].items, vec![(5, 5.0), (4, 4.0)]);
    assert_eq!(r.metric("hr@2"), Some(1.0));
    // Validation stage is the same under both protocols.
    let v = run(&m, Stage::Validation, &c);
    assert_eq!(v.metrics, run(&m, Stage::Validation, &cfg(&[1, 2])).metrics);
}

#[test]
fn oracle_scores_one() {
    let (data, split) = tiny();
    for stage in [Stage::Validation, Stage::Test] {
        let (_, part) = stage.parts();
        let targets = Csr::from_rows(&data.interactions, &split.rows(&[part]), data.n_users(), 6);
        let m = Oracle {
            n_items: 6,
            targets,
        };
        let c = EvalConfig {
            sampled_negatives: Some(2),
            ..cfg(&[1, 5])
        };
        let r = run(&m, stage, &c);
        for key in [
            "hr@1", "ndcg@1", "mrr@1", "ndcg@5", "recall@5", "map@5", "mrr", "auc",
        ] {
            assert_eq!(r.metric(key), Some(1.0), "{stage} {key}");
        }
        for key in [
            "sampled2_hr@1",
            "sampled2_ndcg@1",
            "sampled2_mrr",
            "sampled2_auc",
        ] {
            assert_eq!(r.metric(key), Some(1.0), "{stage} {key}");
        }
        assert!(r.sampled);
        assert!((r.metric("precision@5").unwrap() - 0.2).abs() < 1e-12);
    }
}

#[test]
fn deterministic_across_batch_sizes_and_nan_scores_stay_candidates() {
    let m = Fixed::new(vec![f32::NAN, 1.0, 1.0, f32::NEG_INFINITY, 0.5, 0.5]);
    let mut c = EvalConfig {
        sampled_negatives: Some(2),
        ..cfg(&[1, 3])
    };
    let a = run(&m, Stage::Validation, &c);
    c.batch_users = 1;
    let b = run(&m, Stage::Validation, &c);
    assert_eq!(a, b);
    // u0 (history 0,1,2): item 3 (-inf from the model) ranks last but is still ranked:
    // candidates 4, 5, 3 → target 3 at rank 2.
    assert_eq!(a.recs.as_ref().unwrap()[0].items.len(), 3);
    assert_eq!(a.recs.as_ref().unwrap()[0].items[2].0, 3);
}

#[test]
fn rejects_mismatched_inputs() {
    let (data, split) = tiny();
    let m = Fixed::new(vec![0.0; 5]);
    let pb = ProgressBar::hidden();
    let e = evaluate(&m, &data, &split, Stage::Test, &cfg(&[1]), false, &pb).unwrap_err();
    assert!(matches!(e, Error::CatalogueMismatch { model: 5, data: 6 }));
    let short = Split {
        config: split.config.clone(),
        part: split.part[1..].to_vec(),
        learners: None,
    };
    let m = Fixed::new(vec![0.0; 6]);
    let e = evaluate(&m, &data, &short, Stage::Test, &cfg(&[1]), false, &pb).unwrap_err();
    assert!(matches!(e, Error::SplitMismatch { .. }));
}

#[test]
fn exports_recs_with_original_ids() {
    let (data, split) = tiny();
    let m = Fixed::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let pb = ProgressBar::hidden();
    let r = evaluate(&m, &data, &split, Stage::Validation, &cfg(&[2]), true, &pb).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recs.csv");
    export_recs(&r, &data, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "user_id,rank,item_id,score");
    assert_eq!(lines[1], "alice,1,i5,5");
    assert_eq!(lines[2], "alice,2,i4,4");
    assert_eq!(lines[5], "\"dan,jr\",1,i5,5");
    let no_recs = EvalReport { recs: None, ..r };
    assert!(matches!(
        export_recs(&no_recs, &data, &path),
        Err(Error::NoRecs)
    ));
    // JSON round trip; the per-user values stay out of the file.
    assert!(!no_recs.per_user_ndcg.is_empty());
    let s = serde_json::to_string(&no_recs).unwrap();
    assert!(!s.contains("per_user"), "{s}");
    let back = serde_json::from_str::<EvalReport>(&s).unwrap();
    assert_eq!(
        back,
        EvalReport {
            per_user_ndcg: Vec::new(),
            ..no_recs
        }
    );
}
