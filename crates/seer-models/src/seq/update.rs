//! The continual update both sequence models share: a fitted model carried over to a grown
//! catalogue and trained a few more epochs on the users with new events (see
//! [`SeqModel::update`]).

use indicatif::ProgressBar;

use super::cold;
use super::config::SeqConfig;
use super::net::SeqNet;
use crate::error::Result;
use crate::train::{FitOptions, TrainData};

/// A fitted sequence model as the shared update sees it.
pub(crate) trait SeqModel: Sized {
    /// Its configuration.
    type Config: SeqConfig;
    /// Model kind in files and errors.
    const KIND: &'static str;
    /// A model of `config` with `net`'s weights and an empty training log.
    fn from_parts(config: Self::Config, net: SeqNet) -> Self;
    /// The configuration.
    fn config(&self) -> &Self::Config;
    /// The network.
    fn net(&self) -> &SeqNet;
    /// Runs the training loop on the model's weights.
    fn train(&mut self, train: &TrainData, opts: &FitOptions<'_>, pb: &ProgressBar) -> Result<()>;

    /// Continual update: this model carried over to `train`'s catalogue (`map[j]` is the
    /// model's index of the new catalogue's item `j`, `None` for items it never learned; see
    /// [`SeqNet::with_catalogue`]), then trained for `epochs` more epochs on `train` —
    /// typically restricted to the users with new events through `opts.users`. Old items
    /// keep their learned embeddings as the starting point; nothing is retrained from
    /// scratch (see [`update`]).
    fn update(
        &self,
        map: &[Option<u32>],
        epochs: usize,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Self> {
        update(self, map, epochs, train, opts, pb)
    }
}

/// Implements [`SeqModel`] for a model struct with fields `config`, `net` and `log` and an
/// inherent `train`.
macro_rules! seq_model {
    ($model:ident) => {
        impl $crate::seq::update::SeqModel for $model {
            type Config = Config;
            const KIND: &'static str = KIND;

            fn from_parts(config: Config, net: SeqNet) -> $model {
                $model {
                    config,
                    net,
                    log: TrainLog::default(),
                }
            }

            fn config(&self) -> &Config {
                &self.config
            }

            fn net(&self) -> &SeqNet {
                &self.net
            }

            fn train(
                &mut self,
                train: &TrainData,
                opts: &FitOptions<'_>,
                pb: &ProgressBar,
            ) -> Result<()> {
                $model::train(self, train, opts, pb)
            }
        }
    };
}
pub(crate) use seq_model;

/// `model` carried over to `train`'s catalogue (`map[j]` is the model's index of the new
/// catalogue's item `j`, `None` for items it never learned; see [`SeqNet::with_catalogue`]),
/// then trained for `epochs` more epochs on `train` (no warm-up; a decaying schedule decays
/// over these epochs). Items of the grown catalogue still without an event get rows from
/// their text afterwards under `text_cold`; the vectors are read first, so a missing encoder
/// fails before any training.
pub(crate) fn update<M: SeqModel>(
    model: &M,
    map: &[Option<u32>],
    epochs: usize,
    train: &TrainData,
    opts: &FitOptions<'_>,
    pb: &ProgressBar,
) -> Result<M> {
    let config = model.config().for_update(epochs);
    config.validate()?;
    let shared = config.shared();
    let cold = cold::update_vectors(&shared, train, M::KIND, pb)?;
    let net = model.net().with_catalogue(map, &train.matrix, None)?;
    let mut updated = M::from_parts(config, net);
    updated.train(train, opts, pb)?;
    cold::after_training(updated.net(), &shared, cold.as_ref(), train)?;
    Ok(updated)
}
