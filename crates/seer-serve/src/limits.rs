//! Request limits of the HTTP API.

use serde::{Deserialize, Serialize};

/// Limits of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, bytes. Default 4 MiB.
    pub max_body: usize,
    /// Most events in one batch. Default 10,000.
    pub max_batch: usize,
    /// Largest `k` of a recommendation. Default 1,000.
    pub max_k: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 4 << 20,
            max_batch: 10_000,
            max_k: 1_000,
        }
    }
}
