//! Helpers for the unit tests of the models.

use indicatif::ProgressBar;
use seer_core::UserContext;
use seer_data::{Csr, Interactions};

use crate::train::TrainData;
use crate::ModelConfig;

/// A user × item matrix with `n_items` columns from `(user, item, ts)` events.
pub(crate) fn csr(n_items: usize, events: &[(u32, u32, i64)]) -> Csr {
    let n_users = events.iter().map(|e| e.0 as usize + 1).max().unwrap_or(0);
    let inter = Interactions {
        user: events.iter().map(|e| e.0).collect(),
        item: events.iter().map(|e| e.1).collect(),
        ts: events.iter().map(|e| e.2).collect(),
        rating: vec![1.0; events.len()],
        context: vec![],
    };
    let rows: Vec<usize> = (0..events.len()).collect();
    Csr::from_rows(&inter, &rows, n_users, n_items)
}

/// 3 blocks of 4 items; each of 8 users per block has 3 of their block's 4 items (the
/// missing one, `block·4 + user % 4`, is what a model should put first).
pub(crate) fn blocks() -> TrainData {
    let mut ev = Vec::new();
    for blk in 0..3u32 {
        for u in 0..8u32 {
            let user = blk * 8 + u;
            for j in 0..4u32 {
                if j != u % 4 {
                    ev.push((user, blk * 4 + j, j as i64));
                }
            }
        }
    }
    TrainData::from_csr(csr(12, &ev), false)
}

/// Fits `cfg` on `train`, saves, loads, and checks the loaded model scores every training
/// user, an empty history and a history with unknown items exactly as the original does.
pub(crate) fn assert_round_trip(cfg: &ModelConfig, train: &TrainData) {
    let model = cfg.fit(train, &ProgressBar::hidden()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    model.save(&path).unwrap();
    // Saving again over an existing directory replaces the file.
    model.save(&path).unwrap();
    let loaded = crate::load(&path).unwrap();
    assert_eq!(loaded.kind(), model.kind());
    assert_eq!(loaded.n_items(), model.n_items());
    let n = model.n_items();
    let unknown = [0, n as u32 + 5];
    let mut histories: Vec<&[u32]> = (0..train.n_users as u32)
        .map(|u| train.matrix.row(u))
        .collect();
    histories.push(&[]);
    histories.push(&unknown);
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    for h in &histories {
        let ctx = UserContext::from_history(None, h);
        model.score(&ctx, &mut a).unwrap();
        loaded.score(&ctx, &mut b).unwrap();
        assert_eq!(a, b, "history {h:?}");
    }
    let ctxs: Vec<UserContext<'_>> = histories
        .iter()
        .map(|h| UserContext::from_history(None, h))
        .collect();
    let mut batch = vec![0.0; ctxs.len() * n];
    loaded.score_batch(&ctxs, &mut batch).unwrap();
    for (ctx, row) in ctxs.iter().zip(batch.chunks(n.max(1))) {
        model.score(ctx, &mut a).unwrap();
        for (x, y) in a.iter().zip(row) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                "batch {x} vs single {y}"
            );
        }
    }
}

/// The all-MiniLM-L6-v2 directory for tests: `$SEER_MINILM`, else `models/all-MiniLM-L6-v2`
/// at the workspace root (where `seer fetch minilm` puts it). `None` (the test skips, saying
/// so) when it is absent, unless `SEER_REQUIRE_MINILM` is set, as CI does after fetching it:
/// then a missing model fails the test.
pub(crate) fn minilm_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("SEER_MINILM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SEER_REQUIRE_MINILM").is_none(),
        "{} has no model; run `cargo run --release -p seer-cli -- fetch minilm`",
        dir.display()
    );
    eprintln!(
        "skipped: no MiniLM model at {} (run `seer fetch minilm`)",
        dir.display()
    );
    None
}
