//! Early stopping on a validation metric, shared by every model trained by gradient descent
//! (the candle loop in [`super::gradient`] and BPR's own): validate every `eval_every`
//! epochs and at the last, keep the best epoch's weights, stop after `patience` validations
//! without improvement, and log every epoch.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A validation callback: scores the model on held-out events and returns the metric to
/// maximise (the pipeline passes full-ranking NDCG@10 on the validation part).
pub type Validator<'a> = &'a (dyn Fn(&dyn seer_core::Recommender) -> Result<f64> + Sync);

/// One line of the training log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Wall-clock seconds of the epoch's training (validation excluded).
    pub seconds: f64,
    /// Training sequences per second.
    pub seqs_per_sec: f64,
    /// Validation metric, when validated this epoch.
    pub valid: Option<f64>,
}

/// Result of a training run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainLog {
    /// Every epoch run.
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were kept (best validation, or the last one).
    pub best_epoch: usize,
    /// Its validation metric.
    pub best_valid: Option<f64>,
}

/// The early-stopping state of one run: the log so far, the best validation score with the
/// weights `W` it was reached with, and the validations since it.
#[derive(Debug, Clone)]
pub struct EarlyStop<W> {
    /// Every epoch so far, with the best one.
    pub log: TrainLog,
    /// The best score and its weights.
    pub best: Option<(f64, W)>,
    /// Validations without improvement since the best.
    pub bad_rounds: usize,
    epochs: usize,
    eval_every: usize,
    patience: usize,
}

impl<W> EarlyStop<W> {
    /// A run of at most `epochs` epochs, validated every `eval_every` (and at the last),
    /// stopped after `patience` validations without improvement (0: never early).
    pub fn new(epochs: usize, eval_every: usize, patience: usize) -> EarlyStop<W> {
        EarlyStop {
            log: TrainLog::default(),
            best: None,
            bad_rounds: 0,
            epochs,
            eval_every: eval_every.max(1),
            patience,
        }
    }

    /// Whether `epoch` is validated (when there is a validator).
    pub fn validates(&self, epoch: usize) -> bool {
        epoch.is_multiple_of(self.eval_every) || epoch == self.epochs
    }

    /// Ends epoch `entry.epoch`: with a validator and a validated epoch, scores the model
    /// (`validate`) and keeps `weights()` when it is the best so far; without a validator
    /// the last epoch counts as the best. Appends the entry (with its score) to the log and
    /// returns whether to stop now.
    pub fn end_epoch(
        &mut self,
        mut entry: EpochLog,
        validate: Option<&dyn Fn() -> Result<f64>>,
        weights: impl FnOnce() -> Result<W>,
    ) -> Result<bool> {
        let epoch = entry.epoch;
        let mut stop = false;
        match validate {
            Some(f) if self.validates(epoch) => {
                let v = f()?;
                entry.valid = Some(v);
                if self.best.as_ref().is_none_or(|(b, _)| v > *b) {
                    self.best = Some((v, weights()?));
                    self.log.best_epoch = epoch;
                    self.log.best_valid = Some(v);
                    self.bad_rounds = 0;
                } else {
                    self.bad_rounds += 1;
                    stop = self.patience > 0 && self.bad_rounds >= self.patience;
                }
            }
            Some(_) => {}
            None => self.log.best_epoch = epoch,
        }
        self.log.epochs.push(entry);
        Ok(stop)
    }

    /// The log and the best weights, when any validation ran.
    pub fn finish(self) -> (TrainLog, Option<W>) {
        (self.log, self.best.map(|(_, w)| w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: usize) -> EpochLog {
        EpochLog {
            epoch,
            loss: 1.0,
            seconds: 0.0,
            seqs_per_sec: 0.0,
            valid: None,
        }
    }

    #[test]
    fn keeps_the_best_epoch_and_stops_after_patience() -> Result<()> {
        let scores = [0.1, 0.3, 0.2, 0.25, 0.1, 0.9];
        let mut es = EarlyStop::new(6, 1, 3);
        let mut stopped_at = None;
        for (i, s) in scores.iter().enumerate() {
            let epoch = i + 1;
            let f = || Ok(*s);
            if es.end_epoch(entry(epoch), Some(&f), || Ok(epoch))? {
                stopped_at = Some(epoch);
                break;
            }
        }
        // best at epoch 2; epochs 3, 4, 5 do not improve → stop at 5, never seeing 0.9
        assert_eq!(stopped_at, Some(5));
        let (log, best) = es.finish();
        assert_eq!(
            (log.best_epoch, log.best_valid, best),
            (2, Some(0.3), Some(2))
        );
        assert_eq!(log.epochs.len(), 5);
        assert_eq!(log.epochs[1].valid, Some(0.3));
        Ok(())
    }

    #[test]
    fn validates_every_n_epochs_and_at_the_last() -> Result<()> {
        let mut es = EarlyStop::<()>::new(5, 2, 0);
        let calls = std::cell::Cell::new(0);
        let f = || {
            calls.set(calls.get() + 1);
            Ok(calls.get() as f64)
        };
        for epoch in 1..=5 {
            assert!(!es.end_epoch(entry(epoch), Some(&f), || Ok(()))?);
        }
        // epochs 2, 4 and the last (5)
        assert_eq!(calls.get(), 3);
        assert_eq!(es.log.best_epoch, 5);
        Ok(())
    }

    #[test]
    fn without_a_validator_the_last_epoch_is_kept() -> Result<()> {
        let mut es = EarlyStop::<()>::new(3, 1, 1);
        for epoch in 1..=3 {
            assert!(!es.end_epoch(entry(epoch), None, || Ok(()))?);
        }
        let (log, best) = es.finish();
        assert_eq!((log.best_epoch, best), (3, None));
        Ok(())
    }
}
