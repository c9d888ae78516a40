//! HTTP routes (axum), JSON in and out, versioned under `/v1`.
//!
//! - `POST /v1/events` — `{"events": [{"user", "item", "ts"?, "type"?, "rating"?, "context"?,
//!   "key"?}]}`; answered after the batch is durable: `{"acked": n, "results": [{"seq",
//!   "duplicate"}]}`.
//! - `GET /v1/recommend/{user}?k=10&exclude=ID,ID&context=COLUMN=VALUE,…`
//! - `GET /v1/users/{user}/history`, `DELETE /v1/users/{user}` (every event, the profile and
//!   the in-memory history of the user; later models never see them), `PUT /v1/users/{user}`
//!   (`{"fields": {"about": "…"}}`: profile text and attributes).
//! - `PUT /v1/items/{item}` (`{"fields": {"title": "…", "categories": ["…"]}}`: creates or
//!   replaces an item; recommendable at once through its text vector), `GET`, `DELETE`.
//! - `GET /v1/search?q=TEXT&k=10` (free-text query; needs the text encoder).
//! - `GET /health`, `GET /metrics` (Prometheus text format).
//!
//! Bad input is a 4xx with `{"error": message, "field": path}` naming the field
//! (`events[3].user`); bodies above the configured limit are refused with 413.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Denied, Scope};
use crate::live::Live;
use seer_store::{SqliteStore, Store};

pub use crate::limits::Limits;
pub use crate::metrics::Metrics;
pub use crate::request::ApiError;
use crate::request::{parse, validate, Batch};

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// The in-memory view.
    pub live: Arc<Live>,
    /// The durable store.
    pub store: Arc<SqliteStore>,
    /// Limits.
    pub limits: Limits,
    /// Counters.
    pub metrics: Metrics,
    /// API keys: verified-key cache and rate limits.
    pub auth: crate::auth::Auth,
    /// Background retraining, versions, rollback.
    pub retrainer: Arc<crate::retrain::Retrainer>,
    /// API events at the last automatic retrain.
    pub retrained_at: AtomicU64,
}

async fn post_events(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let batch: Batch = parse(&body)?;
    if batch.events.is_empty() {
        return Err(ApiError::bad("events", "no events"));
    }
    if batch.events.len() > st.limits.max_batch {
        return Err(ApiError::bad(
            "events",
            format!(
                "{} events; at most {} per batch",
                batch.events.len(),
                st.limits.max_batch
            ),
        ));
    }
    let events = batch
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| validate(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let acks = st
        .store
        .append_async(events)
        .await
        .map_err(ApiError::internal)?;
    let dups = acks.iter().filter(|a| a.duplicate).count() as u64;
    st.metrics
        .events_acked
        .fetch_add(acks.len() as u64, Ordering::Relaxed);
    st.metrics
        .events_duplicate
        .fetch_add(dups, Ordering::Relaxed);
    st.metrics.ingest.observe(t0.elapsed().as_secs_f64());
    // Retrain after every `every` new events (on its own thread; requests never wait).
    let every = st.retrainer.config.every;
    if every > 0 {
        let n = st.live.counts().api_events;
        let last = st.retrained_at.load(Ordering::Relaxed);
        if n >= last + every
            && st
                .retrained_at
                .compare_exchange(last, n, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            // between full retrains: continual updates, when configured
            let mode = if st.retrainer.config.update_epochs > 0 {
                crate::retrain::Mode::Update
            } else {
                crate::retrain::Mode::Full
            };
            st.retrainer.start(st.live.clone(), st.store.clone(), mode);
        }
    }
    Ok(Json(json!({"acked": acks.len(), "results": acks})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecQuery {
    k: Option<String>,
    exclude: Option<String>,
    context: Option<String>,
    category: Option<String>,
}

/// Item fields the `category` filter reads.
const CATEGORY_FIELDS: [&str; 5] = ["categories", "category", "genres", "genre", "tags"];

async fn get_recommend(
    State(st): State<Arc<AppState>>,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    for key in q.keys() {
        if !["k", "exclude", "context", "explain", "category"].contains(&key.as_str()) {
            return Err(ApiError::bad(
                key.clone(),
                "unknown query parameter (known: k, exclude, context, explain, category)",
            ));
        }
    }
    let explain = match q.get("explain").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "explain",
                format!("{other:?}: expected true or false"),
            ))
        }
    };
    let q = RecQuery {
        k: q.get("k").cloned(),
        exclude: q.get("exclude").cloned(),
        context: q.get("context").cloned(),
        category: q.get("category").cloned(),
    };
    let k = parse_k(q.k.as_ref(), st.limits.max_k)?;
    let data = st.live.data();
    let mut exclude = Vec::new();
    for id in q
        .exclude
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        // an id outside the catalogue can never be recommended: nothing to exclude
        if let Some(i) = data.items.get(id) {
            exclude.push(i);
        }
    }
    if let Some(cat) = q.category.as_deref().filter(|c| !c.is_empty()) {
        // only items of this category: every other item is excluded
        let fields: Vec<&seer_data::TextColumn> = data
            .item_text
            .iter()
            .filter(|c| CATEGORY_FIELDS.contains(&c.name.as_str()))
            .collect();
        if fields.is_empty() {
            return Err(ApiError::bad(
                "category",
                format!(
                    "this catalogue has no category field (one of {})",
                    CATEGORY_FIELDS.join(", ")
                ),
            ));
        }
        let want = cat.to_lowercase();
        for i in 0..data.n_items() {
            let hit = fields.iter().any(|f| {
                f.values
                    .get(i)
                    .is_some_and(|v| v.split(" | ").any(|t| t.trim().to_lowercase() == want))
            });
            if !hit {
                exclude.push(i as u32);
            }
        }
    }
    let mut ctx = HashMap::new();
    for pair in q
        .context
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some((c, v)) = pair.split_once('=') else {
            return Err(ApiError::bad(
                "context",
                format!("{pair:?}: expected COLUMN=VALUE"),
            ));
        };
        ctx.insert(c.to_string(), v.to_string());
    }
    let codes = st
        .live
        .context_codes(&ctx)
        .map_err(|m| ApiError::bad("context", m))?;
    let live = st.live.clone();
    let user2 = user.clone();
    // Scoring is CPU work: off the async threads.
    let (recs, meta, whys) = blocking(move || {
        let (recs, meta) = live.recommend(&user2, k, &exclude, codes.as_deref())?;
        let whys = if explain {
            recs.iter()
                .map(|r| live.explain(&user2, r.item))
                .collect::<crate::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok::<_, crate::Error>((recs, meta, whys))
    })
    .await?;
    let items: Vec<_> = recs
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut v = json!({
                "item": data.items.id(r.item).unwrap_or("?"),
                "title": data.item_label(r.item),
                "score": r.score,
            });
            if let Some(w) = whys.get(n) {
                v["why"] = json!(w);
            }
            v
        })
        .collect();
    st.metrics.recommend.observe(t0.elapsed().as_secs_f64());
    Ok(Json(json!({
        "user": user,
        "known": meta.known,
        "history_len": meta.history_len,
        "source": meta.source,
        "model": st.live.model_name(),
        "items": items,
    }))
    .into_response())
}

/// `k` from a query: 10 when absent, else a whole number 1..=max_k.
fn parse_k(raw: Option<&String>, max_k: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(10),
        Some(s) => match s.parse::<usize>() {
            Ok(k) if (1..=max_k).contains(&k) => Ok(k),
            _ => Err(ApiError::bad(
                "k",
                format!("{s:?}: expected a whole number 1..={max_k}"),
            )),
        },
    }
}

/// Runs CPU or disk work off the async threads; its error is a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Item ids to catalogue indices; ids outside the catalogue are skipped.
fn known_items(st: &AppState, ids: &[String]) -> Vec<u32> {
    ids.iter()
        .filter_map(|id| st.live.data().items.get(id))
        .collect()
}

fn rec_items(st: &AppState, recs: &[crate::live::Rec]) -> Vec<serde_json::Value> {
    let data = st.live.data();
    recs.iter()
        .map(|r| {
            json!({
                "item": data.items.id(r.item).unwrap_or("?"),
                "title": data.item_label(r.item),
                "score": r.score,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionIn {
    items: Vec<String>,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    exclude: Vec<String>,
}

async fn post_session(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let s: SessionIn = parse(&body)?;
    let k = s.k.unwrap_or(10);
    if !(1..=st.limits.max_k).contains(&k) {
        return Err(ApiError::bad(
            "k",
            format!("{k}: expected 1..={}", st.limits.max_k),
        ));
    }
    if s.items.len() > 1_000 {
        return Err(ApiError::bad("items", "at most 1,000 session items"));
    }
    let items = known_items(&st, &s.items);
    let n_known = items.len();
    let exclude = known_items(&st, &s.exclude);
    let live = st.live.clone();
    let recs = blocking(move || {
        if items.is_empty() {
            // nothing known to go on: the most popular items
            live.recommend("", k, &exclude, None).map(|r| r.0)
        } else {
            live.recommend_session(&items, k, &exclude)
        }
    })
    .await?;
    Ok(Json(json!({"known_items": n_known, "items": rec_items(&st, &recs)})).into_response())
}

async fn get_similar(
    State(st): State<Arc<AppState>>,
    Path(item): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(other) = q.keys().find(|k| k.as_str() != "k") {
        return Err(ApiError::bad(
            other.clone(),
            "unknown query parameter (known: k)",
        ));
    }
    let k = parse_k(q.get("k"), st.limits.max_k)?;
    let Some(i) = st.live.item_index(&item) else {
        return Err(not_found("item", "item", &item));
    };
    let live = st.live.clone();
    let recs = blocking(move || live.similar(i, k)).await?;
    Ok(Json(json!({"item": item, "items": rec_items(&st, &recs)})).into_response())
}

async fn get_history(
    State(st): State<Arc<AppState>>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    match st.live.history(&user) {
        Some(h) => {
            let events: Vec<_> = h
                .into_iter()
                .map(|(item, ts)| {
                    let data = st.live.data();
                    let title = data.items.get(&item).map(|i| data.item_label(i));
                    json!({"item": item, "title": title, "ts": ts})
                })
                .collect();
            Ok(Json(json!({"user": user, "events": events})).into_response())
        }
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("unknown user {user:?}"),
            field: Some("user".into()),
        }),
    }
}

async fn delete_user(
    State(st): State<Arc<AppState>>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let u = user.clone();
    let deleted = blocking(move || Ok(store.delete_user(&u)?)).await?;
    let known = st.live.forget_user(&user);
    Ok(Json(json!({"user": user, "known": known, "deleted_events": deleted})).into_response())
}

/// A text field's value: a string, or a list of strings (joined with `" | "`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityIn {
    #[serde(default)]
    fields: std::collections::BTreeMap<String, FieldValue>,
}

/// Checks an id from the path and a body's fields; errors name the field. Exactly what the
/// OpenAPI document says is accepted: at most 64 fields, each a string of at most 10,000
/// characters or a list of at most 100 strings of at most 1,000 (joined with `" | "`). Field
/// names are free; an empty one is read as `text`.
fn entity(id: &str, id_field: &str, body: &[u8]) -> Result<seer_store::Entity, ApiError> {
    if id.is_empty() || id.chars().count() > 256 {
        return Err(ApiError::bad(id_field, "must be 1 to 256 characters"));
    }
    let e: EntityIn = parse(body)?;
    if e.fields.len() > 64 {
        return Err(ApiError::bad("fields", "at most 64 fields"));
    }
    let mut fields: Vec<(String, String)> = Vec::with_capacity(e.fields.len());
    for (name, value) in e.fields {
        let f = format!("fields.{name}");
        let value = match value {
            FieldValue::One(v) if v.chars().count() > 10_000 => {
                return Err(ApiError::bad(f, "longer than 10,000 characters"));
            }
            FieldValue::One(v) => v,
            FieldValue::Many(vs) if vs.len() > 100 => {
                return Err(ApiError::bad(f, "at most 100 values"));
            }
            FieldValue::Many(vs) if vs.iter().any(|v| v.chars().count() > 1_000) => {
                return Err(ApiError::bad(f, "a value longer than 1,000 characters"));
            }
            FieldValue::Many(vs) => vs.join(" | "),
        };
        let name = match name.trim() {
            "" => "text".to_string(),
            n => n.to_string(),
        };
        match fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(". ");
                v.push_str(&value);
            }
            None => fields.push((name, value)),
        }
    }
    fields.sort();
    Ok(seer_store::Entity {
        id: id.to_string(),
        fields,
        deleted: false,
    })
}

fn not_found(what: &str, field: &str, id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("unknown {what} {id:?}"),
        field: Some(field.into()),
    }
}

async fn put_item(
    State(st): State<Arc<AppState>>,
    Path(item): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let e = entity(&item, "item", &body)?;
    let (store, live) = (st.store.clone(), st.live.clone());
    // Durable first, then visible (the same order as events).
    let (i, created) = blocking(move || {
        seer_store::Store::put_entity(store.as_ref(), seer_store::Kind::Item, &e)?;
        Ok(live.put_items(std::slice::from_ref(&e))?[0])
    })
    .await?;
    let data = st.live.data();
    Ok(Json(json!({
        "item": item,
        "title": data.item_label(i),
        "created": created,
        "text_vector": st.live.has_encoder(),
    }))
    .into_response())
}

async fn get_item(
    State(st): State<Arc<AppState>>,
    Path(item): Path<String>,
) -> Result<Response, ApiError> {
    let data = st.live.data();
    let Some(i) = st.live.item_index(&item) else {
        // unknown, or deleted (gone until it is put again)
        return Err(not_found("item", "item", &item));
    };
    let fields: serde_json::Map<String, serde_json::Value> = data
        .item_text
        .iter()
        .filter_map(|c| {
            let v = c.values.get(i as usize)?;
            (!v.is_empty()).then(|| (c.name.clone(), json!(v)))
        })
        .collect();
    Ok(Json(json!({
        "item": item,
        "title": data.item_label(i),
        "fields": fields,
        "deleted": false,
    }))
    .into_response())
}

async fn delete_item(
    State(st): State<Arc<AppState>>,
    Path(item): Path<String>,
) -> Result<Response, ApiError> {
    if st.live.data().items.get(&item).is_none() {
        return Err(not_found("item", "item", &item));
    }
    let store = st.store.clone();
    let id = item.clone();
    blocking(move || Ok(seer_store::Store::delete_item(store.as_ref(), &id)?)).await?;
    st.live.delete_item(&item);
    Ok(Json(json!({"item": item, "deleted": true})).into_response())
}

async fn put_user(
    State(st): State<Arc<AppState>>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let e = entity(&user, "user", &body)?;
    let (store, live) = (st.store.clone(), st.live.clone());
    blocking(move || {
        seer_store::Store::put_entity(store.as_ref(), seer_store::Kind::User, &e)?;
        live.put_users(std::slice::from_ref(&e))
    })
    .await?;
    Ok(Json(json!({"user": user, "text_vector": st.live.has_encoder()})).into_response())
}

async fn get_search(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(other) = q.keys().find(|k| !["q", "k"].contains(&k.as_str())) {
        return Err(ApiError::bad(
            other.clone(),
            "unknown query parameter (known: q, k)",
        ));
    }
    let k = parse_k(q.get("k"), st.limits.max_k)?;
    let text = q.get("q").cloned().unwrap_or_default();
    if text.is_empty() || text.chars().count() > 1_000 {
        return Err(ApiError::bad("q", "a query of 1 to 1,000 characters"));
    }
    if !st.live.has_encoder() {
        return Err(ApiError::bad(
            "q",
            "free-text search needs a text encoder: start `seer serve` with --text-encoder DIR",
        ));
    }
    let live = st.live.clone();
    let recs = blocking(move || live.search(&text, k)).await?;
    Ok(Json(json!({"query": q.get("q"), "items": rec_items(&st, &recs)})).into_response())
}

async fn list_models(State(st): State<Arc<AppState>>) -> Response {
    let (versions, live) = st.retrainer.versions();
    Json(json!({
        "live": live,
        "retraining": st.retrainer.is_running(),
        "last_error": st.retrainer.last_error(),
        "versions": versions,
    }))
    .into_response()
}

async fn retrain(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(other) = q.keys().find(|k| k.as_str() != "mode") {
        return ApiError::bad(other.clone(), "unknown query parameter (known: mode)")
            .into_response();
    }
    let mode = match q.get("mode").map(String::as_str) {
        None | Some("full") => crate::retrain::Mode::Full,
        Some("update") => crate::retrain::Mode::Update,
        Some(other) => {
            return ApiError::bad("mode", format!("{other:?}: expected full or update"))
                .into_response()
        }
    };
    if st.retrainer.start(st.live.clone(), st.store.clone(), mode) {
        (StatusCode::ACCEPTED, Json(json!({"started": true}))).into_response()
    } else {
        ApiError {
            status: StatusCode::CONFLICT,
            message: "a retrain is already running".into(),
            field: None,
        }
        .into_response()
    }
}

async fn activate(
    State(st): State<Arc<AppState>>,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let Ok(v) = version.parse::<u32>() else {
        return Err(ApiError::bad(
            "version",
            format!("{version:?}: expected a whole number"),
        ));
    };
    let (r, live) = (st.retrainer.clone(), st.live.clone());
    match tokio::task::spawn_blocking(move || r.activate(&live, v))
        .await
        .map_err(ApiError::internal)?
    {
        Ok(v) => Ok(Json(json!({"live": v.version, "version": v})).into_response()),
        Err(e) => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: e.to_string(),
            field: Some("version".into()),
        }),
    }
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    let c = st.live.counts();
    Json(json!({
        "status": "ok",
        "model": st.live.model_name(),
        "users": c.users,
        "items": c.items,
        "api_events": c.api_events,
        "events_last_minute": c.events_last_minute,
        "last_seq": c.last_seq,
        "recommend_p99_ms": st.metrics.recommend.quantile(0.99) * 1e3,
    }))
    .into_response()
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    use std::fmt::Write as _;
    let c = st.live.counts();
    let m = &st.metrics;
    let mut s = String::new();
    let mut gauge = |name: &str, help: &str, v: f64| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge("seer_users", "Users known to the server.", c.users as f64);
    gauge("seer_items", "Items in the catalogue.", c.items as f64);
    gauge(
        "seer_last_seq",
        "Highest event sequence number applied.",
        c.last_seq as f64,
    );
    gauge(
        "seer_unknown_item_events",
        "Stored events whose item the live model does not know.",
        c.unknown_item_events as f64,
    );
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter(
        "seer_events_acked_total",
        "Events acknowledged (durable).",
        m.events_acked.load(Ordering::Relaxed),
    );
    counter(
        "seer_events_duplicate_total",
        "Events whose idempotency key was already stored.",
        m.events_duplicate.load(Ordering::Relaxed),
    );
    counter(
        "seer_http_client_errors_total",
        "Requests answered 4xx.",
        m.client_errors.load(Ordering::Relaxed),
    );
    counter(
        "seer_http_server_errors_total",
        "Requests answered 5xx.",
        m.server_errors.load(Ordering::Relaxed),
    );
    m.recommend
        .render("seer_recommend_duration_seconds", &mut s);
    m.ingest.render("seer_ingest_duration_seconds", &mut s);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response()
}

async fn openapi(State(st): State<Arc<AppState>>) -> Response {
    let cols: Vec<(String, Vec<String>)> = st
        .live
        .data()
        .interactions
        .context
        .iter()
        .map(|c| (c.name.clone(), c.values.ids().to_vec()))
        .collect();
    let data = st.live.data();
    let fields: Vec<&seer_data::TextColumn> = data
        .item_text
        .iter()
        .filter(|c| CATEGORY_FIELDS.contains(&c.name.as_str()))
        .collect();
    let categories = (!fields.is_empty()).then(|| {
        let mut set: Vec<String> = fields
            .iter()
            .flat_map(|f| f.values.iter())
            .flat_map(|v| v.split(" | "))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        set.sort();
        set.dedup();
        set
    });
    Json(crate::openapi::document_for(
        &st.limits,
        &cols,
        categories.as_deref(),
        st.live.has_encoder(),
    ))
    .into_response()
}

async fn dashboard() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::dashboard::PAGE,
    )
        .into_response()
}

async fn docs() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::openapi::DOCS_PAGE,
    )
        .into_response()
}

/// The scope a request needs (`None`: open, e.g. `/health`).
fn needed_scope(method: &axum::http::Method, path: &str) -> Option<Scope> {
    use axum::http::Method;
    if ["/", "/health", "/openapi.json", "/docs"].contains(&path) {
        return None;
    }
    Some(match *method {
        Method::GET | Method::HEAD => Scope::Read,
        Method::DELETE => Scope::Admin,
        _ if path.starts_with("/v1/models") => Scope::Admin,
        _ => Scope::Write,
    })
}

/// API keys: `Authorization: Bearer KEY` (or `X-API-Key: KEY`), scope and rate checked.
async fn authenticate(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(need) = needed_scope(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| req.headers().get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(|t| t.trim().to_string());
    let st2 = st.clone();
    // Argon2 on a cache miss is deliberately slow: off the async threads.
    let verdict = tokio::task::spawn_blocking(move || {
        st2.auth.check(st2.store.as_ref(), token.as_deref(), need)
    })
    .await;
    match verdict {
        Ok(Ok(())) => next.run(req).await,
        Ok(Err(Denied::Unauthenticated(m))) => ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: m.to_string(),
            field: Some("authorization".into()),
        }
        .into_response(),
        Ok(Err(Denied::Forbidden(scope))) => ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("this key lacks the {} scope", scope.name()),
            field: Some("authorization".into()),
        }
        .into_response(),
        Ok(Err(Denied::RateLimited(wait))) => {
            let mut r = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!("rate limit of this key exceeded; retry in {wait:.2} s"),
                field: None,
            }
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{}", wait.ceil() as u64)) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Counts 4xx / 5xx answers.
async fn count_errors(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    let s = res.status();
    if s.is_client_error() {
        st.metrics.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if s.is_server_error() {
        st.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    res
}

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.limits.max_body;
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/recommend/{user}", get(get_recommend))
        .route("/v1/recommend-session", post(post_session))
        .route("/v1/items/{item}/similar", get(get_similar))
        .route(
            "/v1/items/{item}",
            get(get_item).put(put_item).delete(delete_item),
        )
        .route("/v1/search", get(get_search))
        .route("/v1/users/{user}/history", get(get_history))
        .route("/v1/users/{user}", delete(delete_user).put(put_user))
        .route("/v1/models", get(list_models))
        .route("/v1/models/retrain", post(retrain))
        .route("/v1/models/{version}/activate", post(activate))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .route("/", get(dashboard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_errors,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
