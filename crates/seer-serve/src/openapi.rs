//! The OpenAPI 3.0 description of the API (`GET /openapi.json`) and a docs page (`GET /docs`).
//! Written by hand next to the handlers; `crates/seer-cli/tests/serve.rs` checks every route
//! of the router is described, and schemathesis (`benches/serve/schemathesis.sh`) checks the
//! server against it.

use serde_json::{json, Value};

use crate::limits::Limits;

/// The document, with the limits the server runs with.
/// A pattern for the `context` query parameter listing the data's columns and values
/// (`COLUMN=VALUE`, comma separated); a generic one when there are too many values to list.
pub fn context_pattern(columns: &[(String, Vec<String>)]) -> String {
    let esc = |t: &str| -> String {
        t.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ' {
                    c.to_string()
                } else {
                    format!("\\u{:04x}", c as u32)
                }
            })
            .collect()
    };
    let total: usize = columns.iter().map(|c| c.1.len()).sum();
    // empty: no context
    if columns.is_empty() {
        return "^$".into();
    }
    if total > 200 {
        return "^$|^([^=,]+=[^,]*)(,[^=,]+=[^,]*)*$".into();
    }
    let pair = columns
        .iter()
        .map(|(c, vs)| {
            format!(
                "{}=({})",
                esc(c),
                vs.iter().map(|v| esc(v)).collect::<Vec<_>>().join("|")
            )
        })
        .collect::<Vec<_>>()
        .join("|");
    format!("^$|^({pair})(,({pair}))*$")
}

/// The document, with the limits the server runs with, the data's context columns and its
/// categories (`None`: the catalogue has no category field, and the `category` parameter is
/// left out; up to 500 categories are listed as an enum).
pub fn document_for(
    limits: &Limits,
    columns: &[(String, Vec<String>)],
    categories: Option<&[String]>,
    text_encoder: bool,
) -> Value {
    let mut d = document(limits);
    // Free-text search needs the encoder: without one the route only explains that.
    if !text_encoder {
        if let Some(paths) = d.get_mut("paths").and_then(Value::as_object_mut) {
            paths.remove("/v1/search");
        }
    }
    if let Some(params) = d
        .pointer_mut("/paths/~1v1~1recommend~1{user}/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for p in params.iter_mut() {
            if p["name"] == "context" {
                p["schema"]["pattern"] = Value::String(context_pattern(columns));
            }
            if p["name"] == "category" {
                if let Some(c) = categories.filter(|c| c.len() <= 500) {
                    p["schema"]["enum"] = json!(c);
                }
            }
        }
        if categories.is_none() {
            params.retain(|p| p["name"] != "category");
        }
    }
    d
}

/// The document without data-specific patterns.
pub fn document(limits: &Limits) -> Value {
    let id = json!({"type": "string", "minLength": 1, "maxLength": 256});
    let error = json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "field": {"type": "string", "description": "the offending field, e.g. events[3].ts"}
        }
    });
    let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let auth_errors = json!({
        "401": err("missing, invalid or revoked API key"),
        "403": err("the key lacks the scope"),
        "429": err("the key's rate limit is exceeded (Retry-After header)"),
    });
    let with = |mut base: Value| {
        if let (Some(b), Some(a)) = (base.as_object_mut(), auth_errors.as_object()) {
            for (k, v) in a {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    };
    let user_param = json!({"name": "user", "in": "path", "required": true,
        "schema": {"type": "string", "minLength": 1}});
    let user_id_param = json!({"name": "user", "in": "path", "required": true,
        "schema": {"type": "string", "minLength": 1, "maxLength": 256}});
    let item_param = json!({"name": "item", "in": "path", "required": true,
        "schema": {"type": "string", "minLength": 1, "maxLength": 256}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "seer",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time recommendations over a durable event store. Every \
                acknowledged event is on disk and in the user's next recommendation."
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                    "description": "seer_ID_SECRET from `seer keys create`; not needed while the store has no key"}
            },
            "schemas": {
                "Error": error,
                "Event": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["user", "item"],
                    "properties": {
                        "user": id,
                        "item": id,
                        "ts": {"type": "integer", "minimum": 0, "maximum": 7_258_118_400_i64,
                            "nullable": true,
                            "description": "unix seconds; the server's time when absent"},
                        "type": {"type": "string", "nullable": true, "description": "click, purchase, …"},
                        "rating": {"type": "number", "minimum": -1e6, "maximum": 1e6, "nullable": true},
                        "context": {"type": "object", "additionalProperties": {"type": "string"}},
                        "key": {"type": "string", "minLength": 1, "maxLength": 256, "nullable": true,
                            "description": "idempotency key: stored once, later sends acknowledged as duplicates"}
                    }
                },
                "EventBatch": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["events"],
                    "properties": {
                        "events": {"type": "array", "minItems": 1, "maxItems": limits.max_batch,
                            "items": {"$ref": "#/components/schemas/Event"}}
                    }
                },
                "Ack": {
                    "type": "object",
                    "required": ["acked", "results"],
                    "properties": {
                        "acked": {"type": "integer"},
                        "results": {"type": "array", "items": {
                            "type": "object", "required": ["seq", "duplicate"],
                            "properties": {"seq": {"type": "integer"}, "duplicate": {"type": "boolean"}}
                        }}
                    }
                },
                "Entity": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "fields": {
                            "type": "object",
                            "maxProperties": 64,
                            "description": "text fields (title, categories, brand, about, …): a string, or a list of strings; an item's fields are what its text vector reads",
                            "additionalProperties": {"oneOf": [
                                {"type": "string", "maxLength": 10_000},
                                {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 1_000}}
                            ]}
                        }
                    }
                },
                "Recommendations": {
                    "type": "object",
                    "required": ["user", "known", "history_len", "source", "model", "items"],
                    "properties": {
                        "user": {"type": "string"},
                        "known": {"type": "boolean"},
                        "history_len": {"type": "integer"},
                        "source": {"type": "string", "enum": ["model", "profile", "popularity"]},
                        "model": {"type": "string"},
                        "items": {"type": "array", "items": {
                            "type": "object", "required": ["item", "title", "score"],
                            "properties": {"item": {"type": "string"}, "title": {"type": "string"},
                                "score": {"type": "number"},
                                "why": {"type": "array", "items": {"type": "string"},
                                    "description": "with explain=true: why, in words"}}
                        }}
                    }
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/events": {"post": {
                "summary": "Insert events (acknowledged once durable)",
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/EventBatch"}}}},
                "responses": with(json!({
                    "200": {"description": "stored", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Ack"}}}},
                    "400": err("invalid body; `field` names the culprit"),
                    "413": {"description": format!("body above {} bytes", limits.max_body)},
                    "500": err("the store failed: nothing was acknowledged")
                }))
            }},
            "/v1/recommend/{user}": {"get": {
                "summary": "Top-k items for a user (seen items excluded)",
                "parameters": [
                    user_param,
                    {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": limits.max_k}},
                    {"name": "exclude", "in": "query", "schema": {"type": "string"},
                        "description": "item ids never to return, comma separated (ids outside the catalogue are ignored)"},
                    {"name": "context", "in": "query", "schema": {"type": "string"},
                        "description": "COLUMN=VALUE pairs, comma separated"},
                    {"name": "category", "in": "query", "schema": {"type": "string"},
                        "description": "only items with this category / genre / tag"},
                    {"name": "explain", "in": "query", "schema": {"type": "boolean"},
                        "description": "add each item's reasons (`why`)"}
                ],
                "responses": with(json!({
                    "200": {"description": "recommendations", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Recommendations"}}}},
                    "400": err("bad parameter; `field` names it")
                }))
            }},
            "/v1/recommend-session": {"post": {
                "summary": "Recommendations for an anonymous session from its recent items",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false, "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "maxItems": 1000, "items": {"type": "string"},
                            "description": "item ids, oldest first (ids outside the catalogue are skipped)"},
                        "k": {"type": "integer", "minimum": 1, "maximum": limits.max_k, "nullable": true},
                        "exclude": {"type": "array", "items": {"type": "string"}}
                    }}}}},
                "responses": with(json!({
                    "200": {"description": "recommendations", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["known_items", "items"],
                        "properties": {"known_items": {"type": "integer"}, "items": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": err("invalid body")
                }))
            }},
            "/v1/items/{item}/similar": {"get": {
                "summary": "Items like this one, by the live model",
                "parameters": [
                    {"name": "item", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}},
                    {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": limits.max_k}}
                ],
                "responses": with(json!({
                    "200": {"description": "similar items", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["item", "items"],
                        "properties": {"item": {"type": "string"}, "items": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": err("bad parameter"),
                    "404": err("unknown item")
                }))
            }},
            "/v1/items/{item}": {
                "get": {
                    "summary": "An item's fields (404 once deleted)",
                    "parameters": [item_param.clone()],
                    "responses": with(json!({
                        "200": {"description": "the item", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["item", "title", "fields", "deleted"],
                            "properties": {"item": {"type": "string"}, "title": {"type": "string"},
                                "fields": {"type": "object"}, "deleted": {"type": "boolean"}}}}}},
                        "404": err("unknown or deleted item")
                    }))
                },
                "put": {
                    "summary": "Create or replace an item; with a text encoder it is recommendable at once",
                    "parameters": [item_param.clone()],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Entity"}}}},
                    "responses": with(json!({
                        "200": {"description": "stored (durably) and live", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["item", "title", "created", "text_vector"],
                            "properties": {"item": {"type": "string"}, "title": {"type": "string"},
                                "created": {"type": "boolean"}, "text_vector": {"type": "boolean"}}}}}},
                        "400": err("invalid body or id; `field` names it"),
                        "413": {"description": format!("body above {} bytes", limits.max_body)}
                    }))
                },
                "delete": {
                    "summary": "Delete an item: never recommended again (until put again)",
                    "parameters": [item_param.clone()],
                    "responses": with(json!({
                        "200": {"description": "deleted", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["item", "deleted"],
                            "properties": {"item": {"type": "string"}, "deleted": {"type": "boolean"}}}}}},
                        "404": err("unknown item")
                    }))
                }
            },
            "/v1/search": {"get": {
                "summary": "Items for a free-text query, by the text encoder",
                "parameters": [
                    {"name": "q", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 1000}},
                    {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": limits.max_k}}
                ],
                "responses": with(json!({
                    "200": {"description": "matching items", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["items"],
                        "properties": {"query": {"type": "string"}, "items": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": err("bad parameter")
                }))
            }},
            "/v1/users/{user}/history": {"get": {
                "summary": "A user's events, oldest first",
                "parameters": [user_param],
                "responses": with(json!({
                    "200": {"description": "history", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["user", "events"],
                        "properties": {"user": {"type": "string"}, "events": {"type": "array", "items": {
                            "type": "object", "required": ["item", "ts"],
                            "properties": {"item": {"type": "string"}, "title": {"type": "string", "nullable": true}, "ts": {"type": "integer"}}}}}}}}},
                    "404": err("unknown user")
                }))
            }},
            "/v1/users/{user}": {
                "delete": {
                    "summary": "Delete a user's events, profile and history (privacy)",
                    "parameters": [user_param.clone()],
                    "responses": with(json!({
                        "200": {"description": "deleted", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["user", "known", "deleted_events"],
                            "properties": {"user": {"type": "string"}, "known": {"type": "boolean"},
                                "deleted_events": {"type": "integer"}}}}}}
                    }))
                },
                "put": {
                    "summary": "Create or replace a user's profile (text and attributes); with a text encoder a user without events is recommended from it",
                    "parameters": [user_id_param],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Entity"}}}},
                    "responses": with(json!({
                        "200": {"description": "stored (durably) and live", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["user", "text_vector"],
                            "properties": {"user": {"type": "string"}, "text_vector": {"type": "boolean"}}}}}},
                        "400": err("invalid body or id; `field` names it"),
                        "413": {"description": format!("body above {} bytes", limits.max_body)}
                    }))
                }
            },
            "/v1/models": {"get": {
                "summary": "Model versions with their held-out NDCG@10, which is live, whether a retrain runs",
                "responses": with(json!({"200": {"description": "versions", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["live", "retraining", "versions"],
                    "properties": {"live": {"type": "integer"}, "retraining": {"type": "boolean"},
                        "versions": {"type": "array", "items": {"type": "object"}}}}}}}}))
            }},
            "/v1/models/retrain": {"post": {
                "summary": "Retrain in the background; the candidate goes live only if not worse than the live model",
                "parameters": [{"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["full", "update"]},
                    "description": "full (default) or a continual update of the live sequence model (needs --update-epochs; otherwise full)"}],
                "responses": with(json!({
                    "202": {"description": "started", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": err("bad parameter"),
                    "409": err("a retrain is already running")
                }))
            }},
            "/v1/models/{version}/activate": {"post": {
                "summary": "Make a saved version live (rollback)",
                "parameters": [{"name": "version", "in": "path", "required": true,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64}}],
                "responses": with(json!({
                    "200": {"description": "live", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": err("not a version number"),
                    "404": err("no such version")
                }))
            }},
            "/health": {"get": {
                "summary": "Liveness and counts (no key needed)",
                "security": [],
                "responses": {"200": {"description": "up", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}}}}}
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "responses": with(json!({"200": {"description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}))
            }},
            "/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}
        }
    })
}

/// A self-contained page listing every operation of the document.
pub const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seer API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}
code,pre{background:#f4f4f4;padding:.1em .3em}h2{margin-top:1.5em}.m{font-weight:bold;width:5em;display:inline-block}</style>
</head><body><h1>seer API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<div id="ops">loading…</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(d=>{
  const out=[];
  for(const [p,ops] of Object.entries(d.paths)){
    for(const [m,op] of Object.entries(ops)){
      out.push(`<h2><span class="m">${m.toUpperCase()}</span><code>${p}</code></h2><p>${op.summary||''}</p>`);
      if(op.parameters) out.push('<ul>'+op.parameters.map(x=>`<li><code>${x.name}</code> (${x.in})${x.description?': '+x.description:''}</li>`).join('')+'</ul>');
      out.push('<p>Responses: '+Object.entries(op.responses).map(([c,r])=>`<code>${c}</code> ${r.description}`).join('; ')+'</p>');
    }
  }
  document.getElementById('ops').innerHTML=out.join('');
});
</script></body></html>"#;
