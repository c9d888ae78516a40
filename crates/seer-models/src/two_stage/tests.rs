//! Tests of the two-stage recommender.

use super::*;
use crate::testutil::csr;
use rand::Rng;

/// 80 users, 40 items: items 0–19 are genre A, 20–39 genre B, lower indices more popular
/// within each genre; even users take 90% of their items from A, odd users from B.
/// Returns the training data (9 events per user) and each user's next item.
fn genres() -> (TrainData, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut events = Vec::new();
    let mut next = Vec::new();
    for u in 0..80u32 {
        let mut seen = Vec::new();
        for t in 0..10 {
            let own = rng.random::<f32>() < 0.9;
            let a = (u % 2 == 0) == own;
            let item = loop {
                // popularity skew: squares favour small offsets
                let off = ((rng.random::<f32>().powi(2)) * 20.0) as u32;
                let i = if a { off } else { 20 + off };
                if !seen.contains(&i) {
                    break i;
                }
            };
            seen.push(item);
            if t < 9 {
                events.push((u, item, t as i64));
            } else {
                next.push(item);
            }
        }
    }
    let mut train = TrainData::from_csr(csr(40, &events), false);
    train.item_fields = vec![(
        "genre".into(),
        (0..40)
            .map(|i| if i < 20 { "A" } else { "B" }.to_string())
            .collect(),
    )];
    (train, next)
}

fn hits_at_5(model: &dyn Recommender, train: &TrainData, next: &[u32]) -> usize {
    let mut s = vec![0.0; 40];
    (0..80u32)
        .filter(|&u| {
            let h = train.matrix.row(u);
            model
                .score(&UserContext::from_history(Some(u), h), &mut s)
                .unwrap();
            for &i in h {
                s[i as usize] = f32::NEG_INFINITY;
            }
            seer_core::topk::top_k(&s, 5)
                .iter()
                .any(|&(i, _)| i == next[u as usize])
        })
        .count()
}

/// Popularity ignores taste; the ranker learns from the inner hold-out that items of the
/// user's favourite genre are taken, and lifts them within pop's candidates.
#[test]
fn ranker_beats_its_generator_on_taste_it_can_see() {
    let (train, next) = genres();
    let pop = ModelConfig::from_spec("pop")
        .unwrap()
        .fit(&train, &ProgressBar::hidden())
        .unwrap();
    let base = hits_at_5(pop.as_ref(), &train, &next);
    for spec in ["pop+lr:alpha=0.5,epochs=5", "pop+fm:epochs=5"] {
        let cfg = ModelConfig::from_spec(spec).unwrap();
        let ModelConfig::TwoStage(c) = &cfg else {
            panic!("{spec}")
        };
        let m = TwoStage::fit(c, &train, &ProgressBar::hidden()).unwrap();
        let r = m.report();
        assert_eq!(r.users, 80);
        assert!(r.train_auc > 0.6, "{spec}: {r:?}");
        let two = hits_at_5(&m, &train, &next);
        eprintln!("{spec}: {two} hits vs pop {base}");
        assert!(two >= base + 6, "{spec}: {two} hits vs pop {base}");
        // The explanation names the genre match.
        let u = 0u32;
        let h = train.matrix.row(u);
        let mut s = vec![0.0; 40];
        m.score(&UserContext::from_history(Some(u), h), &mut s)
            .unwrap();
        for &i in h {
            s[i as usize] = f32::NEG_INFINITY;
        }
        let top = seer_core::topk::top_k(&s, 1)[0].0;
        let (p, why) = m
            .explain(&UserContext::from_history(Some(u), h), top, &|i| {
                format!("item {i}")
            })
            .unwrap()
            .unwrap();
        assert!(p > 0.0 && p < 1.0);
        assert!(
            why.iter().any(|w| w.contains("favourite genre")),
            "{spec}: {why:?}"
        );
    }
}

#[test]
fn round_trip_and_spec_errors() {
    let (train, _) = genres();
    crate::testutil::assert_round_trip(
        &ModelConfig::from_spec("itemknn:k=10+lr:bits=12,candidates=15").unwrap(),
        &train,
    );
    crate::testutil::assert_round_trip(
        &ModelConfig::from_spec("pop+fm:factors=4,bits=12,negatives=3").unwrap(),
        &train,
    );
    let ModelConfig::TwoStage(c) =
        ModelConfig::from_spec("ease:lambda=10+fm:factors=8,candidates=50,crosses=false").unwrap()
    else {
        panic!()
    };
    assert_eq!(c.candidates, 50);
    assert!(!c.features.crosses);
    assert!(matches!(*c.generator, ModelConfig::Ease(ref e) if e.lambda == 10.0));
    assert!(matches!(c.ranker, RankerConfig::Fm(ref f) if f.factors == 8));
    assert_eq!(c.short_name(), "ease+fm");
    // several generators merged
    let merged = ModelConfig::from_spec("pop|itemknn:k=10+lr:bits=12,candidates=8").unwrap();
    let ModelConfig::TwoStage(mc) = &merged else {
        panic!()
    };
    assert_eq!(mc.short_name(), "pop|itemknn+lr");
    assert_eq!(mc.extra_generators.len(), 1);
    crate::testutil::assert_round_trip(&merged, &train);
    let m = TwoStage::fit(mc, &train, &ProgressBar::hidden()).unwrap();
    let h = train.matrix.row(0);
    let uc = UserContext::from_history(Some(0), h);
    let mut buf = vec![0.0; train.n_items];
    let cands = m.candidates(&uc, &mut buf).unwrap();
    // the union: more than one list's worth, no duplicates, nothing seen
    assert!(cands.len() > 8 && cands.len() <= 16, "{}", cands.len());
    let mut items: Vec<u32> = cands.iter().map(|c| c.item).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), cands.len());
    assert!(cands.iter().all(|c| !h.contains(&c.item)));
    // item-kNN's own rank reaches the features
    let ht = m.space.history_tokens(&uc);
    let keys = m.space.keyed(&uc, cands[9], &ht);
    assert!(keys.iter().any(|(k, _)| k == "gs1"), "{keys:?}");
    assert!(keys.iter().any(|(k, _)| k.starts_with("grank1:")));
    let e = ModelConfig::from_spec("pop|ease|itemknn|als+lr")
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 2"), "{e}");
    let e = ModelConfig::from_spec("pop+svm").unwrap_err().to_string();
    assert!(e.contains("expected lr or fm"), "{e}");
    let e = ModelConfig::from_spec("pop+lr:nope=1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    let e = ModelConfig::from_spec("pop+lr:candidates=0")
        .unwrap_err()
        .to_string();
    assert!(e.contains("two_stage.candidates"), "{e}");
}

/// The text group: a user's history vector is closer to items of their topic, a new item
/// with text (no events) gets the feature at once, and the vectors survive save/load.
#[test]
fn text_similarity_feature_reaches_new_items_and_round_trips() {
    let Some(minilm) = crate::testutil::minilm_dir() else {
        return;
    };
    let (mut train, _) = genres();
    train.n_items = 41; // item 40: new, no events, topic A
    train.matrix.n_cols = 41;
    train.item_text = (0..41)
        .map(|i| {
            if i < 20 || i == 40 {
                format!("space rocket astronaut mission to mars, volume {i}")
            } else {
                format!("home cooking recipes for the family kitchen, volume {i}")
            }
        })
        .collect();
    let spec = format!(
        "pop+lr:bits=12,text=true,text_cache=,text_model={}",
        minilm.display()
    );
    let cfg = ModelConfig::from_spec(&spec).unwrap();
    let ModelConfig::TwoStage(c) = &cfg else {
        panic!()
    };
    let m = TwoStage::fit(c, &train, &ProgressBar::hidden()).unwrap();
    assert_eq!(m.space.text_dim, 384);
    let txt = |user: u32, item: u32| -> f32 {
        let h = train.matrix.row(user);
        let uc = UserContext::from_history(Some(user), h);
        let ht = m.space.history_tokens(&uc);
        let cand = Candidate::new(item, 0.0, 0);
        m.space
            .keyed(&uc, cand, &ht)
            .into_iter()
            .find(|(k, _)| k == "txt")
            .map(|(_, v)| v)
            .expect("a txt feature")
    };
    // user 0 takes 90% of their items from topic A, user 1 from B
    assert!(
        txt(0, 40) > txt(1, 40) + 0.1,
        "{} vs {}",
        txt(0, 40),
        txt(1, 40)
    );
    assert!(txt(1, 25) > txt(0, 25) + 0.1);
    crate::testutil::assert_round_trip(&cfg, &train);
}

/// Statistics come from the training rows only: an item whose every event is in the test
/// part has count 0 in the fitted feature space, and its popularity feature says so.
#[test]
fn test_only_events_never_reach_features() {
    let mut data = seer_data::Dataset::default();
    for u in 0..6 {
        data.users.get_or_insert(&format!("u{u}"));
    }
    for i in 0..5 {
        data.items.get_or_insert(&format!("i{i}"));
    }
    // item 4 appears only in rows 12.. (the "test" rows)
    let mut inter = seer_data::Interactions::default();
    for u in 0..6u32 {
        for (t, i) in [(0, u % 4), (1, (u + 1) % 4)] {
            inter.user.push(u);
            inter.item.push(i);
            inter.ts.push(t);
            inter.rating.push(1.0);
        }
    }
    for u in 0..6u32 {
        inter.user.push(u);
        inter.item.push(4);
        inter.ts.push(2);
        inter.rating.push(1.0);
    }
    data.interactions = inter;
    let train_rows: Vec<usize> = (0..12).collect();
    let train = TrainData::new(&data, &train_rows);
    let ModelConfig::TwoStage(c) = ModelConfig::from_spec("pop+lr:bits=12").unwrap() else {
        panic!()
    };
    let m = TwoStage::fit(&c, &train, &ProgressBar::hidden()).unwrap();
    assert_eq!(m.space.item_counts[4], 0);
    assert_eq!(m.space.item_counts.iter().sum::<u32>(), 12);
    let ht = m
        .space
        .history_tokens(&UserContext::from_history(None, &[]));
    let keys = m.space.keyed(
        &UserContext::from_history(Some(0), &[0]),
        Candidate::new(4, 0.0, 0),
        &ht,
    );
    assert!(keys.iter().any(|(k, _)| k == "ipop:0"), "{keys:?}");
}
