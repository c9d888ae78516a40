//! Data layer of seer: import, cleaning, splitting and interaction matrices.
//!
//! - [`Dataset`] holds users, items (with text fields), user attributes and [`Interactions`]
//!   (one row per event, stored by column) with dense ids from [`seer_core::IdMap`].
//! - [`split::SplitConfig`] assigns every row to train / validation / test without leaking the
//!   future.
//! - [`Csr`] is the user × item matrix models train on.
#![warn(missing_docs)]

pub mod dataset;
mod error;
pub mod matrix;
pub mod split;

pub use dataset::{CategoricalColumn, Dataset, Interactions, TextColumn};
pub use error::{Error, Result};
pub use matrix::Csr;
pub use split::{Part, Split, SplitConfig, TimePoint};
