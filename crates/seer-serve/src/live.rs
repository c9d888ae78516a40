//! The server's in-memory view: the catalogue, the live model and every user's history
//! (the dataset's events followed by every event the store has acknowledged).
//!
//! The store's writer thread calls [`Live::apply`] after each durable commit and before the
//! clients are answered, so an acknowledged event is already in the history the next
//! recommendation reads (read-your-writes). Users first seen through the API get new dense
//! indices after the dataset's; the model treats them as unknown users with a history.
//! Events for items outside the model's catalogue are stored (nothing acknowledged is ever
//! dropped) and counted, but cannot enter histories until a model that knows the item is live.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use seer_core::{IdMap, ItemIdx, Recommender, UserContext};
use seer_data::Dataset;

use crate::error::Result;
use crate::store::StoredEvent;

/// Per-user state behind one lock.
#[derive(Debug, Default)]
struct Users {
    ids: IdMap,
    /// Items and times, in arrival order (the dataset's in time order first).
    history: Vec<Vec<(ItemIdx, i64)>>,
    item_counts: Vec<u32>,
    last_seq: i64,
    api_events: u64,
    unknown_item_events: u64,
    /// Events applied per wall-clock second, the last 60 seconds (slot = second % 60).
    per_second: Vec<(u64, u32)>,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    /// Dense item index.
    pub item: ItemIdx,
    /// The model's score (popularity count for the cold-start fallback).
    pub score: f32,
}

/// What a recommendation was based on.
#[derive(Debug, Clone, PartialEq)]
pub struct RecMeta {
    /// The user is known (in the dataset or through events).
    pub known: bool,
    /// Events in the user's history.
    pub history_len: usize,
    /// `model` or `popularity` (no history to go on).
    pub source: &'static str,
}

/// Counters for `/health` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Users (dataset + new).
    pub users: usize,
    /// Items in the catalogue.
    pub items: usize,
    /// Events acknowledged through the API (this store).
    pub api_events: u64,
    /// Of those, events whose item is not in the model's catalogue.
    pub unknown_item_events: u64,
    /// Highest applied sequence number.
    pub last_seq: i64,
    /// Events applied in the last 60 seconds.
    pub events_last_minute: u64,
}

/// The live view.
pub struct Live {
    data: Dataset,
    /// The live model and how many users it was trained on (indices below that are its own).
    model: RwLock<(Arc<dyn Recommender>, usize)>,
    model_name: String,
    users: RwLock<Users>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("dataset", &self.data.name)
            .field("model", &self.model_name)
            .finish()
    }
}

impl Live {
    /// The dataset's users and histories, serving `model` (named `model_name`).
    pub fn new(data: Dataset, model: Box<dyn Recommender>, model_name: String) -> Live {
        let n_items = data.n_items();
        let mut history: Vec<Vec<(ItemIdx, i64)>> = vec![Vec::new(); data.n_users()];
        let inter = &data.interactions;
        let mut order: Vec<usize> = (0..inter.len()).collect();
        order.sort_by_key(|&r| inter.ts[r]); // stable: equal times keep file order
        let mut item_counts = vec![0u32; n_items];
        for r in order {
            history[inter.user[r] as usize].push((inter.item[r], inter.ts[r]));
            item_counts[inter.item[r] as usize] += 1;
        }
        let users = Users {
            ids: data.users.clone(),
            history,
            item_counts,
            per_second: vec![(0, 0); 60],
            ..Default::default()
        };
        let n_users = data.n_users();
        Live {
            data,
            model: RwLock::new((Arc::from(model), n_users)),
            model_name,
            users: RwLock::new(users),
        }
    }

    /// The live model.
    pub fn model(&self) -> Arc<dyn Recommender> {
        self.model
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The live model's spec (retrains fit the same).
    pub fn model_spec(&self) -> String {
        self.model_name.clone()
    }

    /// Makes `model` live (trained on `n_users` users numbered as this view numbers them):
    /// requests already scoring keep the model they started with.
    pub fn swap_model(&self, model: Arc<dyn Recommender>, n_users: usize) {
        *self.model.write().unwrap_or_else(|p| p.into_inner()) = (model, n_users);
    }

    /// Every user id known so far, in index order.
    pub fn user_ids(&self) -> IdMap {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .clone()
    }

    /// The dataset (catalogue ids and labels).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The live model's spec.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Applies newly stored events (in sequence order).
    pub fn apply(&self, events: &[StoredEvent]) {
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        for e in events {
            if e.seq <= u.last_seq {
                continue; // replayed already
            }
            u.last_seq = e.seq;
            u.api_events += 1;
            let sec = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let slot = &mut u.per_second[(sec % 60) as usize];
            if slot.0 != sec {
                *slot = (sec, 0);
            }
            slot.1 += 1;
            let uid = u.ids.get_or_insert(&e.event.user) as usize;
            if u.history.len() <= uid {
                u.history.resize(uid + 1, Vec::new());
            }
            match self.data.items.get(&e.event.item) {
                Some(i) => {
                    u.history[uid].push((i, e.event.ts));
                    if let Some(c) = u.item_counts.get_mut(i as usize) {
                        *c += 1;
                    }
                }
                None => u.unknown_item_events += 1,
            }
        }
    }

    /// Forgets everything of `user` (privacy): history and counts; the id stays reserved.
    pub fn forget_user(&self, user: &str) -> bool {
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        let Some(uid) = u.ids.get(user) else {
            return false;
        };
        let h = std::mem::take(&mut u.history[uid as usize]);
        for (i, _) in h {
            if let Some(c) = u.item_counts.get_mut(i as usize) {
                *c = c.saturating_sub(1);
            }
        }
        true
    }

    /// The user's index (when known) and a copy of their history.
    fn user_history(&self, user: &str) -> (Option<u32>, Vec<(ItemIdx, i64)>) {
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        let uid = u.ids.get(user);
        let hist = uid
            .and_then(|i| u.history.get(i as usize))
            .cloned()
            .unwrap_or_default();
        (uid, hist)
    }

    /// Counters.
    pub fn counts(&self) -> Counts {
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        Counts {
            users: u.ids.len(),
            items: self.data.n_items(),
            api_events: u.api_events,
            unknown_item_events: u.unknown_item_events,
            last_seq: u.last_seq,
            events_last_minute: {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                u.per_second
                    .iter()
                    .filter(|(s, _)| now.saturating_sub(*s) < 60)
                    .map(|(_, c)| *c as u64)
                    .sum()
            },
        }
    }

    /// The top `k` items for `user`: seen and `exclude`d items never come back. A user with
    /// no history (unknown, or known without events) gets the most popular items.
    pub fn recommend(
        &self,
        user: &str,
        k: usize,
        exclude: &[ItemIdx],
        now_context: Option<&[u32]>,
    ) -> Result<(Vec<Rec>, RecMeta)> {
        let (uid, hist) = self.user_history(user);
        // popularity is only needed for the fallback
        let counts = hist.is_empty().then(|| {
            self.users
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .item_counts
                .clone()
        });
        let n = self.data.n_items();
        let mut scores: Vec<f32> = match counts {
            Some(c) => c.iter().map(|&x| x as f32).collect(),
            None => vec![0.0; n],
        };
        let source = if hist.is_empty() {
            "popularity"
        } else {
            let items: Vec<ItemIdx> = hist.iter().map(|h| h.0).collect();
            let ts: Vec<i64> = hist.iter().map(|h| h.1).collect();
            let (model, model_users) = self.model.read().unwrap_or_else(|p| p.into_inner()).clone();
            let ctx = UserContext {
                // users newer than the model have indices beyond its own: unknown to it
                user: uid.filter(|&i| (i as usize) < model_users),
                history: &items,
                timestamps: self.data.has_timestamps.then_some(ts.as_slice()),
                now: None,
                context: None,
                now_context,
            };
            model.score(&ctx, &mut scores)?;
            "model"
        };
        for &(i, _) in &hist {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        for &i in exclude {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        let recs = seer_core::topk::top_k(&scores, k)
            .into_iter()
            .filter(|r| r.1.is_finite())
            .map(|(item, score)| Rec { item, score })
            .collect();
        Ok((
            recs,
            RecMeta {
                known: uid.is_some(),
                history_len: hist.len(),
                source,
            },
        ))
    }

    /// Recommendations for an anonymous session: `items` (oldest first) as the history.
    pub fn recommend_session(
        &self,
        items: &[ItemIdx],
        k: usize,
        exclude: &[ItemIdx],
    ) -> Result<Vec<Rec>> {
        let model = self.model();
        let mut scores = vec![0f32; self.data.n_items()];
        model.score(&UserContext::from_history(None, items), &mut scores)?;
        for &i in items.iter().chain(exclude) {
            if let Some(s) = scores.get_mut(i as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        Ok(seer_core::topk::top_k(&scores, k)
            .into_iter()
            .filter(|r| r.1.is_finite())
            .map(|(item, score)| Rec { item, score })
            .collect())
    }

    /// Items like `item` by the live model: its scores for a session of just that item.
    pub fn similar(&self, item: ItemIdx, k: usize) -> Result<Vec<Rec>> {
        self.recommend_session(&[item], k, &[])
    }

    /// Why `item` for `user`, in words: the model's own explanation when it has one (the
    /// rankers' feature contributions), otherwise the history items that contributed most —
    /// those whose removal from the history lowers the item's score the most (leave-one-out
    /// over the latest 20 history items, so it is what this model actually did).
    pub fn explain(&self, user: &str, item: ItemIdx) -> Result<Vec<String>> {
        let (uid, hist) = self.user_history(user);
        if hist.is_empty() {
            return Ok(vec!["popular right now (no history to go on yet)".into()]);
        }
        let (model, model_users) = self.model.read().unwrap_or_else(|p| p.into_inner()).clone();
        let items: Vec<ItemIdx> = hist.iter().map(|h| h.0).collect();
        let ctx = UserContext {
            user: uid.filter(|&i| (i as usize) < model_users),
            ..UserContext::from_history(None, &items)
        };
        let name = |i: ItemIdx| self.data.item_label(i);
        if let Some((_, why)) = model.explain(&ctx, item, &name)? {
            if !why.is_empty() {
                return Ok(why);
            }
        }
        let mut scores = vec![0f32; self.data.n_items()];
        model.score(&ctx, &mut scores)?;
        let base = scores.get(item as usize).copied().unwrap_or(0.0);
        let start = items.len().saturating_sub(20);
        let mut drops: Vec<(f32, ItemIdx)> = Vec::new();
        for pos in start..items.len() {
            let mut without = items.clone();
            let removed = without.remove(pos);
            let c = UserContext {
                user: ctx.user,
                ..UserContext::from_history(None, &without)
            };
            model.score(&c, &mut scores)?;
            let s = scores.get(item as usize).copied().unwrap_or(0.0);
            drops.push((base - s, removed));
        }
        drops.sort_by(|a, b| b.0.total_cmp(&a.0));
        let why: Vec<String> = drops
            .iter()
            .filter(|(d, _)| *d > 0.0)
            .take(3)
            .map(|(d, i)| format!("because of {} (score +{d:.3})", self.data.item_label(*i)))
            .collect();
        Ok(if why.is_empty() {
            vec!["no single history item stands out: the user's history as a whole".into()]
        } else {
            why
        })
    }

    /// The user's history as (item id, unix seconds), oldest first.
    pub fn history(&self, user: &str) -> Option<Vec<(String, i64)>> {
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        let uid = u.ids.get(user)?;
        Some(
            u.history[uid as usize]
                .iter()
                .map(|&(i, t)| (self.data.items.id(i).unwrap_or("?").to_string(), t))
                .collect(),
        )
    }

    /// Codes of `(column, value)` context pairs for the dataset's context columns; unknown
    /// columns or values are errors naming them.
    pub fn context_codes(
        &self,
        pairs: &HashMap<String, String>,
    ) -> std::result::Result<Option<Vec<u32>>, String> {
        let cols = &self.data.interactions.context;
        if pairs.is_empty() {
            return Ok(None);
        }
        let mut codes = vec![seer_core::MISSING; cols.len()];
        for (name, value) in pairs {
            let Some(j) = cols.iter().position(|c| &c.name == name) else {
                return Err(format!(
                    "context.{name}: no such context column (known: {})",
                    cols.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            match cols[j].values.get(value) {
                Some(c) => codes[j] = c,
                None => {
                    return Err(format!(
                        "context.{name}: value {value:?} never occurs in the data"
                    ))
                }
            }
        }
        Ok(Some(codes))
    }
}
