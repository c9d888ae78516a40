//! The SQLite backend of the [`Store`] trait.
//!
//! An event is acknowledged only after the transaction holding it has committed with
//! `synchronous=FULL` in WAL mode, i.e. after its WAL frames are fsynced. Writes go through one
//! writer thread that takes every batch waiting in its queue into a single transaction (group
//! commit): under load many requests share one fsync, so throughput grows with concurrency
//! while each acknowledgement still means "on disk". Events may carry an idempotency key; a
//! key seen before is not stored again and its first sequence number is returned, so a client
//! that retries after a crash cannot duplicate an event.
//!
//! Schema versions are tracked in SQLite's `user_version`; [`MIGRATIONS`] run in order at
//! open, inside a transaction each.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::keys::{KeyInfo, Scope};
use crate::{Ack, Entity, Kind, NewEvent, Store, StoredEvent};

/// The table [`Kind`] is kept in.
fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Item => "items",
        Kind::User => "users",
    }
}

/// Schema migrations, applied in order; `user_version` = how many have run.
pub const MIGRATIONS: &[&str] = &[
    // 1: the event log
    "CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT    NOT NULL,
        item_id TEXT    NOT NULL,
        ts      INTEGER NOT NULL,
        kind    TEXT    NOT NULL,
        rating  REAL    NOT NULL,
        context TEXT    NOT NULL,
        idem    TEXT    UNIQUE
    );
    CREATE INDEX events_user ON events(user_id);",
    // 2: API keys (Argon2id hashes, never the secrets)
    "CREATE TABLE api_keys (
        id      TEXT    PRIMARY KEY,
        name    TEXT    NOT NULL,
        scope   TEXT    NOT NULL,
        hash    TEXT    NOT NULL,
        rate    REAL    NOT NULL,
        created INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );",
    // 3: items and user profiles put through the API (first-put order = rowid order)
    "CREATE TABLE items (
        id      TEXT    PRIMARY KEY,
        fields  TEXT    NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE users (
        id      TEXT    PRIMARY KEY,
        fields  TEXT    NOT NULL
    );",
];

type Request = (
    Vec<NewEvent>,
    tokio::sync::oneshot::Sender<Result<Vec<Ack>>>,
);

/// SQLite in WAL mode, `synchronous=FULL`, one writer thread with group commit.
pub struct SqliteStore {
    path: PathBuf,
    tx: mpsc::SyncSender<Request>,
    writer: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Opens `path` with the store's pragmas.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| Error::store(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| Error::store(path, e))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| Error::store(path, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| Error::store(path, e))?;
    Ok(conn)
}

/// Runs the migrations `conn` has not seen yet; a file from a newer seer is refused.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| Error::store(path, e))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Schema {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let t = conn.transaction().map_err(|e| Error::store(path, e))?;
        t.execute_batch(sql).map_err(|e| Error::store(path, e))?;
        t.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|e| Error::store(path, e))?;
        t.commit().map_err(|e| Error::store(path, e))?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}

/// Writes one group of requests in one transaction; each request gets its acks.
fn write_group(conn: &mut Connection, group: &[Vec<NewEvent>]) -> rusqlite::Result<Vec<Vec<Ack>>> {
    let t = conn.transaction()?;
    let mut out = Vec::with_capacity(group.len());
    {
        let mut insert = t.prepare_cached(
            "INSERT INTO events (user_id, item_id, ts, kind, rating, context, idem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq",
        )?;
        let mut existing = t.prepare_cached("SELECT seq FROM events WHERE idem = ?1")?;
        for events in group {
            let mut acks = Vec::with_capacity(events.len());
            for e in events {
                // A known key first (the only writer is this thread: no race), so a
                // duplicate neither writes nor uses up a sequence number.
                if let Some(k) = &e.key {
                    let seen: Option<i64> =
                        existing.query_row(params![k], |r| r.get(0)).optional()?;
                    if let Some(seq) = seen {
                        acks.push(Ack {
                            seq,
                            duplicate: true,
                        });
                        continue;
                    }
                }
                let ctx = serde_json::to_string(&e.context).unwrap_or_else(|_| "[]".into());
                let seq: i64 = insert.query_row(
                    params![e.user, e.item, e.ts, e.kind, e.rating as f64, ctx, e.key],
                    |r| r.get(0),
                )?;
                acks.push(Ack {
                    seq,
                    duplicate: false,
                });
            }
            out.push(acks);
        }
    }
    t.commit()?;
    Ok(out)
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the store at `path` and starts its writer.
    /// `on_commit` runs on the writer thread after each durable commit, before the waiting
    /// requests are answered, with the newly stored events (duplicates excluded): the server
    /// updates its in-memory view there, so an acknowledged event is visible to the next read.
    pub fn open(
        path: &Path,
        mut on_commit: impl FnMut(&[StoredEvent]) + Send + 'static,
    ) -> Result<SqliteStore> {
        let mut conn = connect(path)?;
        migrate(&mut conn, path)?;
        // Bounded: a burst beyond this waits in the request handlers (backpressure).
        let (tx, rx) = mpsc::sync_channel::<Request>(1024);
        let wpath = path.to_owned();
        let writer = thread::Builder::new()
            .name("seer-store-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut reqs = vec![first];
                    // Group commit: everything already waiting shares this transaction.
                    while reqs.len() < 256 {
                        match rx.try_recv() {
                            Ok(r) => reqs.push(r),
                            Err(_) => break,
                        }
                    }
                    let batches: Vec<Vec<NewEvent>> =
                        reqs.iter_mut().map(|r| std::mem::take(&mut r.0)).collect();
                    match write_group(&mut conn, &batches) {
                        Ok(acks) => {
                            let fresh: Vec<StoredEvent> = batches
                                .iter()
                                .zip(&acks)
                                .flat_map(|(b, a)| b.iter().zip(a))
                                .filter(|(_, a)| !a.duplicate)
                                .map(|(e, a)| StoredEvent {
                                    seq: a.seq,
                                    event: e.clone(),
                                })
                                .collect();
                            on_commit(&fresh);
                            for ((_, reply), a) in reqs.into_iter().zip(acks) {
                                let _ = reply.send(Ok(a));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "store commit failed");
                            for (_, reply) in reqs {
                                let _ = reply.send(Err(Error::store(&wpath, e.to_string())));
                            }
                        }
                    }
                }
            })
            .map_err(|e| Error::store(path, e))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            tx,
            writer: Some(writer),
        })
    }

    /// Appends from async code: waits for the group commit without blocking the runtime.
    pub async fn append_async(&self, events: Vec<NewEvent>) -> Result<Vec<Ack>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let tx = self.tx.clone();
        // `send` blocks only when 1024 requests are already queued.
        tokio::task::spawn_blocking(move || tx.send((events, reply)))
            .await
            .map_err(|e| Error::store(&self.path, e.to_string()))?
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    fn reader(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::store(&self.path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| Error::store(&self.path, e))?;
        Ok(conn)
    }

    /// Keys with their hashes (`id` = one key, `None` = all), oldest first.
    fn key_rows(&self, id: Option<&str>) -> Result<Vec<(KeyInfo, String)>> {
        let conn = connect(&self.path)?;
        let sql = "SELECT id, name, scope, hash, rate, created, revoked FROM api_keys \
                   WHERE ?1 IS NULL OR id = ?1 ORDER BY created, id";
        let mut st = conn.prepare(sql).map_err(|e| Error::store(&self.path, e))?;
        let rows = st
            .query_map(params![id], |r| {
                let scope: String = r.get(2)?;
                Ok((
                    KeyInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        scope: Scope::parse(&scope).unwrap_or(Scope::Read),
                        rate: r.get(4)?,
                        created: r.get(5)?,
                        revoked: r.get::<_, i64>(6)? != 0,
                    },
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| Error::store(&self.path, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(&self.path, e))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SqliteStore {
    /// Closes the queue and waits for the writer to commit what it holds.
    fn drop(&mut self) {
        let (dead, _) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.tx, dead));
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Store for SqliteStore {
    fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Ack>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx.send((events, reply)).map_err(|_| Error::Closed)?;
        rx.blocking_recv().map_err(|_| Error::Closed)?
    }

    fn events_page(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        let conn = self.reader()?;
        let mut st = conn
            .prepare(
                "SELECT seq, user_id, item_id, ts, kind, rating, context, idem FROM events
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| Error::store(&self.path, e))?;
        let rows = st
            .query_map(params![after, limit], |r| {
                let ctx: String = r.get(6)?;
                Ok(StoredEvent {
                    seq: r.get(0)?,
                    event: NewEvent {
                        user: r.get(1)?,
                        item: r.get(2)?,
                        ts: r.get(3)?,
                        kind: r.get(4)?,
                        rating: r.get::<_, f64>(5)? as f32,
                        context: serde_json::from_str(&ctx).unwrap_or_default(),
                        key: r.get(7)?,
                    },
                })
            })
            .map_err(|e| Error::store(&self.path, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(&self.path, e))
    }

    fn count(&self) -> Result<i64> {
        self.reader()?
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .map_err(|e| Error::store(&self.path, e))
    }

    fn delete_user(&self, user: &str) -> Result<usize> {
        let mut conn = connect(&self.path)?;
        let t = conn
            .transaction()
            .map_err(|e| Error::store(&self.path, e))?;
        let n = t
            .execute("DELETE FROM events WHERE user_id = ?1", params![user])
            .map_err(|e| Error::store(&self.path, e))?;
        t.execute("DELETE FROM users WHERE id = ?1", params![user])
            .map_err(|e| Error::store(&self.path, e))?;
        t.commit().map_err(|e| Error::store(&self.path, e))?;
        Ok(n)
    }

    fn put_entity(&self, kind: Kind, entity: &Entity) -> Result<()> {
        let conn = connect(&self.path)?;
        let fields = serde_json::to_string(&entity.fields).unwrap_or_else(|_| "[]".into());
        let sql = match kind {
            Kind::Item => {
                "INSERT INTO items (id, fields, deleted) VALUES (?1, ?2, 0)
                 ON CONFLICT(id) DO UPDATE SET fields = excluded.fields, deleted = 0"
            }
            Kind::User => {
                "INSERT INTO users (id, fields) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET fields = excluded.fields"
            }
        };
        conn.execute(sql, params![entity.id, fields])
            .map_err(|e| Error::store(&self.path, e))?;
        Ok(())
    }

    fn delete_item(&self, item: &str) -> Result<()> {
        let conn = connect(&self.path)?;
        conn.execute(
            "INSERT INTO items (id, fields, deleted) VALUES (?1, '[]', 1)
             ON CONFLICT(id) DO UPDATE SET deleted = 1",
            params![item],
        )
        .map_err(|e| Error::store(&self.path, e))?;
        Ok(())
    }

    fn entities(&self, kind: Kind) -> Result<Vec<Entity>> {
        let conn = self.reader()?;
        let sql = match kind {
            Kind::Item => "SELECT id, fields, deleted FROM items ORDER BY rowid",
            Kind::User => "SELECT id, fields, 0 FROM users ORDER BY rowid",
        };
        let mut st = conn.prepare(sql).map_err(|e| Error::store(&self.path, e))?;
        let rows = st
            .query_map([], |r| {
                let fields: String = r.get(1)?;
                Ok(Entity {
                    id: r.get(0)?,
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    deleted: r.get::<_, i64>(2)? != 0,
                })
            })
            .map_err(|e| Error::store(&self.path, e))?;
        let out = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(&self.path, e))?;
        tracing::debug!(table = table(kind), n = out.len(), "entities read");
        Ok(out)
    }

    fn insert_key(&self, key: &KeyInfo, hash: &str) -> Result<()> {
        let conn = connect(&self.path)?;
        conn.execute(
            "INSERT INTO api_keys (id, name, scope, hash, rate, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.id, key.name, key.scope.name(), hash, key.rate, key.created],
        )
        .map_err(|e| Error::store(&self.path, e))?;
        Ok(())
    }

    fn key(&self, id: &str) -> Result<Option<(KeyInfo, String)>> {
        Ok(self.key_rows(Some(id))?.into_iter().next())
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        Ok(self.key_rows(None)?.into_iter().map(|(k, _)| k).collect())
    }

    fn revoke_key(&self, id: &str) -> Result<bool> {
        let conn = connect(&self.path)?;
        let n = conn
            .execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1", params![id])
            .map_err(|e| Error::store(&self.path, e))?;
        Ok(n > 0)
    }

    fn has_keys(&self) -> Result<bool> {
        let conn = connect(&self.path)?;
        conn.query_row("SELECT EXISTS(SELECT 1 FROM api_keys)", [], |r| r.get(0))
            .map_err(|e| Error::store(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: &str, item: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            user: user.into(),
            item: item.into(),
            ts: 1_700_000_000,
            kind: "click".into(),
            rating: 1.0,
            context: vec![("device".into(), "mobile".into())],
            key: key.map(String::from),
        }
    }

    #[test]
    fn appends_in_order_dedups_keys_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let store = SqliteStore::open(&path, move |evs| {
            s2.lock().unwrap().extend(evs.iter().map(|e| e.seq));
        })
        .unwrap();
        let a = store
            .append(vec![ev("u1", "a", Some("k1")), ev("u1", "b", None)])
            .unwrap();
        assert_eq!(
            a,
            [
                Ack {
                    seq: 1,
                    duplicate: false
                },
                Ack {
                    seq: 2,
                    duplicate: false
                }
            ]
        );
        // the same key again: nothing new, the first sequence number back
        let b = store
            .append(vec![ev("u2", "c", Some("k1")), ev("u2", "d", Some("k2"))])
            .unwrap();
        assert_eq!(
            b,
            [
                Ack {
                    seq: 1,
                    duplicate: true
                },
                Ack {
                    seq: 3,
                    duplicate: false
                }
            ]
        );
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
        assert_eq!(store.count().unwrap(), 3);
        drop(store);
        let store = SqliteStore::open(&path, |_| {}).unwrap();
        let all = store.events_after(0).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].event, ev("u2", "d", Some("k2")));
        assert_eq!(store.events_after(2).unwrap().len(), 1);
        assert_eq!(store.delete_user("u1").unwrap(), 2);
        assert_eq!(store.count().unwrap(), 1);
    }

    #[test]
    fn concurrent_appends_share_commits_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(SqliteStore::open(&dir.path().join("e.db"), |_| {}).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = store.clone();
                thread::spawn(move || {
                    for i in 0..25 {
                        let k = format!("{t}-{i}");
                        s.append(vec![ev("u", "i", Some(&k))]).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(store.count().unwrap(), 200);
    }

    #[test]
    fn items_and_profiles_persist_in_first_put_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let store = SqliteStore::open(&path, |_| {}).unwrap();
        let item = |id: &str, title: &str| Entity {
            id: id.into(),
            fields: vec![("title".into(), title.into())],
            deleted: false,
        };
        store.put_entity(Kind::Item, &item("b", "Bee")).unwrap();
        store.put_entity(Kind::Item, &item("a", "Ant")).unwrap();
        store.delete_item("b").unwrap();
        store.delete_item("z").unwrap(); // never put: recorded as deleted
        store.put_entity(Kind::Item, &item("z", "Zebra")).unwrap(); // put again: back
        store.put_entity(Kind::Item, &item("a", "Ant II")).unwrap(); // replaced in place
        let profile = Entity {
            id: "u1".into(),
            fields: vec![("about".into(), "loves sci-fi".into())],
            deleted: false,
        };
        store.put_entity(Kind::User, &profile).unwrap();
        store.append(vec![ev("u1", "a", None)]).unwrap();
        drop(store);
        let store = SqliteStore::open(&path, |_| {}).unwrap();
        let items = store.entities(Kind::Item).unwrap();
        let got: Vec<(&str, &str, bool)> = items
            .iter()
            .map(|e| {
                (
                    e.id.as_str(),
                    e.fields.first().map_or("", |f| f.1.as_str()),
                    e.deleted,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("b", "Bee", true),
                ("a", "Ant II", false),
                ("z", "Zebra", false)
            ]
        );
        assert_eq!(store.entities(Kind::User).unwrap(), [profile]);
        // Deleting the user removes the profile with the events.
        assert_eq!(store.delete_user("u1").unwrap(), 1);
        assert!(store.entities(Kind::User).unwrap().is_empty());
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        drop(SqliteStore::open(&path, |_| {}).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = SqliteStore::open(&path, |_| {}).unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
