//! The catalogue as the server knows it now: the dataset's items, then items put through the
//! API, with their text vectors and, for items newer than the model, the trained items whose
//! scores they inherit (see [`crate::live`]).

use std::collections::HashMap;
use std::sync::Arc;

use seer_core::ItemIdx;
use seer_data::{Dataset, TextColumn};

/// Text-similar trained items a new item takes its score from.
pub(crate) const NEIGHBOURS: usize = 5;
/// Temperature of the neighbour weights `exp((cos − 1) / T)`.
pub(crate) const NEIGHBOUR_TEMPERATURE: f32 = 0.05;

/// The catalogue as the server knows it now: the dataset's items, then items put through
/// the API; `data` holds ids, text fields and the context vocabularies (no events).
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalogue {
    pub(crate) data: Arc<Dataset>,
    pub(crate) deleted: Vec<bool>,
    /// Text vectors, `n_items × dim` (empty without an encoder).
    pub(crate) vectors: Vec<f32>,
    pub(crate) dim: usize,
    /// Items put through the API: their most text-similar catalogue items when put,
    /// `(cosine, item)` best first.
    pub(crate) neighbours: HashMap<ItemIdx, Vec<(f32, ItemIdx)>>,
}

/// Neighbours kept per put item (masked or deleted ones are skipped at request time).
pub(crate) const NEIGHBOUR_LIST: usize = 20;

impl Catalogue {
    pub(crate) fn n_items(&self) -> usize {
        self.data.n_items()
    }

    pub(crate) fn vector(&self, i: ItemIdx) -> Option<&[f32]> {
        let d = self.dim;
        self.vectors.get(i as usize * d..(i as usize + 1) * d)
    }

    /// `i` itself when a model of `m` items knows it, else its most text-similar item the
    /// model knows (`None` without one).
    pub(crate) fn proxy(&self, i: ItemIdx, m: usize) -> Option<ItemIdx> {
        if (i as usize) < m {
            return Some(i);
        }
        self.neighbours
            .get(&i)?
            .iter()
            .map(|&(_, j)| j)
            .find(|&j| (j as usize) < m)
    }

    /// Cosine of `v` with every item's text vector; −∞ for items without text (or when
    /// there are no vectors, or `v` is zero).
    pub(crate) fn cosines(&self, v: &[f32]) -> Vec<f32> {
        let zero = v.iter().all(|&x| x == 0.0);
        (0..self.n_items() as ItemIdx)
            .map(|i| match self.vector(i) {
                Some(w) if !zero && w.iter().any(|&x| x != 0.0) => {
                    v.iter().zip(w).map(|(a, b)| a * b).sum()
                }
                _ => f32::NEG_INFINITY,
            })
            .collect()
    }

    /// The `NEIGHBOUR_LIST` items most text-similar to `item` (itself excluded, items
    /// without text skipped); empty when `item` has no text vector.
    pub(crate) fn nearest(&self, item: ItemIdx) -> Vec<(f32, ItemIdx)> {
        let Some(v) = self.vector(item).filter(|v| v.iter().any(|&x| x != 0.0)) else {
            return Vec::new();
        };
        let mut near: Vec<(f32, ItemIdx)> = Vec::with_capacity(NEIGHBOUR_LIST + 1);
        for i in 0..self.n_items() as ItemIdx {
            if i == item {
                continue;
            }
            let Some(w) = self.vector(i) else { continue };
            let c: f32 = v.iter().zip(w).map(|(a, b)| a * b).sum();
            if c == 0.0 {
                continue; // no text
            }
            if near.len() < NEIGHBOUR_LIST || c > near[near.len() - 1].0 {
                let at = near.partition_point(|x| x.0 >= c);
                near.insert(at, (c, i));
                near.truncate(NEIGHBOUR_LIST);
            }
        }
        near
    }

    /// Scores of items `m..` (newer than a model of `m` items) from the scores of their
    /// nearest items the model knows; neighbours already masked (−∞) or deleted do not
    /// count. An item without text, or with no usable neighbour, stays at −∞.
    pub(crate) fn inherit(&self, scores: &mut [f32], m: usize) {
        let n = scores.len();
        for j in m..n {
            let mut v = f32::NEG_INFINITY;
            if let Some(near) = self.neighbours.get(&(j as ItemIdx)) {
                let (mut num, mut den) = (0.0f32, 0.0f32);
                let usable = near.iter().filter(|&&(_, i)| {
                    (i as usize) < m
                        && scores[i as usize].is_finite()
                        && !self.deleted.get(i as usize).copied().unwrap_or(false)
                });
                for &(c, i) in usable.take(NEIGHBOURS) {
                    let w = ((c - 1.0) / NEIGHBOUR_TEMPERATURE).exp();
                    num += w * scores[i as usize];
                    den += w;
                }
                if den > 0.0 {
                    v = num / den;
                }
            }
            scores[j] = v;
        }
    }
}

/// The text a language model reads for `fields` laid out as the catalogue's columns (named
/// in their order by `columns`).
pub(crate) fn document_of(fields: &[(String, String)], columns: &[String]) -> String {
    let mut cols: Vec<TextColumn> = columns
        .iter()
        .map(|name| TextColumn {
            name: name.clone(),
            values: vec![String::new()],
        })
        .collect();
    for (name, value) in fields {
        match cols.iter_mut().find(|c| &c.name == name) {
            Some(c) => c.values[0] = value.clone(),
            None => cols.push(TextColumn {
                name: name.clone(),
                values: vec![value.clone()],
            }),
        }
    }
    Dataset {
        item_text: cols,
        ..Default::default()
    }
    .item_document(0)
}

/// The names of `columns`, in order (what [`document_of`] needs, without the values).
pub(crate) fn column_names(columns: &[TextColumn]) -> Vec<String> {
    columns.iter().map(|c| c.name.clone()).collect()
}
