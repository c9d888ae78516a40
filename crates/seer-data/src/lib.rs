//! Data layer of seer: import, cleaning, splitting and interaction matrices.
//!
//! - [`Dataset`] holds users, items (with text fields), user attributes and [`Interactions`]
//!   (one row per event, stored by column) with dense ids from [`seer_core::IdMap`].
//! - [`split::SplitConfig`] assigns every row to train / validation / test without leaking the
//!   future.
//! - [`Csr`] is the user × item matrix models train on.
//! - [`import`] reads MovieLens (.dat, CSV), RecBole atomic files, sequence files (Amazon
//!   Beauty with its side files) and generic CSV/TSV/JSONL; [`import::import_path`] detects
//!   the format.
//! - [`clean`] drops bad, duplicate and k-core-filtered rows and says so in a
//!   [`CleaningReport`].
//! - [`export`] writes a dataset and its split as RecBole atomic files.
//! - [`dataset_dir`] saves a [`Dataset`] as a directory of binary columns + JSON and loads it back.
#![warn(missing_docs)]

pub mod clean;
pub mod dataset;
pub mod dataset_dir;
mod error;
pub mod export;
pub mod import;
pub mod matrix;
pub mod split;

pub use clean::{CleaningConfig, CleaningReport, Repeats};
pub use dataset::{CategoricalColumn, Dataset, Interactions, TextColumn};
pub use dataset_dir::Manifest;
pub use error::{Error, Result};
pub use import::{import_atomic, import_path, ColumnMapping};
pub use matrix::Csr;
pub use split::{Part, Split, SplitConfig, TimePoint};
