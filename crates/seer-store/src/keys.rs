//! API keys as the store keeps them: a public id, a label, a scope, a rate and the Argon2id
//! hash of the secret (never the secret itself).
//!
//! A key reads `seer_<id>_<secret>`: the id finds the record, the 32-byte random secret is
//! verified against its Argon2id hash. Minting and verifying live here, next to the record,
//! so every backend stores the same thing; the request-time checks (cache, scopes, rate
//! limits) are the server's.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// A freshly minted key: the record to store, the hash to store with it, and the token to
/// show once.
#[derive(Debug)]
pub struct Minted {
    /// The record.
    pub info: KeyInfo,
    /// Argon2id PHC string of the secret.
    pub hash: String,
    /// `seer_<id>_<secret>`: shown once, never stored.
    pub token: String,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Mints a new key: a 6-byte id, a 32-byte secret and the secret's Argon2id hash.
pub fn mint(name: &str, scope: Scope, rate: f64) -> Result<Minted> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Error::KeyRate(rate));
    }
    let (id, secret) = (random_hex(6), random_hex(32));
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let hashing = |e: argon2::password_hash::Error| Error::KeyHash(e.to_string());
    let salt = SaltString::encode_b64(&salt_bytes).map_err(hashing)?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(hashing)?
        .to_string();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let info = KeyInfo {
        id: id.clone(),
        name: name.to_string(),
        scope,
        rate,
        created,
        revoked: false,
    };
    Ok(Minted {
        info,
        hash,
        token: format!("seer_{id}_{secret}"),
    })
}

/// Splits `seer_<id>_<secret>` into id and secret; `None` for anything else.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    token.strip_prefix("seer_").and_then(|t| t.split_once('_'))
}

/// Whether `secret` matches the stored Argon2 `hash` (an unparsable hash never matches).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_and_others_do_not() {
        let m = mint("ci", Scope::Write, 5.0).unwrap();
        assert!(m.hash.starts_with("$argon2id$"), "{}", m.hash);
        let (id, secret) = parse_token(&m.token).unwrap();
        assert_eq!(id, m.info.id);
        assert!(!m.hash.contains(secret));
        assert!(verify_secret(secret, &m.hash));
        assert!(!verify_secret(&"0".repeat(64), &m.hash));
        assert!(!verify_secret(secret, "not a hash"));
        assert_eq!(parse_token("bearer xyz"), None);
    }

    #[test]
    fn a_rate_that_is_not_positive_is_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                mint("x", Scope::Read, rate),
                Err(Error::KeyRate(_))
            ));
        }
    }

    #[test]
    fn scopes_nest_and_round_trip_their_names() {
        assert!(Scope::Read < Scope::Write && Scope::Write < Scope::Admin);
        for s in [Scope::Read, Scope::Write, Scope::Admin] {
            assert_eq!(Scope::parse(s.name()), Some(s));
        }
        assert_eq!(Scope::parse("root"), None);
    }
}
