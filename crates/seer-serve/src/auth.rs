//! API keys on every request: created with `seer keys create`, kept hashed with Argon2id by
//! the store (`seer_store::keys`), checked here with per-key scopes and rate limits.
//!
//! Argon2 is deliberately slow (tens of milliseconds), so a
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

use sha2::{Digest, Sha256};

pub use seer_store::keys::{KeyInfo, Scope};
use seer_store::Store;

/// How long a verified key is trusted without checking the store again.
pub const CACHE_SECONDS: u64 = 10;

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
    pub fn is_open(&self, store: &dyn Store) -> bool {
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
        store: &dyn Store,
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
    use seer_store::SqliteStore;

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
