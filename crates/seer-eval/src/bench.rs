//! The bench pipeline every model goes through, whatever it is: choose hyper-parameters on
//! validation ([`tune`]), refit the choice on train + validation ([`run_model`]; the models
//! trained by gradient descent for their best validation epoch count), and evaluate once on
//! test with full ranking.
//!
//! Models reach this module only through [`seer_core::Recommender`] and a [`Factory`] the
//! caller passes (the command line passes the model registry), so the harness knows no model.

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;
use seer_core::Recommender;
use seer_data::{Dataset, Part, Split};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::protocol::{evaluate, EvalConfig, EvalReport, Stage, TestProtocol};
use crate::{mem, ModelResult};

/// Scores a model on the validation part (full-ranking NDCG@10): what iterative models
/// early-stop on.
pub type Validator<'a> = &'a (dyn Fn(&dyn Recommender) -> Result<f64> + Sync);

/// A fitted model and, for a model trained by gradient descent, its training log.
pub type Fitted<L> = (Box<dyn Recommender>, Option<L>);

/// The epochs of a model trained by gradient descent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    /// Epochs run in the early-stopped fit.
    pub run: usize,
    /// The epoch kept (best validation score).
    pub best: usize,
}

/// What the pipeline needs from a model registry.
pub trait Factory {
    /// A model's resolved configuration.
    type Config: Clone + Serialize;
    /// What a fit reports beside the model (a training log); `None` from [`Factory::fit`]
    /// for models fitted in closed form.
    type Log;

    /// Fits `cfg` on `rows` of `data`; an iterative model validates with `validator` when
    /// given (early stopping, best epoch kept) and keeps resumable state in `checkpoint`.
    fn fit(
        &self,
        cfg: &Self::Config,
        data: &Dataset,
        rows: &[usize],
        validator: Option<Validator<'_>>,
        checkpoint: Option<&Path>,
        pb: &ProgressBar,
    ) -> Result<Fitted<Self::Log>>;

    /// The epochs of a fit's log.
    fn epochs(&self, log: &Self::Log) -> Epochs;

    /// `cfg` trained for exactly `epochs` epochs without early stopping (the refit).
    fn with_fixed_epochs(&self, cfg: &Self::Config, epochs: usize) -> Self::Config;

    /// A compact spec of `cfg` for logs and tables (`ease:lambda=500`).
    fn describe(&self, cfg: &Self::Config) -> String;
}

/// Progress bars for the pipeline's stages.
pub trait Bars {
    /// A bar over `len` steps.
    fn bar(&self, len: u64, msg: &str) -> ProgressBar;
    /// A spinner for work of unknown length.
    fn spinner(&self, msg: &str) -> ProgressBar;
}

/// The metric hyper-parameters are selected on: NDCG at 10 (or the first K configured).
pub fn selection_key(eval: &EvalConfig) -> String {
    let k = if eval.ks.contains(&10) {
        10
    } else {
        eval.ks.first().copied().unwrap_or(10)
    };
    format!("ndcg@{k}")
}

/// Fits `cfg` on `parts` of `split`. Unless the validation part is among them (or empty),
/// iterative models validate on it every few epochs (NDCG@10, full ranking, the one protocol),
/// keep the best epoch and stop early.
pub fn fit<F: Factory>(
    factory: &F,
    cfg: &F::Config,
    data: &Dataset,
    split: &Split,
    parts: &[Part],
    checkpoint: Option<&Path>,
    pb: &ProgressBar,
) -> Result<Fitted<F::Log>> {
    let rows = split.fit_rows(data, parts);
    let valid_cfg = EvalConfig {
        ks: vec![10],
        sampled_negatives: None,
        ..EvalConfig::default()
    };
    let validator = |m: &dyn Recommender| -> Result<f64> {
        let hidden = ProgressBar::hidden();
        let report = evaluate(
            m,
            data,
            split,
            Stage::Validation,
            &valid_cfg,
            false,
            &hidden,
        )?;
        Ok(report.metrics.get("ndcg@10").copied().unwrap_or(f64::NAN))
    };
    let has_valid = !split.rows(&[Part::Valid]).is_empty() && !parts.contains(&Part::Valid);
    let validator: Option<Validator<'_>> = if has_valid { Some(&validator) } else { None };
    factory.fit(cfg, data, &rows, validator, checkpoint, pb)
}

/// Outcome of a validation grid search.
pub struct Tuned<F: Factory> {
    /// The best configuration.
    pub best: F::Config,
    /// Its validation report.
    pub valid: EvalReport,
    /// Every configuration tried with its selection metric, in grid order.
    pub trials: Vec<(F::Config, f64)>,
    /// The best configuration's fitted model, its fit time in seconds and training log, kept
    /// for iterative models (those whose fit returns a log).
    pub model: Option<(Box<dyn Recommender>, f64, F::Log)>,
}

/// Grid search on the validation part: fit each of `candidates` on train, evaluate on
/// validation, keep the best by [`selection_key`] (the first of equals). The test part is
/// never touched.
pub fn tune<F: Factory>(
    factory: &F,
    candidates: Vec<F::Config>,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    bars: &dyn Bars,
) -> Result<Tuned<F>> {
    let key = selection_key(eval);
    let mut best: Option<(F::Config, EvalReport)> = None;
    let mut best_model = None;
    let mut trials = Vec::new();
    for cfg in candidates {
        let t0 = Instant::now();
        let pb = bars.spinner("fit (train)");
        let (model, log) = fit(factory, &cfg, data, split, &[Part::Train], None, &pb)?;
        let fit_seconds = t0.elapsed().as_secs_f64();
        let pb = bars.bar(data.n_users() as u64, "evaluate (validation)");
        let report = evaluate(
            model.as_ref(),
            data,
            split,
            Stage::Validation,
            eval,
            false,
            &pb,
        )?;
        pb.finish_and_clear();
        let score = report.metrics.get(&key).copied().unwrap_or(f64::NAN);
        let name = factory.describe(&cfg);
        tracing::info!(config = %name, metric = %key, score, "validation");
        trials.push((cfg.clone(), score));
        let better = match &best {
            None => true,
            Some((_, b)) => score > b.metrics.get(&key).copied().unwrap_or(f64::NEG_INFINITY),
        };
        if better {
            if let Some(log) = log {
                best_model = Some((model, fit_seconds, log));
            }
            best = Some((cfg, report));
        }
    }
    let Some((best, valid)) = best else {
        return Err(Error::Config {
            key: "tune".into(),
            message: "the tuning grid is empty".into(),
        });
    };
    Ok(Tuned {
        best,
        valid,
        trials,
        model: best_model,
    })
}

/// The model of the test stage: under seer's protocol refit on train + validation (an
/// iterative model for its best validation epoch count), under RecBole's the model fit on
/// train. Returns it with the fit seconds.
fn test_model<F: Factory>(
    factory: &F,
    tuned: &mut Tuned<F>,
    data: &Dataset,
    split: &Split,
    protocol: TestProtocol,
    bars: &dyn Bars,
) -> Result<(Box<dyn Recommender>, f64)> {
    Ok(match (tuned.model.take(), protocol) {
        // RecBole's protocol: the model fit on train, early-stopped on validation.
        (Some((m, secs, _)), TestProtocol::Recbole) => (m, secs),
        // seer's protocol for iterative models: refit on train + validation for the best
        // epoch count found on validation (as the other models are refit); the validation
        // event is then both trained on and part of the input sequence at test time.
        (Some((_, secs, log)), TestProtocol::Seer) => {
            let t0 = Instant::now();
            let best_epoch = factory.epochs(&log).best;
            let cfg = factory.with_fixed_epochs(&tuned.best, best_epoch);
            let pb = bars.spinner("refit (train + validation)");
            let (model, _) = fit(
                factory,
                &cfg,
                data,
                split,
                &[Part::Train, Part::Valid],
                None,
                &pb,
            )?;
            let refit = t0.elapsed().as_secs_f64();
            tracing::info!(
                best_epoch,
                train_seconds = secs,
                refit_seconds = refit,
                "refit done"
            );
            (model, secs + refit)
        }
        (None, _) => {
            mem::reset_peak_rss();
            let t0 = Instant::now();
            // Refit on train + validation so the model has seen the validation event
            // (RecBole's protocol instead keeps the model fit on train only).
            let parts: &[Part] = match protocol {
                TestProtocol::Seer => &[Part::Train, Part::Valid],
                TestProtocol::Recbole => &[Part::Train],
            };
            let pb = bars.spinner("fit for test");
            let (model, _) = fit(factory, &tuned.best, data, split, parts, None, &pb)?;
            (model, t0.elapsed().as_secs_f64())
        }
    })
}

/// Runs one model through the whole protocol: [`tune`] over `candidates` (one for no
/// tuning), the test-stage model, the test evaluation. The row is named `name`.
pub fn run_model<F: Factory>(
    factory: &F,
    name: &str,
    candidates: Vec<F::Config>,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    bars: &dyn Bars,
) -> Result<(ModelResult, EvalReport)> {
    mem::reset_peak_rss();
    let mut tuned = tune(factory, candidates, data, split, eval, bars)?;
    let epochs = tuned.model.as_ref().map(|(_, _, log)| factory.epochs(log));
    let (model, fit_seconds) = test_model(factory, &mut tuned, data, split, eval.protocol, bars)?;
    let t1 = Instant::now();
    let pb = bars.bar(data.n_users() as u64, "evaluate (test)");
    let test = evaluate(model.as_ref(), data, split, Stage::Test, eval, true, &pb)?;
    pb.finish_and_clear();
    let eval_seconds = t1.elapsed().as_secs_f64();
    // Process-wide high-water mark since the reset: dataset + model + evaluation buffers.
    let peak = mem::peak_rss_bytes().unwrap_or(0);
    tracing::info!(model = name, fit_seconds, eval_seconds, "test done");
    let result = ModelResult {
        name: name.to_owned(),
        config: serde_json::to_value(&tuned.best).unwrap_or_default(),
        metrics: test.metrics.clone(),
        valid_metrics: tuned.valid.metrics.clone(),
        fit_seconds,
        eval_seconds,
        peak_rss_mb: peak as f64 / (1024.0 * 1024.0),
        epochs_run: epochs.map(|e| e.run),
        best_epoch: epochs.map(|e| e.best),
        paired: None,
    };
    Ok((result, test))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use seer_core::UserContext;

    use super::*;
    use crate::protocol::tests::tiny;

    /// Scores items by their count in the fit rows, times `sign`.
    struct Counts {
        scores: Vec<f32>,
    }

    impl Recommender for Counts {
        fn kind(&self) -> &'static str {
            "counts"
        }
        fn n_items(&self) -> usize {
            self.scores.len()
        }
        fn score(&self, _: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
            out.copy_from_slice(&self.scores);
            Ok(())
        }
        fn save(&self, _: &Path) -> seer_core::Result<()> {
            Ok(())
        }
    }

    /// `(sign, epochs)`: scores are training counts times `sign`; with `Some` epochs the
    /// model counts as iterative.
    type ToyConfig = (i32, Option<usize>);

    /// Records every fit as (config, rows, validated).
    #[derive(Default)]
    struct Toy {
        fits: Mutex<Vec<(ToyConfig, usize, bool)>>,
    }

    impl Factory for Toy {
        type Config = ToyConfig;
        type Log = usize;

        fn fit(
            &self,
            cfg: &Self::Config,
            data: &Dataset,
            rows: &[usize],
            validator: Option<Validator<'_>>,
            _: Option<&Path>,
            _: &ProgressBar,
        ) -> Result<Fitted<usize>> {
            let mut scores = vec![0f32; data.n_items()];
            for &r in rows {
                scores[data.interactions.item[r] as usize] += cfg.0 as f32;
            }
            let model = Counts { scores };
            if let Some(v) = validator {
                v(&model)?;
            }
            let mut fits = self.fits.lock().unwrap_or_else(|p| p.into_inner());
            fits.push((*cfg, rows.len(), validator.is_some()));
            // An "iterative" config reports best epoch 3 of 5.
            Ok((Box::new(model), cfg.1.map(|_| 3)))
        }
        fn epochs(&self, best: &usize) -> Epochs {
            Epochs {
                run: 5,
                best: *best,
            }
        }
        fn with_fixed_epochs(&self, cfg: &Self::Config, epochs: usize) -> Self::Config {
            (cfg.0, cfg.1.map(|_| epochs))
        }
        fn describe(&self, cfg: &Self::Config) -> String {
            format!("toy:{}", cfg.0)
        }
    }

    struct Hidden;

    impl Bars for Hidden {
        fn bar(&self, _: u64, _: &str) -> ProgressBar {
            ProgressBar::hidden()
        }
        fn spinner(&self, _: &str) -> ProgressBar {
            ProgressBar::hidden()
        }
    }

    #[test]
    fn tunes_on_validation_then_refits_on_train_and_validation() -> Result<()> {
        let (data, split) = tiny();
        let toy = Toy::default();
        let eval = EvalConfig::default();
        let (row, test) = run_model(
            &toy,
            "toy",
            vec![(-1, None), (1, None)],
            &data,
            &split,
            &eval,
            &Hidden,
        )?;
        let fits = toy.fits.into_inner().unwrap_or_else(|p| p.into_inner());
        let (train, both) = (
            split.rows(&[Part::Train]).len(),
            split.fit_rows(&data, &[Part::Train, Part::Valid]).len(),
        );
        // Both grid points on train with the validator, then the chosen one on train +
        // validation, without it (nothing left to validate on).
        assert_eq!(
            fits,
            vec![
                ((-1, None), train, true),
                ((1, None), train, true),
                ((1, None), both, false)
            ]
        );
        assert_eq!(row.config, serde_json::json!([1, null]));
        assert_eq!(row.metrics, test.metrics);
        assert_eq!((row.epochs_run, row.best_epoch), (None, None));
        Ok(())
    }

    #[test]
    fn an_iterative_model_is_refit_for_its_best_epoch() -> Result<()> {
        let (data, split) = tiny();
        let toy = Toy::default();
        let (row, _) = run_model(
            &toy,
            "toy",
            vec![(1, Some(9))],
            &data,
            &split,
            &EvalConfig::default(),
            &Hidden,
        )?;
        let fits = toy.fits.into_inner().unwrap_or_else(|p| p.into_inner());
        assert_eq!(fits.last().map(|f| f.0), Some((1, Some(3))));
        assert_eq!((row.epochs_run, row.best_epoch), (Some(5), Some(3)));
        // RecBole's protocol keeps the early-stopped model: no refit.
        let toy = Toy::default();
        let eval = EvalConfig {
            protocol: TestProtocol::Recbole,
            ..EvalConfig::default()
        };
        run_model(
            &toy,
            "toy",
            vec![(1, Some(9))],
            &data,
            &split,
            &eval,
            &Hidden,
        )?;
        assert_eq!(
            toy.fits
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            1
        );
        Ok(())
    }

    #[test]
    fn the_selection_key_is_ndcg_at_ten_or_the_first_k() {
        assert_eq!(selection_key(&EvalConfig::default()), "ndcg@10");
        let eval = EvalConfig {
            ks: vec![5, 20],
            ..EvalConfig::default()
        };
        assert_eq!(selection_key(&eval), "ndcg@5");
    }
}
