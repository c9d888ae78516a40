//! The server's in-memory view: the catalogue, the live model and every user's history
//! (the dataset's events followed by every event the store has acknowledged).
//!
//! The store's writer thread calls [`Live::apply`] after each durable commit and before the
//! clients are answered, so an acknowledged event is already in the history the next
//! recommendation reads (read-your-writes). Users first seen through the API get new dense
//! indices after the dataset's; the model treats them as unknown users with a history.
//! Events for items outside the catalogue are stored (nothing acknowledged is ever dropped)
//! and counted, but cannot enter histories until the item is put (`PUT /v1/items/{id}`).
//!
//! **The catalogue grows while serving.** Items put through the API get indices after the
//! dataset's (and the store keeps them, so a restart numbers them the same way). The live
//! model scores the items it was trained on; with a text encoder loaded (`seer serve
//! --text-encoder DIR`) every item has a text vector, and an item newer than the model takes
//! the score of its most text-similar trained items (weights `exp((cos − 1) / 0.05)` over the
//! five nearest, so a near-duplicate inherits its twin's score): it can be recommended, and
//! shows up in similar-items, the moment it is put, before any retrain. Without an encoder a
//! new item waits for the next retrain. A user put with profile text and no events yet is
//! ranked by the cosine of the profile's vector and the items' (the `text:user=profile`
//! rule), instead of by popularity. Deleted items are never recommended.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use seer_core::{IdMap, ItemIdx, Recommender, UserContext};
use seer_data::{Dataset, Interactions, TextColumn};
use seer_models::text_encoder::{EmbeddingCache, TextEncoder};

use crate::catalogue::{column_names, document_of, Catalogue};
use crate::error::{Error, Result};
use seer_store::{Entity, StoredEvent};

/// A user profile put through the API.
#[derive(Debug, Clone, Default)]
struct Profile {
    /// Text fields, `(name, value)`.
    fields: Vec<(String, String)>,
    /// Its text vector (empty without an encoder).
    vector: Vec<f32>,
}

/// What a recommendation reads of a user.
struct UserState {
    uid: Option<u32>,
    history: Vec<(ItemIdx, i64)>,
    profile: Option<Vec<f32>>,
}

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
    /// Profiles put through the API.
    profiles: HashMap<u32, Profile>,
    /// Users deleted (privacy) and not seen since: unknown to reads.
    forgotten: std::collections::HashSet<u32>,
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
    /// `model`, `profile` (no events yet, profile text) or `popularity` (nothing to go on).
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
    /// The dataset's events (retraining starts from them).
    base: Interactions,
    catalogue: RwLock<Catalogue>,
    /// The live model and the users it was trained on, in its own index order (a model
    /// trained by the server numbers users as the server did then; after a restart or a
    /// deletion the server's numbering may differ, so users are matched by id).
    model: RwLock<(Arc<dyn Recommender>, Arc<IdMap>)>,
    model_name: String,
    users: RwLock<Users>,
    encoder: Option<(TextEncoder, Option<PathBuf>)>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("dataset", &self.data().name)
            .field("model", &self.model_name)
            .finish()
    }
}

impl Live {
    /// The dataset's users and histories, serving `model` (named `model_name`).
    pub fn new(mut data: Dataset, model: Box<dyn Recommender>, model_name: String) -> Live {
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
        let model_users = Arc::new(data.users.clone());
        // The catalogue keeps the context vocabularies, not the events.
        let mut base = std::mem::take(&mut data.interactions);
        data.interactions.context = base
            .context
            .iter()
            .map(|c| seer_data::CategoricalColumn {
                name: c.name.clone(),
                values: c.values.clone(),
                codes: Vec::new(),
            })
            .collect();
        base.context
            .iter_mut()
            .for_each(|c| c.codes.shrink_to_fit());
        Live {
            base,
            catalogue: RwLock::new(Catalogue {
                deleted: vec![false; n_items],
                data: Arc::new(data),
                vectors: Vec::new(),
                dim: 0,
                neighbours: HashMap::new(),
            }),
            model: RwLock::new((Arc::from(model), model_users)),
            model_name,
            users: RwLock::new(users),
            encoder: None,
        }
    }

    /// Loads `encoder` and embeds the whole catalogue with it (through the embedding cache
    /// in `cache`, when given, so a restart does not encode again).
    pub fn with_encoder(mut self, encoder: TextEncoder, cache: Option<PathBuf>) -> Result<Live> {
        let texts: Vec<String> = {
            let cat = self.catalogue.read().unwrap_or_else(|p| p.into_inner());
            (0..cat.n_items() as u32)
                .map(|i| cat.data.item_document(i))
                .collect()
        };
        let vectors = encode(&encoder, cache.as_ref(), &texts)?;
        {
            let mut cat = self.catalogue.write().unwrap_or_else(|p| p.into_inner());
            cat.dim = encoder.dim();
            cat.vectors = vectors;
        }
        tracing::info!(items = texts.len(), "catalogue embedded");
        self.encoder = Some((encoder, cache));
        Ok(self)
    }

    /// Whether a text encoder is loaded.
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    fn catalogue(&self) -> std::sync::RwLockReadGuard<'_, Catalogue> {
        self.catalogue.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Vectors of `texts` with the loaded encoder (empty rows' vectors are zero).
    fn embed(&self, texts: &[String]) -> Result<Vec<f32>> {
        match &self.encoder {
            Some((enc, cache)) => encode(enc, cache.as_ref(), texts),
            None => Ok(Vec::new()),
        }
    }

    /// Creates or replaces items (`entities` as stored, in order): new ids get the next
    /// indices, every item's fields are replaced, a `deleted` entity is marked deleted.
    /// Returns each entity's index and whether it was new.
    pub fn put_items(&self, entities: &[Entity]) -> Result<Vec<(ItemIdx, bool)>> {
        // Encode outside the lock (tens of milliseconds per batch of texts).
        let columns = column_names(&self.catalogue().data.item_text);
        let texts: Vec<String> = entities
            .iter()
            .map(|e| document_of(&e.fields, &columns))
            .collect();
        let vectors = self.embed(&texts)?;
        let mut cat = self.catalogue.write().unwrap_or_else(|p| p.into_inner());
        let dim = cat.dim;
        let mut out = Vec::with_capacity(entities.len());
        for (k, e) in entities.iter().enumerate() {
            let data = Arc::make_mut(&mut cat.data);
            let before = data.items.len();
            let i = data.items.get_or_insert(&e.id);
            let new = data.items.len() > before;
            let n = data.items.len();
            for c in &mut data.item_text {
                c.values.resize(n, String::new());
            }
            if !(e.deleted && e.fields.is_empty()) {
                // a put replaces every field; a deletion keeps them (for retraining)
                for c in &mut data.item_text {
                    c.values[i as usize].clear();
                }
                for (name, value) in &e.fields {
                    set_field(&mut data.item_text, n, i as usize, name, value);
                }
                if dim > 0 {
                    cat.vectors.resize(n * dim, 0.0);
                    cat.vectors[i as usize * dim..(i as usize + 1) * dim]
                        .copy_from_slice(&vectors[k * dim..(k + 1) * dim]);
                }
            } else if dim > 0 {
                cat.vectors.resize(n * dim, 0.0);
            }
            cat.deleted.resize(n, false);
            cat.deleted[i as usize] = e.deleted;
            out.push((i, new));
        }
        if dim > 0 {
            for &(i, _) in &out {
                let near = cat.nearest(i);
                cat.neighbours.insert(i, near);
            }
        }
        drop(cat);
        let n = self.catalogue().n_items();
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        u.item_counts.resize(n, 0);
        Ok(out)
    }

    /// Marks `item` deleted: it is never recommended, until it is put again.
    pub fn delete_item(&self, item: &str) -> bool {
        let mut cat = self.catalogue.write().unwrap_or_else(|p| p.into_inner());
        match cat.data.items.get(item) {
            Some(i) => {
                cat.deleted[i as usize] = true;
                true
            }
            None => false,
        }
    }

    /// Whether `item` is in the catalogue and not deleted.
    pub fn item_index(&self, item: &str) -> Option<ItemIdx> {
        let cat = self.catalogue();
        cat.data
            .items
            .get(item)
            .filter(|&i| !cat.deleted[i as usize])
    }

    /// Creates or replaces user profiles (`entities` as stored): new ids get the next
    /// indices; with an encoder the profile text is embedded.
    pub fn put_users(&self, entities: &[Entity]) -> Result<()> {
        let columns = column_names(&self.catalogue().data.user_attrs);
        let texts: Vec<String> = entities
            .iter()
            .map(|e| document_of(&e.fields, &columns))
            .collect();
        let vectors = self.embed(&texts)?;
        let dim = self.catalogue().dim;
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        for (k, e) in entities.iter().enumerate() {
            let uid = u.ids.get_or_insert(&e.id);
            if u.history.len() <= uid as usize {
                u.history.resize(uid as usize + 1, Vec::new());
            }
            let v = if dim > 0 {
                vectors[k * dim..(k + 1) * dim].to_vec()
            } else {
                Vec::new()
            };
            u.profiles.insert(
                uid,
                Profile {
                    fields: e.fields.clone(),
                    vector: v,
                },
            );
            u.forgotten.remove(&uid);
        }
        Ok(())
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

    /// Makes `model` live (trained on `users`, in its index order): requests already
    /// scoring keep the model they started with.
    pub fn swap_model(&self, model: Arc<dyn Recommender>, users: Arc<IdMap>) {
        *self.model.write().unwrap_or_else(|p| p.into_inner()) = (model, users);
    }

    /// Every user id known so far, in index order.
    pub fn user_ids(&self) -> IdMap {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .clone()
    }

    /// The catalogue now (ids, text fields, context vocabularies; no events).
    pub fn data(&self) -> Arc<Dataset> {
        self.catalogue().data.clone()
    }

    /// What a retrain learns from: the catalogue now, the dataset's events (each appended
    /// event comes from the store), every user known so far with the profiles put through
    /// the API as user attributes.
    pub fn snapshot_base(&self) -> Dataset {
        let mut data = (*self.data()).clone();
        data.interactions = self.base.clone();
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        for id in u.ids.ids().iter().skip(data.users.len()) {
            data.users.get_or_insert(id);
        }
        let n = data.users.len();
        for col in &mut data.user_attrs {
            col.values.resize(n, String::new());
        }
        for (&uid, profile) in &u.profiles {
            for (name, value) in &profile.fields {
                set_field(&mut data.user_attrs, n, uid as usize, name, value);
            }
        }
        data
    }

    /// The live model's spec.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Applies newly stored events (in sequence order).
    pub fn apply(&self, events: &[StoredEvent]) {
        // Item indices first, without holding the users' lock (lock order: never the
        // catalogue inside the users' lock).
        let idx: Vec<Option<ItemIdx>> = {
            let cat = self.catalogue();
            events
                .iter()
                .map(|e| cat.data.items.get(&e.event.item))
                .collect()
        };
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        for (e, idx) in events.iter().zip(idx) {
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
            u.forgotten.remove(&(uid as u32));
            match idx {
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
        u.profiles.remove(&uid);
        u.forgotten.insert(uid);
        for (i, _) in h {
            if let Some(c) = u.item_counts.get_mut(i as usize) {
                *c = c.saturating_sub(1);
            }
        }
        true
    }

    /// The user's index (when known), a copy of their history and their profile vector.
    fn user_state(&self, user: &str) -> UserState {
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        let uid = u.ids.get(user).filter(|i| !u.forgotten.contains(i));
        let hist = uid
            .and_then(|i| u.history.get(i as usize))
            .cloned()
            .unwrap_or_default();
        let profile = uid
            .and_then(|i| u.profiles.get(&i))
            .map(|p| p.vector.clone())
            .filter(|v| !v.is_empty());
        UserState {
            uid,
            history: hist,
            profile,
        }
    }

    /// Counters.
    pub fn counts(&self) -> Counts {
        let items = self.catalogue().n_items();
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        Counts {
            users: u.ids.len(),
            items,
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

    /// The model's scores over the whole catalogue: the items it was trained on scored by
    /// it, `masked` items at −∞, newer items inherited from their text neighbours, deleted
    /// items at −∞.
    fn score_all(
        &self,
        model: &dyn Recommender,
        ctx: &UserContext<'_>,
        masked: &[ItemIdx],
        anchor: Option<ItemIdx>,
    ) -> Result<Vec<f32>> {
        let cat = self.catalogue();
        let n = cat.n_items();
        let m = model.n_items().min(n);
        let mut scores = vec![0f32; n];
        if model.n_items() > n {
            return Err(Error::Load(format!(
                "the live model scores {} items, the catalogue has {n}",
                model.n_items()
            )));
        }
        model.score(ctx, &mut scores[..m])?;
        seer_core::rerank::mask(&mut scores, masked);
        if let Some(i) = anchor.filter(|&i| (i as usize) < m) {
            // Similar items: the anchor is the item most like itself, so a new item whose
            // nearest text is the anchor's (a new edition of it) inherits the top score.
            let top = scores
                .iter()
                .copied()
                .filter(|s| s.is_finite())
                .fold(f32::MIN, f32::max);
            scores[i as usize] = top;
        }
        cat.inherit(&mut scores, m);
        finish(&mut scores, &cat.deleted, masked);
        Ok(scores)
    }

    /// The top `k` items for `user`: seen and `exclude`d items never come back. A user with
    /// no history is ranked by their profile text when they have one (and an encoder is
    /// loaded), else gets the most popular items.
    pub fn recommend(
        &self,
        user: &str,
        k: usize,
        exclude: &[ItemIdx],
        now_context: Option<&[u32]>,
    ) -> Result<(Vec<Rec>, RecMeta)> {
        let UserState {
            uid,
            history: hist,
            profile,
        } = self.user_state(user);
        let mut masked: Vec<ItemIdx> = hist.iter().map(|h| h.0).collect();
        masked.extend_from_slice(exclude);
        let (model, model_users) = self.model.read().unwrap_or_else(|p| p.into_inner()).clone();
        // Items newer than the model read as their nearest item it knows.
        let (items, ts): (Vec<ItemIdx>, Vec<i64>) = {
            let cat = self.catalogue();
            hist.iter()
                .filter_map(|&(i, t)| cat.proxy(i, model.n_items()).map(|p| (p, t)))
                .unzip()
        };
        let (scores, source) = if !items.is_empty() {
            let has_ts = self.catalogue().data.has_timestamps;
            let ctx = UserContext {
                // the model's own index of this user; users newer than it are unknown to it
                user: uid.and(model_users.get(user)),
                history: &items,
                timestamps: has_ts.then_some(ts.as_slice()),
                now: None,
                context: None,
                now_context,
            };
            (
                self.score_all(model.as_ref(), &ctx, &masked, None)?,
                "model",
            )
        } else if let Some(p) = profile {
            let cat = self.catalogue();
            let mut scores = cat.cosines(&p);
            finish(&mut scores, &cat.deleted, &masked);
            (scores, "profile")
        } else {
            let counts = self
                .users
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .item_counts
                .clone();
            let cat = self.catalogue();
            let mut scores: Vec<f32> = (0..cat.n_items())
                .map(|i| counts.get(i).copied().unwrap_or(0) as f32)
                .collect();
            finish(&mut scores, &cat.deleted, &masked);
            (scores, "popularity")
        };
        Ok((
            top(&scores, k),
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
        self.session(items, k, exclude, None)
    }

    fn session(
        &self,
        items: &[ItemIdx],
        k: usize,
        exclude: &[ItemIdx],
        anchor: Option<ItemIdx>,
    ) -> Result<Vec<Rec>> {
        let model = self.model();
        let mut masked = items.to_vec();
        masked.extend_from_slice(exclude);
        let proxies: Vec<ItemIdx> = {
            let cat = self.catalogue();
            items
                .iter()
                .filter_map(|&i| cat.proxy(i, model.n_items()))
                .collect()
        };
        let scores = self.score_all(
            model.as_ref(),
            &UserContext::from_history(None, &proxies),
            &masked,
            anchor,
        )?;
        Ok(top(&scores, k))
    }

    /// Items like `item`: the live model's scores for a session of just that item (new items
    /// inherit from their text neighbours, `item` itself counting as the best match); for an
    /// item newer than the model, the catalogue's nearest items by text (empty without an
    /// encoder).
    pub fn similar(&self, item: ItemIdx, k: usize) -> Result<Vec<Rec>> {
        let model = self.model();
        if (item as usize) < model.n_items() {
            return self.session(&[item], k, &[], Some(item));
        }
        let cat = self.catalogue();
        let Some(v) = cat.vector(item).map(<[f32]>::to_vec) else {
            return Ok(Vec::new());
        };
        let mut scores = cat.cosines(&v);
        finish(&mut scores, &cat.deleted, &[item]);
        Ok(top(&scores, k))
    }

    /// The catalogue's items closest to free text `query` (cosine of text vectors; deleted
    /// items left out). Empty without an encoder.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Rec>> {
        let v = self.embed(&[query.to_string()])?;
        if v.is_empty() {
            return Ok(Vec::new());
        }
        let cat = self.catalogue();
        let mut scores = cat.cosines(&v);
        finish(&mut scores, &cat.deleted, &[]);
        Ok(top(&scores, k))
    }

    /// Why `item` for `user`, in words: what the model did (its own explanation, or the
    /// history items that contributed most), the attributes the item shares with the history
    /// (same author, category, brand, …) and, with an encoder, the history item closest in
    /// text. A user without events but with a profile: how well the item matches it.
    pub fn explain(&self, user: &str, item: ItemIdx) -> Result<Vec<String>> {
        let UserState {
            uid,
            history: hist,
            profile,
        } = self.user_state(user);
        let data = self.data();
        if hist.is_empty() {
            let cat = self.catalogue();
            if let (Some(p), Some(v)) = (profile, cat.vector(item)) {
                let c: f32 = p.iter().zip(v).map(|(a, b)| a * b).sum();
                return Ok(vec![format!(
                    "matches your profile text (text similarity {c:.2})"
                )]);
            }
            return Ok(vec!["popular right now (no history to go on yet)".into()]);
        }
        let mut why = self.model_reasons(uid.and(Some(user)), &hist, item, &data)?;
        why.extend(shared_attributes(&data, &hist, item));
        why.extend(self.text_match(&hist, item, &data));
        Ok(why)
    }

    /// The model's own explanation when it has one (the rankers' feature contributions),
    /// otherwise the history items that contributed most — those whose removal from the
    /// history lowers the item's score the most (leave-one-out over the latest 20 history
    /// items, so it is what this model actually did).
    fn model_reasons(
        &self,
        user: Option<&str>,
        hist: &[(ItemIdx, i64)],
        item: ItemIdx,
        data: &Dataset,
    ) -> Result<Vec<String>> {
        let (model, model_users) = self.model.read().unwrap_or_else(|p| p.into_inner()).clone();
        let items: Vec<ItemIdx> = {
            let cat = self.catalogue();
            hist.iter()
                .filter_map(|&(i, _)| cat.proxy(i, model.n_items()))
                .collect()
        };
        let ctx = UserContext {
            user: user.and_then(|u| model_users.get(u)),
            ..UserContext::from_history(None, &items)
        };
        let name = |i: ItemIdx| data.item_label(i);
        if let Some((_, why)) = model.explain(&ctx, item, &name)? {
            if !why.is_empty() {
                return Ok(why);
            }
        }
        if item as usize >= model.n_items() {
            return Ok(vec![
                "new in the catalogue: scored from the items most like it in text that the model \
                 knows"
                    .into(),
            ]);
        }
        let mut scores = vec![0f32; model.n_items()];
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
            .map(|(d, i)| format!("because of {} (score +{d:.3})", data.item_label(*i)))
            .collect();
        Ok(if why.is_empty() {
            vec!["no single history item stands out: the user's history as a whole".into()]
        } else {
            why
        })
    }

    /// With an encoder: the history item whose text is closest to `item`'s, when close.
    fn text_match(&self, hist: &[(ItemIdx, i64)], item: ItemIdx, data: &Dataset) -> Option<String> {
        let cat = self.catalogue();
        let v = cat.vector(item)?;
        let (c, best) = hist
            .iter()
            .filter(|h| h.0 != item)
            .filter_map(|h| {
                let w = cat.vector(h.0)?;
                Some((v.iter().zip(w).map(|(a, b)| a * b).sum::<f32>(), h.0))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))?;
        (c >= 0.5).then(|| {
            format!(
                "its text is close to {} from your history (text similarity {c:.2})",
                data.item_label(best)
            )
        })
    }

    /// The user's history as (item id, unix seconds), oldest first.
    pub fn history(&self, user: &str) -> Option<Vec<(String, i64)>> {
        let data = self.data();
        let u = self.users.read().unwrap_or_else(|p| p.into_inner());
        let uid = u.ids.get(user).filter(|i| !u.forgotten.contains(i))?;
        Some(
            u.history[uid as usize]
                .iter()
                .map(|&(i, t)| (data.items.id(i).unwrap_or("?").to_string(), t))
                .collect(),
        )
    }

    /// Codes of `(column, value)` context pairs for the dataset's context columns; unknown
    /// columns or values are errors naming them.
    pub fn context_codes(
        &self,
        pairs: &HashMap<String, String>,
    ) -> std::result::Result<Option<Vec<u32>>, String> {
        let data = self.data();
        let cols = &data.interactions.context;
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

/// Sets field `name` of row `row` in `columns` of `n` rows, adding the column, empty for
/// every other row, when it is new.
fn set_field(columns: &mut Vec<TextColumn>, n: usize, row: usize, name: &str, value: &str) {
    let j = match columns.iter().position(|c| c.name == name) {
        Some(j) => j,
        None => {
            columns.push(TextColumn {
                name: name.to_string(),
                values: vec![String::new(); n],
            });
            columns.len() - 1
        }
    };
    columns[j].values[row] = value.to_string();
}

/// Masks deleted items and `masked` (again: inheritance may have given them a score).
fn finish(scores: &mut [f32], deleted: &[bool], masked: &[ItemIdx]) {
    for (s, &d) in scores.iter_mut().zip(deleted) {
        if d {
            *s = f32::NEG_INFINITY;
        }
    }
    seer_core::rerank::mask(scores, masked);
}

/// The `k` best finite scores.
fn top(scores: &[f32], k: usize) -> Vec<Rec> {
    seer_core::rerank::top_n(scores, k)
        .into_iter()
        .map(|(item, score)| Rec { item, score })
        .collect()
}

/// `texts` encoded (through the cache in `cache` when given); empty texts get zero vectors.
fn encode(encoder: &TextEncoder, cache: Option<&PathBuf>, texts: &[String]) -> Result<Vec<f32>> {
    let dim = encoder.dim();
    let mut out = vec![0f32; texts.len() * dim];
    let idx: Vec<usize> = (0..texts.len()).filter(|&i| !texts[i].is_empty()).collect();
    if idx.is_empty() {
        return Ok(out);
    }
    let refs: Vec<&str> = idx.iter().map(|&i| texts[i].as_str()).collect();
    let pb = indicatif::ProgressBar::hidden();
    let err = |e: seer_models::Error| Error::Load(format!("text encoder: {e}"));
    let vecs = match cache {
        Some(dir) => {
            let mut c = EmbeddingCache::open(dir, encoder).map_err(err)?;
            encoder.encode_cached(&refs, &mut c, &pb).map_err(err)?.0
        }
        None => encoder.encode(&refs, &pb).map_err(err)?,
    };
    for (k, &i) in idx.iter().enumerate() {
        out[i * dim..(i + 1) * dim].copy_from_slice(&vecs[k * dim..(k + 1) * dim]);
    }
    Ok(out)
}

/// Attribute values (`authors`, `categories`, `brand`, …; not the title, not numbers, not
/// values a fifth of the catalogue has) that `item` shares with items of the history, the two
/// most shared, in words.
fn shared_attributes(data: &Dataset, hist: &[(ItemIdx, i64)], item: ItemIdx) -> Vec<String> {
    let mut hist_items: Vec<ItemIdx> = hist.iter().map(|h| h.0).filter(|&i| i != item).collect();
    hist_items.sort_unstable();
    hist_items.dedup();
    let tokens = |v: &str| -> Vec<String> {
        v.split(" | ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.chars().count() <= 80 && t.parse::<f64>().is_err())
            .map(str::to_lowercase)
            .collect()
    };
    let mut found: Vec<(usize, String)> = Vec::new();
    for col in data.item_text.iter().filter(|c| c.name != "title") {
        let Some(v) = col.values.get(item as usize) else {
            continue;
        };
        for (t, shown) in tokens(v).into_iter().zip(
            v.split(" | ")
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.chars().count() <= 80 && t.parse::<f64>().is_err()),
        ) {
            let n = hist_items
                .iter()
                .filter(|&&h| {
                    col.values
                        .get(h as usize)
                        .is_some_and(|hv| tokens(hv).contains(&t))
                })
                .count();
            // A value most of the catalogue has ("language: eng") explains nothing.
            let common = n > 0 && {
                let df = col
                    .values
                    .iter()
                    .filter(|cv| tokens(cv).contains(&t))
                    .count();
                df * 5 > col.values.len()
            };
            if n > 0 && !common {
                let what = col.name.replace('_', " ");
                let items = if n == 1 { "item" } else { "items" };
                found.push((
                    n,
                    format!("shares {what} \"{shown}\" with {n} {items} in your history"),
                ));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().take(2).map(|f| f.1).collect()
}
