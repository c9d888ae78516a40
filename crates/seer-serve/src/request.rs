//! What every route shares about a request: the JSON error that names the offending field
//! ([`ApiError`]), body parsing with field paths, and the checks of one event.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use seer_store::NewEvent;

/// A JSON error response naming the offending field.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(crate) fn bad(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.to_string(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.field {
            Some(f) => json!({"error": self.message, "field": f}),
            None => json!({"error": self.message}),
        };
        (self.status, Json(body)).into_response()
    }
}

/// One event as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventIn {
    user: String,
    item: String,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    rating: Option<f32>,
    #[serde(default)]
    context: HashMap<String, String>,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Batch {
    pub(crate) events: Vec<EventIn>,
}

/// Parses a JSON body; a type or shape error names the field's path.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // syntax errors have no path ("." or "?"): the body as a whole is at fault
        let field = if path == "." || path.starts_with('?') {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad(field, e.inner().to_string())
    })
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks one event; the error names `events[i].FIELD`.
pub(crate) fn validate(i: usize, e: EventIn) -> Result<NewEvent, ApiError> {
    let f = |name: &str| format!("events[{i}].{name}");
    for (name, v) in [("user", &e.user), ("item", &e.item)] {
        if v.is_empty() {
            return Err(ApiError::bad(f(name), "must not be empty"));
        }
        if v.chars().count() > 256 {
            return Err(ApiError::bad(f(name), "longer than 256 characters"));
        }
    }
    let ts = e.ts.unwrap_or_else(now_secs);
    // 1970 .. 2200: anything else is a unit mistake (milliseconds) or garbage
    if !(0..=7_258_118_400).contains(&ts) {
        return Err(ApiError::bad(
            f("ts"),
            format!("{ts} is not unix seconds between 1970 and 2200 (milliseconds?)"),
        ));
    }
    let rating = e.rating.unwrap_or(1.0);
    if !(rating.is_finite() && rating.abs() <= 1e6) {
        return Err(ApiError::bad(f("rating"), "must be a number within ±1e6"));
    }
    if let Some(k) = &e.key {
        if k.is_empty() || k.chars().count() > 256 {
            return Err(ApiError::bad(f("key"), "must be 1 to 256 characters"));
        }
    }
    let mut context: Vec<(String, String)> = e.context.into_iter().collect();
    context.sort();
    Ok(NewEvent {
        user: e.user,
        item: e.item,
        ts,
        kind: e.kind.unwrap_or_else(|| "event".into()),
        rating,
        context,
        key: e.key,
    })
}
