//! Batches of sequences: left-padded ids with their time and context codes ([`Padded`]), the
//! time features and their ids, and which users a model trains on.

use crate::error::{Error, Result};
use crate::train::TrainData;

/// Which time embeddings a sequence model adds to each position (each needs timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeFeatures {
    /// Log-bucketed gap since the previous event.
    pub gap: bool,
    /// Hour of day (UTC).
    pub hour: bool,
    /// Day of week (UTC, Monday = 0).
    pub dow: bool,
}

impl TimeFeatures {
    /// Whether any feature is on.
    pub fn any(&self) -> bool {
        self.gap || self.hour || self.dow
    }

    pub(super) fn enabled(&self) -> Vec<usize> {
        [self.gap, self.hour, self.dow]
            .iter()
            .enumerate()
            .filter(|(_, &on)| on)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Rows of the gap, hour and day-of-week tables; the first (gap) or last (hour, day) row is
/// "unknown": the first event of a sequence, or no timestamp (`now` not given).
pub const TIME_ROWS: [usize; 3] = [32, 25, 8];
/// Time ids `[gap, hour, dow]` of an "unknown" time.
pub const UNKNOWN_TIME: [u32; 3] = [0, 24, 7];

/// Time ids `[gap, hour, dow]` of an event at `ts` (unix seconds) whose previous event was at
/// `prev`: gap bucket `1 + ⌊log2(1 + Δs)⌋` capped at 31 (0 when there is no previous event),
/// hour of day and day of week in UTC.
pub fn time_ids(prev: Option<i64>, ts: Option<i64>) -> [u32; 3] {
    let Some(t) = ts else {
        return UNKNOWN_TIME;
    };
    let gap = match prev {
        Some(p) => {
            let dt = (t - p).max(0) as u64 + 1;
            1 + (63 - dt.leading_zeros()).min(30)
        }
        None => 0,
    };
    let hour = (t.rem_euclid(86_400) / 3600) as u32;
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let dow = (t.div_euclid(86_400) + 3).rem_euclid(7) as u32;
    [gap, hour, dow]
}

/// Time ids of every event of a time-ordered sequence `ts` (the first one's gap is unknown).
pub fn sequence_time_ids(ts: &[i64]) -> Vec<[u32; 3]> {
    ts.iter()
        .enumerate()
        .map(|(j, &t)| time_ids(j.checked_sub(1).map(|p| ts[p]), Some(t)))
        .collect()
}

/// A left-padded batch: item ids `[B, L]` (padding = `pad`), real lengths, `L`.
pub struct Padded {
    /// Time ids per position (`[B, L]`, unknown on padding), when the model uses time.
    pub time: Option<Vec<[u32; 3]>>,
    /// Context codes per position (`[B, L, columns]`, missing on padding), when the model
    /// uses context.
    pub context: Option<Vec<u32>>,
    /// Context codes of the event *after* each position (SASRec: the context in which the
    /// predicted item is chosen; the request's at the last position when recommending).
    pub next_context: Option<Vec<u32>>,
    /// Row-major `[B, L]` ids.
    pub ids: Vec<u32>,
    /// Real items per row.
    pub lens: Vec<usize>,
    /// Padded length.
    pub l: usize,
}

impl Padded {
    /// Pads `seqs` on the left to the longest one (each at most `max_len`, longer ones keep
    /// their last `max_len` items).
    pub fn new(seqs: &[&[u32]], pad: u32, max_len: usize) -> Padded {
        let l = seqs
            .iter()
            .map(|s| s.len().min(max_len))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![pad; seqs.len() * l];
        let mut lens = Vec::with_capacity(seqs.len());
        for (b, s) in seqs.iter().enumerate() {
            let s = &s[s.len() - s.len().min(max_len)..];
            ids[b * l + l - s.len()..(b + 1) * l].copy_from_slice(s);
            lens.push(s.len());
        }
        Padded {
            time: None,
            context: None,
            next_context: None,
            ids,
            lens,
            l,
        }
    }

    /// Adds per-position context codes (`k` per event), `codes[b]` parallel to the `b`-th
    /// sequence given to [`Padded::new`] (cut the same way, keeping the last events).
    pub fn with_context(mut self, codes: &[&[u32]], k: usize) -> Padded {
        self.context = Some(self.align(codes, k));
        self
    }

    /// Adds the context of the event after each position (see [`Padded::next_context`]),
    /// aligned like [`Padded::with_context`].
    pub fn with_next_context(mut self, codes: &[&[u32]], k: usize) -> Padded {
        self.next_context = Some(self.align(codes, k));
        self
    }

    /// `k` codes per event right-aligned into `[B, L, k]`, missing on padding.
    fn align(&self, codes: &[&[u32]], k: usize) -> Vec<u32> {
        let l = self.l;
        let mut c = vec![seer_core::MISSING; self.lens.len() * l * k];
        for (b, (cb, &len)) in codes.iter().zip(&self.lens).enumerate() {
            let n = (cb.len() / k.max(1)).min(len);
            let cb = &cb[cb.len() - n * k..];
            c[(b * l + l - n) * k..(b + 1) * l * k].copy_from_slice(cb);
        }
        c
    }

    /// Adds per-position time ids, `times[b]` parallel to the `b`-th sequence given to
    /// [`Padded::new`] (cut the same way, keeping the last items).
    pub fn with_time(mut self, times: &[&[[u32; 3]]]) -> Padded {
        let l = self.l;
        let mut t = vec![UNKNOWN_TIME; self.lens.len() * l];
        for (b, (tb, &len)) in times.iter().zip(&self.lens).enumerate() {
            let tb = &tb[tb.len() - len.min(tb.len())..];
            t[b * l + l - tb.len()..(b + 1) * l].copy_from_slice(tb);
        }
        self.time = Some(t);
        self
    }

    /// Flat `b * L + j` index of every real position, row by row, oldest first.
    pub fn real_positions(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (b, &len) in self.lens.iter().enumerate() {
            for j in self.l - len..self.l {
                out.push((b * self.l + j) as u32);
            }
        }
        out
    }
}

/// The users a sequence model trains on: those with at least `min_len` events (`lens[u]`),
/// restricted to `only` when given (ids outside the matrix are ignored).
pub fn training_users(lens: &[usize], min_len: usize, only: Option<&[u32]>) -> Vec<u32> {
    let ok = |u: u32| lens.get(u as usize).is_some_and(|&l| l >= min_len);
    match only {
        Some(list) => {
            let mut v: Vec<u32> = list.iter().copied().filter(|&u| ok(u)).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => (0..lens.len() as u32).filter(|&u| ok(u)).collect(),
    }
}

/// What a sequence model's training loop reads of its data.
pub(crate) struct TrainingSequences<'a> {
    /// Each user's training items, oldest first.
    pub seqs: Vec<&'a [u32]>,
    /// Each user's sequence length, capped at what one window holds.
    pub lens: Vec<usize>,
    /// The users trained on: at least two events, and among `FitOptions::users` when given.
    pub users: Vec<u32>,
    /// Every event's time ids (gap since the user's previous event, hour, weekday); empty
    /// when the model uses no time.
    pub times: Vec<Vec<[u32; 3]>>,
}

/// The training sequences of `train` for a model of `kind`: lengths capped at `cap`, the
/// users of `only` (or all) with two events or more, time ids when `use_time`. Refused, naming
/// the key, when no user has two events, when time is asked of data without timestamps, or
/// when the model embeds `context_columns` context columns and the data has another number.
pub(crate) fn training_sequences<'a>(
    train: &'a TrainData,
    kind: &str,
    cap: usize,
    only: Option<&[u32]>,
    use_time: bool,
    context_columns: usize,
) -> Result<TrainingSequences<'a>> {
    let m = &train.matrix;
    let seqs: Vec<&[u32]> = (0..m.n_rows as u32).map(|u| m.row(u)).collect();
    let lens: Vec<usize> = seqs.iter().map(|s| s.len().min(cap)).collect();
    let users = training_users(&lens, 2, only);
    if users.is_empty() {
        return Err(Error::config(
            kind,
            "no user has two training events; a sequence model needs sequences",
        ));
    }
    if use_time && !train.has_timestamps {
        return Err(Error::config(
            format!("{kind}.time_gap/time_hour/time_dow"),
            "the dataset has no timestamps (events are only ordered)",
        ));
    }
    let times: Vec<Vec<[u32; 3]>> = if use_time {
        (0..m.n_rows as u32)
            .map(|u| sequence_time_ids(m.row_ts(u)))
            .collect()
    } else {
        Vec::new()
    };
    check_context_columns(kind, context_columns, m.n_context)?;
    Ok(TrainingSequences {
        seqs,
        lens,
        users,
        times,
    })
}

/// A model trained with `model` context columns needs data with as many.
fn check_context_columns(kind: &str, model: usize, data: usize) -> Result<()> {
    if model > 0 && model != data {
        return Err(Error::config(
            format!("{kind}.context"),
            format!("the model embeds {model} context columns but the data has {data}"),
        ));
    }
    Ok(())
}
