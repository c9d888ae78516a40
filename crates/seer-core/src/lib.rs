//! Core types shared by every seer crate.
//!
//! - [`IdMap`] maps the original string ids of users and items to dense `u32` indices
//!   ([`UserIdx`], [`ItemIdx`]); everything inside seer works on dense indices, strings only
//!   appear at the edges (import, CLI, API).
//! - [`UserContext`] is what a model sees when asked for recommendations: the user's known
//!   history in time order, its timestamps and the current context.
//! - [`Recommender`] is the one trait every model implements; evaluation and serving only ever
//!   see a `dyn Recommender`.
//! - [`topk`] selects the best items from a score vector without a full sort.
//! - [`generate`] decodes the next N items as a sequence (beam search) from any model.
//!
//! This crate does no I/O and has almost no dependencies.
#![warn(missing_docs)]

mod error;
pub mod generate;
mod ids;
pub mod prob;
mod recommender;
pub mod rerank;
pub mod topk;

pub use error::{Error, Result};
pub use ids::{IdMap, ItemIdx, UserIdx};
pub use recommender::{check_score_len, Recommender, UserContext, MISSING};
