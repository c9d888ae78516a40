//! Recommendation models of seer, behind the one [`seer_core::Recommender`] trait.
//!
//! - [`TrainData`] is what a model is fitted on: the user × item matrix of the chosen split
//!   parts only (train, or train + valid for the final refit), so nothing from validation or
//!   test reaches a model.
//! - [`ModelConfig`] is the model registry: a serde enum tagged `model` whose variants hold each
//!   model's `Config`. [`ModelConfig::from_spec`] parses command-line specs such as
//!   `ease:lambda=250`, [`ModelConfig::fit`] returns a `Box<dyn Recommender>`,
//!   [`ModelConfig::tuning_grid_for`] gives the small grid `seer tune` searches (only the keys
//!   a spec leaves out).
//! - One module per model: [`popularity`] (all-time or recent-window counts), [`item_knn`]
//!   (cosine item-kNN with shrinkage), [`ease`] (Steck 2019, closed form with faer), [`als`]
//!   (implicit ALS, Hu et al. 2008, users folded in at scoring time), [`bpr`] (BPR matrix
//!   factorisation, Rendle et al. 2009).
//! - Saving: [`seer_core::Recommender::save`] writes `weights.safetensors` (tensors plus a header
//!   with the format version, the model kind and its config); [`load`] reads any of them back.
//!   See [`io`] for the layout.
//!
//! ```
//! use indicatif::ProgressBar;
//! use seer_core::UserContext;
//! use seer_data::{Csr, Interactions};
//! use seer_models::{ModelConfig, TrainData};
//!
//! // Two users, three items.
//! let inter = Interactions {
//!     user: vec![0, 0, 1, 1],
//!     item: vec![0, 1, 1, 2],
//!     ts: vec![0, 1, 0, 1],
//!     rating: vec![1.0; 4],
//!     context: vec![],
//! };
//! let train = TrainData::from_csr(Csr::from_rows(&inter, &[0, 1, 2, 3], 2, 3), false);
//! let model = ModelConfig::from_spec("itemknn:k=10")?.fit(&train, &ProgressBar::hidden())?;
//! let mut scores = vec![0.0; model.n_items()];
//! model.score(&UserContext::from_history(None, &[0]), &mut scores)?;
//! assert!(scores[1] > scores[2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod als;
pub mod bpr;
mod check;
pub mod ease;
mod error;
mod history;
pub mod io;
pub mod item_knn;
pub mod pointwise;
pub mod popularity;
pub mod ranker;
mod registry;
pub mod seq;
#[cfg(test)]
mod testutil;
pub mod text;
pub mod text_encoder;
pub mod train;
pub mod two_stage;

pub use error::{Error, Result};
pub use registry::{load, update, ModelConfig, MODEL_NAMES};
/// The allocator setting training runs best with (see [`seer_nn::keep_freed_memory`]).
pub use seer_nn::keep_freed_memory;
pub use seq::{bert4rec, sasrec};
pub use train::{FitOptions, TrainData};
