//! seer's server: a durable event store (`seer_store`), the in-memory live view of users and
//! the model ([`live`]) and the HTTP API ([`api`]).
//!
//! Flow of an event: `POST /v1/events` → validated → queued to the store's writer → group
//! commit (WAL, `synchronous=FULL`) → [`live::Live::apply`] updates the user's history →
//! the client gets its acknowledgement. The next `GET /v1/recommend/{user}` reads that
//! history, so a new event changes the very next recommendation.

pub mod api;
pub mod auth;
mod catalogue;
pub mod dashboard;
pub mod error;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod openapi;
mod request;
pub mod retrain;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{Error, Result};

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one, printed at start).
    pub addr: SocketAddr,
    /// The SQLite event store file (created when missing).
    pub store: PathBuf,
    /// Request limits.
    pub limits: api::Limits,
    /// The directory of the model the server starts with (version 0).
    pub model_dir: PathBuf,
    /// The latest event time that model was trained on, when known.
    pub model_trained_until: Option<i64>,
    /// Background retraining.
    pub retrain: retrain::RetrainConfig,
}

/// Opens the store, replays it into `live`, and serves until SIGTERM or Ctrl-C; in-flight
/// requests finish and the store's writer commits what it holds before this returns.
pub async fn serve(config: ServeConfig, live: Arc<live::Live>) -> Result<()> {
    let l2 = live.clone();
    let store = seer_store::SqliteStore::open(&config.store, move |evs| l2.apply(evs))?;
    // Items and profiles put through the API first (events may refer to them), in the
    // order they were first put, so new items get the indices they had before.
    let items = seer_store::Store::entities(&store, seer_store::Kind::Item)?;
    live.put_items(&items)?;
    let users = seer_store::Store::entities(&store, seer_store::Kind::User)?;
    live.put_users(&users)?;
    tracing::info!(
        items = items.len(),
        profiles = users.len(),
        "catalogue replayed"
    );
    // Replay in pages: memory stays bounded whatever the store's size.
    let (mut after, mut replayed) = (0i64, 0usize);
    loop {
        let page = seer_store::Store::events_page(&store, after, 50_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        replayed += page.len();
        live.apply(&page);
    }
    tracing::info!(events = replayed, "store replayed");
    let state = Arc::new(api::AppState {
        live: live.clone(),
        store: Arc::new(store),
        limits: config.limits,
        metrics: Default::default(),
        auth: Default::default(),
        retrainer: Arc::new(retrain::Retrainer::new(
            config.retrain.clone(),
            &live.model_spec(),
            &config.model_dir,
            config.model_trained_until,
        )),
        retrained_at: Default::default(),
    });
    // The version live when the server last stopped goes live again (its users matched by
    // id, new items replayed above), so a restart does not fall back to the starting model.
    if let Some(v) = state.retrainer.saved_live() {
        match state.retrainer.activate(&live, v) {
            Ok(_) => tracing::info!(version = v, "live model version restored"),
            Err(e) => {
                tracing::warn!(version = v, error = %e, "could not restore the live version; serving the starting model")
            }
        }
    }
    if state.auth.is_open(state.store.as_ref()) {
        tracing::warn!(
            "no API keys in {}: the API is open to anyone who can reach {}; create one with \
             `seer keys create --store {} --scope admin`",
            config.store.display(),
            config.addr,
            config.store.display()
        );
    }
    if config.retrain.interval_secs > 0 {
        // The schedule: a retrain every interval when events arrived since the last one.
        let st = state.clone();
        let period = std::time::Duration::from_secs(config.retrain.interval_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let n = st.live.counts().api_events;
                let last = st.retrained_at.load(std::sync::atomic::Ordering::Relaxed);
                if n > last
                    && st
                        .retrainer
                        .start(st.live.clone(), st.store.clone(), retrain::Mode::Full)
                {
                    st.retrained_at
                        .store(n, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(events = n - last, "scheduled retrain started");
                }
            }
        });
    }
    let app = api::router(state.clone());
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| Error::Load(format!("binding {}: {e}", config.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Load(e.to_string()))?;
    // Tests and scripts read this line to find the port.
    println!("listening on http://{addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::Load(format!("server: {e}")))?;
    tracing::info!("shutting down: flushing the event store");
    drop(state); // the store's writer drains its queue and stops
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
