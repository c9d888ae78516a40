//! seer's durable event store: the [`Store`] trait (events, items, user profiles, API keys)
//! and its SQLite backend ([`SqliteStore`]).
//!
//! An event is acknowledged only after the transaction holding it is durable; events may
//! carry an idempotency key, stored once. The trait is what the server sees, so a second
//! backend (PostgreSQL, for several stateless replicas) goes here beside SQLite.
//!
//! May import: `seer-core` at most. Never: HTTP (axum), models, the command line.

pub mod error;
pub mod keys;
pub mod sqlite;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use keys::{KeyInfo, Scope};
pub use sqlite::{SqliteStore, MIGRATIONS};

/// One event as clients send it, after validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The user's original id.
    pub user: String,
    /// The item's original id.
    pub item: String,
    /// Unix seconds.
    pub ts: i64,
    /// Event type (`click`, `purchase`, …).
    pub kind: String,
    /// Rating or weight.
    pub rating: f32,
    /// Context as `(column, value)` pairs.
    pub context: Vec<(String, String)>,
    /// Idempotency key: the same key is stored once.
    pub key: Option<String>,
}

/// A stored event with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the store's total order (1, 2, …).
    pub seq: i64,
    /// The event.
    pub event: NewEvent,
}

/// The store's answer for one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The event's sequence number (the first one's, for a repeated idempotency key).
    pub seq: i64,
    /// True when the idempotency key was already stored: nothing new was written.
    pub duplicate: bool,
}

/// A durable, ordered event log. Implementations must make every acknowledged event survive
/// a crash of the process (and of the machine, as far as the file system's fsync allows).
pub trait Store: Send + Sync {
    /// Appends `events` durably, in order; returns one [`Ack`] per event. Calls from many
    /// threads may be committed together.
    fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Ack>>;
    /// Every stored event with `seq > after`, in order.
    fn events_after(&self, after: i64) -> Result<Vec<StoredEvent>> {
        self.events_page(after, i64::MAX)
    }
    /// At most `limit` stored events with `seq > after`, in order (replay in bounded memory).
    fn events_page(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>>;
    /// Number of stored events.
    fn count(&self) -> Result<i64>;
    /// Deletes every event of `user` and their profile; returns how many events.
    fn delete_user(&self, user: &str) -> Result<usize>;
    /// Creates or replaces an item (`deleted` false) or a user profile, durably.
    fn put_entity(&self, kind: Kind, entity: &Entity) -> Result<()>;
    /// Marks `item` deleted (it is never recommended again until it is put again); an item
    /// the store has not seen is recorded as deleted with no fields.
    fn delete_item(&self, item: &str) -> Result<()>;
    /// Every stored item or user profile, in the order each was first put.
    fn entities(&self, kind: Kind) -> Result<Vec<Entity>>;

    /// Stores a minted key record with the hash of its secret (never the secret).
    fn insert_key(&self, key: &KeyInfo, hash: &str) -> Result<()>;
    /// Key `id` with its stored hash.
    fn key(&self, id: &str) -> Result<Option<(KeyInfo, String)>>;
    /// Every key, oldest first.
    fn list_keys(&self) -> Result<Vec<KeyInfo>>;
    /// Revokes key `id`; false when there is no such key.
    fn revoke_key(&self, id: &str) -> Result<bool>;
    /// Whether any key exists (revoked ones count: revoking every key does not open the
    /// server).
    fn has_keys(&self) -> Result<bool>;

    /// Creates a key; returns its record and the token (shown once, never stored).
    fn create_key(&self, name: &str, scope: Scope, rate: f64) -> Result<(KeyInfo, String)> {
        let m = keys::mint(name, scope, rate)?;
        self.insert_key(&m.info, &m.hash)?;
        Ok((m.info, m.token))
    }

    /// The key `token` names, when its secret verifies and it is not revoked.
    fn verify_key(&self, token: &str) -> Result<Option<KeyInfo>> {
        let Some((id, secret)) = keys::parse_token(token) else {
            return Ok(None);
        };
        Ok(self
            .key(id)?
            .filter(|(info, hash)| !info.revoked && keys::verify_secret(secret, hash))
            .map(|(info, _)| info))
    }
}

/// Which table [`Store::put_entity`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Catalogue items (text fields: title, categories, …).
    Item,
    /// User profiles (profile text and attributes).
    User,
}

/// An item or a user profile put through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The original id.
    pub id: String,
    /// Text fields as `(name, value)` pairs, sorted by name (lists joined with `" | "`).
    pub fields: Vec<(String, String)>,
    /// Items only: deleted (not recommendable).
    pub deleted: bool,
}
