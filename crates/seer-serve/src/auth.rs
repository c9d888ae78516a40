//! API keys: created with `seer keys create`, stored hashed with Argon2id, checked on every
//! request with per-key scopes and rate limits.
//!
//! A key reads `seer_<id>_<secret>`: the id finds the record, the 32-byte random secret is
//! verified against its Argon2id hash. Argon2 is deliberately slow (tens of milliseconds), so a
//! verified key is remembered for [`CACHE_SECONDS`] under the SHA-256 of the whole token; a
//! revoked key therefore stops working within that time. Scopes nest: `admin` ⊇ `write` ⊇
//! `read`. Each key has a token bucket of `rate` requests per second (burst: two seconds'
//! worth); beyond it requests get 429.
//!
//! While the store holds no key at all the server is open (and says so in its log at start):
//! the first `seer keys create` turns authentication on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::SqliteStore;

/// How long a verified key is trusted without checking the store again.
pub const CACHE_SECONDS: u64 = 10;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Recommendations, histories, metrics.
    Read,
    /// Also post events.
    Write,
    /// Also delete users and manage the server.
    Admin,
}

impl Scope {
    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Public id (the token's middle part).
    pub id: String,
    /// A label for people.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// Requests per second allowed.
    pub rate: f64,
    /// Unix seconds.
    pub created: i64,
    /// Revoked keys are refused.
    pub revoked: bool,
}

impl SqliteStore {
    /// Creates a key; returns its info and the token (shown once, never stored).
    pub fn create_key(&self, name: &str, scope: Scope, rate: f64) -> Result<(KeyInfo, String)> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Error::store(self.path(), "a key's rate must be > 0"));
        }
        let hex = |n: usize| -> String {
            let mut b = vec![0u8; n];
            rand::rng().fill_bytes(&mut b);
            b.iter().map(|x| format!("{x:02x}")).collect()
        };
        let (id, secret) = (hex(6), hex(32));
        let mut salt_bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut salt_bytes);
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| Error::store(self.path(), e))?;
        let hash = Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| Error::store(self.path(), e))?
            .to_string();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let conn = self.writer_conn()?;
        conn.execute(
            "INSERT INTO api_keys (id, name, scope, hash, rate, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, name, scope.name(), hash, rate, created],
        )
        .map_err(|e| Error::store(self.path(), e))?;
        let info = KeyInfo {
            id: id.clone(),
            name: name.to_string(),
            scope,
            rate,
            created,
            revoked: false,
        };
        Ok((info, format!("seer_{id}_{secret}")))
    }

    /// Every key, oldest first.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        Ok(self.key_rows(None)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Revokes key `id`; false when there is no such key.
    pub fn revoke_key(&self, id: &str) -> Result<bool> {
        let conn = self.writer_conn()?;
        let n = conn
            .execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1", params![id])
            .map_err(|e| Error::store(self.path(), e))?;
        Ok(n > 0)
    }

    /// Whether any key exists (revoked ones count: revoking every key does not open the
    /// server).
    pub fn has_keys(&self) -> Result<bool> {
        let conn = self.writer_conn()?;
        conn.query_row("SELECT EXISTS(SELECT 1 FROM api_keys)", [], |r| r.get(0))
            .map_err(|e| Error::store(self.path(), e))
    }

    fn key_rows(&self, id: Option<&str>) -> Result<Vec<(KeyInfo, String)>> {
        let conn = self.writer_conn()?;
        let sql = "SELECT id, name, scope, hash, rate, created, revoked FROM api_keys \
                   WHERE ?1 IS NULL OR id = ?1 ORDER BY created, id";
        let mut st = conn
            .prepare(sql)
            .map_err(|e| Error::store(self.path(), e))?;
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
            .map_err(|e| Error::store(self.path(), e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::store(self.path(), e))
    }

    /// The key `token` names, when its secret verifies and it is not revoked.
    pub fn verify_key(&self, token: &str) -> Result<Option<KeyInfo>> {
        let Some((id, secret)) = token.strip_prefix("seer_").and_then(|t| t.split_once('_')) else {
            return Ok(None);
        };
        let Some((info, hash)) = self.key_rows(Some(id))?.into_iter().next() else {
            return Ok(None);
        };
        if info.revoked {
            return Ok(None);
        }
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return Ok(None);
        };
        Ok(Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
            .then_some(info))
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    /// No key, or a key that does not verify (401).
    Unauthenticated(&'static str),
    /// The key's scope is too small (403).
    Forbidden(Scope),
    /// Over the key's rate (429), with seconds to wait.
    RateLimited(f64),
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Verified-key cache and rate-limit buckets.
#[derive(Debug, Default)]
pub struct Auth {
    cache: Mutex<HashMap<[u8; 32], (KeyInfo, Instant)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    open: Mutex<Option<(bool, Instant)>>,
}

impl Auth {
    /// Whether the server is open (no key exists); re-read from the store every
    /// [`CACHE_SECONDS`].
    pub fn is_open(&self, store: &SqliteStore) -> bool {
        let mut o = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, at)) = *o {
            if at.elapsed().as_secs() < CACHE_SECONDS {
                return v;
            }
        }
        // an unreadable key table counts as closed: never fail open
        let v = !store.has_keys().unwrap_or(true);
        *o = Some((v, Instant::now()));
        v
    }

    /// Checks `token` for `need`; blocking (Argon2 on a cache miss).
    pub fn check(
        &self,
        store: &SqliteStore,
        token: Option<&str>,
        need: Scope,
    ) -> std::result::Result<(), Denied> {
        if self.is_open(store) {
            return Ok(());
        }
        let Some(token) = token else {
            return Err(Denied::Unauthenticated(
                "an API key is required: Authorization: Bearer <key>",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = {
            let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            c.get(&digest)
                .filter(|(_, at)| at.elapsed().as_secs() < CACHE_SECONDS)
                .map(|(k, _)| k.clone())
        };
        let info = match cached {
            Some(k) => k,
            None => match store.verify_key(token) {
                Ok(Some(k)) => {
                    let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                    c.insert(digest, (k.clone(), Instant::now()));
                    k
                }
                _ => return Err(Denied::Unauthenticated("invalid or revoked API key")),
            },
        };
        if info.scope < need {
            return Err(Denied::Forbidden(need));
        }
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let burst = (info.rate * 2.0).max(1.0);
        let bucket = b.entry(info.id.clone()).or_insert(Bucket {
            tokens: burst,
            at: Instant::now(),
        });
        let now = Instant::now();
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * info.rate).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Denied::RateLimited((1.0 - bucket.tokens) / info.rate));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_verify_scope_revoke_and_rate_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("e.db"), |_| {}).unwrap();
        let auth = Auth::default();
        // no keys: open
        assert!(auth.check(&store, None, Scope::Admin).is_ok());
        let (info, token) = store.create_key("ci", Scope::Write, 5.0).unwrap();
        assert!(token.starts_with(&format!("seer_{}_", info.id)));
        // the secret is not stored, only its Argon2 hash
        let conn = rusqlite::Connection::open(dir.path().join("e.db")).unwrap();
        let hash: String = conn
            .query_row("SELECT hash FROM api_keys", [], |r| r.get(0))
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(token.rsplit('_').next().unwrap()));
        let auth = Auth::default(); // a fresh server: keys exist now
        assert_eq!(
            auth.check(&store, None, Scope::Read),
            Err(Denied::Unauthenticated(
                "an API key is required: Authorization: Bearer <key>"
            ))
        );
        assert!(matches!(
            auth.check(&store, Some("seer_nope_nope"), Scope::Read),
            Err(Denied::Unauthenticated(_))
        ));
        let wrong = format!("seer_{}_{}", info.id, "0".repeat(64));
        assert!(matches!(
            auth.check(&store, Some(&wrong), Scope::Read),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(auth.check(&store, Some(&token), Scope::Read).is_ok());
        assert!(auth.check(&store, Some(&token), Scope::Write).is_ok());
        assert_eq!(
            auth.check(&store, Some(&token), Scope::Admin),
            Err(Denied::Forbidden(Scope::Admin))
        );
        // burst of 2 s × 5/s = 10 tokens, 3 used above (the forbidden one did not count)
        let mut limited = 0;
        for _ in 0..20 {
            if matches!(
                auth.check(&store, Some(&token), Scope::Read),
                Err(Denied::RateLimited(_))
            ) {
                limited += 1;
            }
        }
        assert!((10..=13).contains(&limited), "{limited}");
        assert!(store.revoke_key(&info.id).unwrap());
        let listed = store.list_keys().unwrap();
        assert!(listed.iter().find(|k| k.id == info.id).unwrap().revoked);
        let fresh = Auth::default();
        assert!(matches!(
            fresh.check(&store, Some(&token), Scope::Read),
            Err(Denied::Unauthenticated(_))
        ));
    }
}
