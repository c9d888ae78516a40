//! The sequence-model family: SASRec ([`sasrec`]) and BERT4Rec ([`bert4rec`]) and what they
//! share — the configuration keys, declared once ([`config`]), the embedding + Transformer
//! network over a user's item sequence ([`net`], its item rows in [`items`], saving in
//! [`checkpoint`]), padded batches ([`batch`]), scoring ([`score`]), item rows from text
//! ([`text_rows`], [`cold`]). The training loop they run is [`crate::train`]'s. Neither model
//! file imports the other.
//!
//! # Sequences and positions
//! A batch holds `B` sequences padded **on the left** to the longest one in the batch (not to
//! `max_len`: most users are short, so cropping each batch saves most of the compute). Position
//! embeddings count **back from the most recent item** (position 0 is the last item), so an
//! item's position does not depend on how much padding its batch needed; SASRec's reference
//! code counts from the start of a `max_len` window instead, which is equivalent when every
//! batch is padded to `max_len`.
//!
//! # Batching
//! Users are shuffled, cut into pools of 32 batches, each pool sorted by sequence length and
//! cut into batches, and the batch order is shuffled again: batches hold users of similar length
//! (little padding) while every epoch sees a fresh random order.

pub mod batch;
pub mod bert4rec;
pub mod checkpoint;
pub mod cold;
pub mod config;
pub mod items;
pub mod net;
pub mod sasrec;
pub mod score;
pub mod text_rows;
mod update;

pub(crate) use update::SeqModel;

pub(crate) use batch::training_sequences;
pub use batch::{
    sequence_time_ids, time_ids, training_users, Padded, TimeFeatures, TIME_ROWS, UNKNOWN_TIME,
};
pub use config::Shared;
pub use net::{NetConfig, SeqNet};
pub use score::{score_histories, SeqInput};
pub use text_rows::{pca_rows, ridge_rows, RIDGE_GRID};
