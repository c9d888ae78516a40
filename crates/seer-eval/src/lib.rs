//! Evaluation for seer: one protocol, pure metrics, reports.
//!
//! - [`metrics`] holds every ranking metric as a pure function over a ranked list (or a
//!   score vector) and a target set, each documented with its formula.
//! - [`evaluate`] is *the* evaluation protocol: for each user with held-out events it builds
//!   the history known at prediction time, asks the model ([`seer_core::Recommender`]) to score
//!   the **whole catalogue**, masks the history, and averages the metrics over users. It runs
//!   in parallel over users and returns an [`EvalReport`] (metric map with lower-case keys such
//!   as `ndcg@10`, plus counts of skipped users and dropped targets). Sampled-negative metrics
//!   exist only on request and are always labelled `sampled{n}_…`.
//! - [`report`] collects the results of several models into a [`BenchReport`] and writes it as
//!   JSON, a Markdown table, or a self-contained HTML page with SVG plots.
//! - [`bench`] is the pipeline every model goes through (tune on validation, refit, test),
//!   taking models through the trait and a [`bench::Factory`] the caller passes.
//! - [`compare`] reads another tool's results on the same split (RecBole, through
//!   `benches/recbole/run_recbole.py`) and puts them beside seer's in every report.
//! - [`events`] ranks single held-out events with the same tie rule (the server's retrain
//!   gate).
//! - [`mem`] measures peak resident memory so benchmarks can report it per model.
#![warn(missing_docs)]

pub mod bench;
pub mod compare;
mod error;
pub mod events;
mod generation;
pub mod mem;
pub mod metrics;
pub mod pointwise;
mod protocol;
pub mod report;
mod result;

pub use compare::Reference;
pub use error::{Error, Result};
pub use events::{heldout_ndcg, HeldOut};
pub use generation::{evaluate_generation, sequence_metrics, GenerationReport};
pub use pointwise::{pointwise_metrics, PointwiseReport, PointwiseRow};
pub use protocol::{evaluate, export_recs, EvalConfig, EvalReport, Stage, TestProtocol, UserRecs};
pub use report::{paired_difference, BenchReport, ModelPair, ModelResult, Paired};
