//! The configuration SASRec and BERT4Rec share, declared once.
//!
//! Each model's `Config` is one flat serde struct, so a spec (`sasrec:lr=0.001`), a
//! `seer.toml` section and a saved model's header all name keys directly, and a typo is an
//! error (`deny_unknown_fields`). `#[serde(flatten)]` cannot give that: it does not combine
//! with `deny_unknown_fields` and would take the shared keys' defaults from one place, while
//! the two models' defaults differ (SASRec's dropout is 0.5, BERT4Rec's 0.2). So the shared
//! keys are written once, in [`shared_keys!`], and [`seq_config!`] puts them into each
//! model's `Config`, with [`Shared`] (`config.shared()`) as their value for the code both
//! models run: validation, the time features, the encoder and the training loop.

use seer_nn::optim::AdamWConfig;
use seer_nn::transformer::EncoderConfig;

use super::batch::TimeFeatures;
use crate::check;
use crate::error::{Error, Result};
use crate::train::LoopConfig;

/// The keys every sequence model has: passes them, after `;`, to `expand_seq_keys!`.
macro_rules! shared_keys {
    ($($head:tt)*) => {
        $crate::seq::config::expand_seq_keys! { $($head)* ;
            /// Hidden size (item embedding size).
            hidden: usize,
            /// Transformer blocks.
            layers: usize,
            /// Attention heads; must divide `hidden`.
            heads: usize,
            /// Feed-forward inner size.
            inner: usize,
            /// Dropout on embeddings and sub-layer outputs, in [0, 1).
            dropout: f32,
            /// Dropout on attention probabilities, in [0, 1).
            attn_dropout: f32,
            /// Most recent items the model reads (BERT4Rec: the appended mask included).
            max_len: usize,
            /// Maximum epochs.
            epochs: usize,
            /// Sequences per batch.
            batch_size: usize,
            /// Peak AdamW learning rate.
            lr: f64,
            /// Linear warm-up steps.
            warmup_steps: usize,
            /// Epoch at whose end the learning rate, after the warm-up, has decayed linearly
            /// to 0 (BERT's polynomial decay of power 1); must be 0 or at least `epochs`. The
            /// test-stage refit for the best epoch keeps it, so it retraces the validated
            /// run's rates; a continual update decays over its own epochs. 0 keeps the rate
            /// constant.
            lr_decay_epochs: usize,
            /// Global gradient-norm clip (0 = off).
            clip_norm: f64,
            /// AdamW decoupled weight decay.
            weight_decay: f64,
            /// Validations without improvement before stopping (0 = run all epochs).
            patience: usize,
            /// Validate every this many epochs.
            eval_every: usize,
            /// Seed of initialisation, batching, masking and dropout.
            seed: u64,
            /// Add an embedding of the log-bucketed gap since the previous event to each
            /// position (SASRec: and of the gap to the predicted event, `now` when
            /// recommending, to each output; BERT4Rec: the appended `[mask]` gets the gap from
            /// the last event to `now`). Needs timestamps.
            time_gap: bool,
            /// Same with the hour of day (UTC).
            time_hour: bool,
            /// Same with the day of week (UTC).
            time_dow: bool,
            /// Add embeddings of the dataset's categorical context columns (device, scenario,
            /// …) to each position: the event's own context (SASRec: and the context of the
            /// event it predicts; the request's — `--context` — at the last position when
            /// recommending). Needs context columns.
            context: bool,
            /// Initialise the item id embeddings from the principal components of the items'
            /// sentence vectors (`text_model`, through `text_cache`) instead of at random
            /// (LLM2Sequential / LLM2BERT4Rec, Harte et al. RecSys 2023; see
            /// [`crate::seq::pca_rows`]); items without text keep a random row. Needs item
            /// text.
            text_init: bool,
            /// Cold items from text: after training (and after each continual update), every
            /// item with text but no training event gets its id embedding (and output bias)
            /// from a ridge regression of the learned ones on the items' sentence vectors
            /// (attribute-to-feature mapping, Gantner et al. ICDM 2010; see
            /// [`crate::seq::ridge_rows`]) instead of the row the softmax only ever pushed
            /// down. Validation during training scores the unmapped rows. Needs item text.
            text_cold: bool,
            /// How far `text_cold`'s predicted rows spread around the mean learned row, as a
            /// multiple of the learned rows' own spread per dimension; 0 keeps the
            /// least-squares predictions, which crowd at the mean row.
            text_cold_spread: f32,
            /// Sentence encoder for the text keys: a sentence-transformers model directory.
            text_model: String,
            /// Embedding cache folder for the text keys; empty disables it.
            text_cache: String,
        }
    };
}
pub(crate) use shared_keys;

/// Expands the shared keys: `@shared` into [`Shared`], `@config` into a model's `Config`.
macro_rules! expand_seq_keys {
    (@shared ; $( $(#[$smeta:meta])* $s:ident : $sty:ty, )*) => {
        /// The keys every sequence model has, as one value (`config.shared()`).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Shared {
            $( $(#[$smeta])* pub $s: $sty, )*
        }
    };
    (@config $(#[$meta:meta])* $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* } ;
     $( $(#[$smeta:meta])* $s:ident : $sty:ty, )*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$smeta])* pub $s: $sty, )*
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::seq::config::SeqConfig for $name {
            fn shared(&self) -> $crate::seq::config::Shared {
                $name::shared(self)
            }
            fn for_update(&self, epochs: usize) -> Self {
                $name::for_update(self, epochs)
            }
            fn validate(&self) -> $crate::error::Result<()> {
                $name::validate(self)
            }
        }

        impl $name {
            /// This configuration for a continual update of `epochs` more epochs: no warm-up
            /// (the weights are trained already, and an update is a handful of steps, which a
            /// warm-up would spend at a tiny rate), and a decaying schedule decays over the
            /// update's own epochs.
            pub fn for_update(&self, epochs: usize) -> Self {
                let mut c = self.clone();
                c.epochs = epochs.max(1);
                c.warmup_steps = 0;
                if c.lr_decay_epochs > 0 {
                    c.lr_decay_epochs = c.epochs;
                }
                c
            }

            /// The keys every sequence model has.
            pub fn shared(&self) -> $crate::seq::config::Shared {
                $crate::seq::config::Shared { $( $s: self.$s.clone(), )* }
            }
        }
    };
}
pub(crate) use expand_seq_keys;

/// Declares a sequence model's `Config`: the shared keys of [`shared_keys!`] followed by the
/// model's own fields (each `pub name: Type,` with its doc comment).
macro_rules! seq_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $crate::seq::config::shared_keys! {
            @config $(#[$meta])* $name { $( $(#[$fmeta])* $field : $ty, )* }
        }
    };
}
pub(crate) use seq_config;

shared_keys!(@shared);

/// What the code both models run needs of a sequence model's `Config` (implemented by
/// [`seq_config!`] through the model's own `validate`).
pub(crate) trait SeqConfig: Clone {
    /// The keys every sequence model has.
    fn shared(&self) -> Shared;
    /// This configuration for a continual update of `epochs` more epochs.
    fn for_update(&self, epochs: usize) -> Self;
    /// Checks every range; errors name the key.
    fn validate(&self) -> Result<()>;
}

impl Shared {
    /// Checks the shared keys' ranges; errors name `model.key` (`sasrec.dropout`).
    pub fn validate(&self, model: &str) -> Result<()> {
        let key = |k: &str| format!("{model}.{k}");
        let (hidden, heads) = (self.hidden, self.heads);
        check::at_least_one(&key("hidden"), hidden)?;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(Error::config(
                key("heads"),
                format!("{heads} does not divide hidden = {hidden}"),
            ));
        }
        check::at_least_one(&key("layers"), self.layers)?;
        let dropouts = [self.dropout, self.attn_dropout];
        for (name, p) in ["dropout", "attn_dropout"].iter().zip(dropouts) {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::config(key(name), format!("{p} not in [0, 1)")));
            }
        }
        if self.max_len < 2 {
            return Err(Error::config(key("max_len"), "must be at least 2"));
        }
        check::at_least_one(&key("batch_size"), self.batch_size)?;
        let lr = self.lr;
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::config(key("lr"), format!("{lr} must be positive")));
        }
        let spread = self.text_cold_spread;
        if !(spread.is_finite() && spread >= 0.0) {
            return Err(Error::config(
                key("text_cold_spread"),
                format!("{spread}: must be a number >= 0 (1 matches the learned rows' spread)"),
            ));
        }
        let (decay, epochs) = (self.lr_decay_epochs, self.epochs);
        // A schedule that ends before the last epoch would leave the rate at 0 after it.
        if decay > 0 && decay < epochs {
            return Err(Error::config(
                key("lr_decay_epochs"),
                format!(
                    "{decay} is below epochs ({epochs}): the learning rate would be 0 for the \
                     last {} epochs; set it to at least epochs, or 0 for a constant rate",
                    epochs - decay
                ),
            ));
        }
        Ok(())
    }

    /// The time features switched on.
    pub fn time(&self) -> TimeFeatures {
        TimeFeatures {
            gap: self.time_gap,
            hour: self.time_hour,
            dow: self.time_dow,
        }
    }

    /// The Transformer's sizes, with the model's layout (pre-/post-LN) and norm epsilon.
    pub fn encoder(&self, norm_first: bool, eps: f64) -> EncoderConfig {
        EncoderConfig {
            hidden: self.hidden,
            layers: self.layers,
            heads: self.heads,
            inner: self.inner,
            dropout: self.dropout,
            attn_dropout: self.attn_dropout,
            norm_first,
            eps,
        }
    }

    /// The training-loop settings, with the model's AdamW `beta2` and `eps`.
    pub fn train_loop(&self, beta2: f64, eps: f64) -> LoopConfig {
        LoopConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            adam: AdamWConfig {
                lr: self.lr,
                beta1: 0.9,
                beta2,
                eps,
                weight_decay: self.weight_decay,
                warmup_steps: self.warmup_steps,
                decay_steps: 0,
                clip_norm: self.clip_norm,
            },
            decay_epochs: self.lr_decay_epochs,
            patience: self.patience,
            eval_every: self.eval_every,
            seed: self.seed,
        }
    }
}
