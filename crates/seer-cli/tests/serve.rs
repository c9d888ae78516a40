//! Integration tests of `seer serve` on a real socket (issue 7): the real binary, the demo
//! data, a trained model, HTTP over loopback.
#![allow(clippy::unwrap_used)] // test helpers: a failure here is a failed test

mod common;
use common::minilm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn seer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seer"));
    c.env_remove("RUST_LOG");
    c
}

fn run_ok(args: &[&str], cwd: &Path) {
    let out = seer()
        .args(args)
        .arg("--quiet")
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The demo imported, split and an item-kNN model trained on it, in `dir`.
fn prepare(dir: &Path) -> (PathBuf, PathBuf) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo");
    let ds = dir.join("ds");
    let model = dir.join("model");
    run_ok(
        &[
            "import",
            demo.to_str().unwrap(),
            "--out",
            ds.to_str().unwrap(),
        ],
        dir,
    );
    run_ok(&["split", "--data", ds.to_str().unwrap()], dir);
    run_ok(
        &[
            "train",
            "--data",
            ds.to_str().unwrap(),
            "--model",
            "itemknn",
            "--out",
            model.to_str().unwrap(),
        ],
        dir,
    );
    (ds, model)
}

/// A running server and its base URL.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(ds: &Path, model: &Path, store: &Path, extra: &[&str]) -> Server {
        let mut child = seer()
            .args([
                "serve",
                "--data",
                ds.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
                "--threads",
                "2",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .unwrap();
            if let Some(u) = line.strip_prefix("listening on ") {
                break u.to_string();
            }
        };
        Server { child, url }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// (status, body as JSON or as a string).
fn get(a: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut r = a.get(url).call().unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post(a: &ureq::Agent, url: &str, body: &str) -> (u16, Value) {
    let mut r = a
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn items(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

/// Read-your-writes, idempotency keys, new users, validation errors that name the field,
/// body limits, privacy deletion, metrics, and a graceful SIGTERM that keeps every event.
#[test]
fn r7_serve_events_recommend_validation_and_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let srv = Server::start(&ds, &model, &store, &["--max-body", "65536"]);
    let a = agent();
    let u = &srv.url;

    let (s, h) = get(&a, &format!("{u}/health"));
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["items"], 998);

    // The very next recommendation reflects an event: the item is gone (seen) and the
    // history is one longer.
    let (_, before) = get(&a, &format!("{u}/v1/recommend/u2?k=5"));
    assert_eq!(before["source"], "model");
    let top = items(&before)[0].clone();
    let body = json!({"events": [{"user": "u2", "item": top, "type": "click", "key": "k-1",
        "context": {"device": "mobile"}}]})
    .to_string();
    let (s, ack) = post(&a, &format!("{u}/v1/events"), &body);
    assert_eq!(s, 200, "{ack}");
    assert_eq!(ack["results"][0]["duplicate"], false);
    let (_, after) = get(&a, &format!("{u}/v1/recommend/u2?k=5"));
    assert_eq!(
        after["history_len"].as_u64().unwrap(),
        before["history_len"].as_u64().unwrap() + 1
    );
    assert!(!items(&after).contains(&top), "{after}");
    // the same key again: acknowledged as a duplicate, nothing added
    let (_, again) = post(&a, &format!("{u}/v1/events"), &body);
    assert_eq!(again["results"][0]["duplicate"], true);
    assert_eq!(again["results"][0]["seq"], ack["results"][0]["seq"]);
    let (_, same) = get(&a, &format!("{u}/v1/recommend/u2?k=5"));
    assert_eq!(same["history_len"], after["history_len"]);

    // exclusions and context
    let second = items(&after)[0].clone();
    let (s, ex) = get(
        &a,
        &format!("{u}/v1/recommend/u2?k=5&exclude={second}&context=device=mobile"),
    );
    assert_eq!(s, 200, "{ex}");
    assert!(!items(&ex).contains(&second));

    // explanations: the history items whose removal lowers the item's score the most
    let (s, ex) = get(&a, &format!("{u}/v1/recommend/u2?k=3&explain=true"));
    assert_eq!(s, 200, "{ex}");
    for it in ex["items"].as_array().unwrap() {
        let why = it["why"].as_array().unwrap();
        assert!(!why.is_empty(), "{it}");
        assert!(why[0].as_str().unwrap().starts_with("because of "), "{it}");
    }
    // an anonymous session and similar items, both from the live model
    let (s, sess) = post(
        &a,
        &format!("{u}/v1/recommend-session"),
        &json!({"items": ["2", "21", "not-an-item"], "k": 5}).to_string(),
    );
    assert_eq!(s, 200, "{sess}");
    assert_eq!(sess["known_items"], 2);
    let sess_items = items(&sess);
    assert_eq!(sess_items.len(), 5);
    assert!(!sess_items.contains(&"2".to_string()) && !sess_items.contains(&"21".to_string()));
    let (s, sim) = get(&a, &format!("{u}/v1/items/21/similar?k=5"));
    assert_eq!(s, 200, "{sim}");
    assert_eq!(items(&sim).len(), 5);
    assert!(!items(&sim).contains(&"21".to_string()));
    let (s, _) = get(&a, &format!("{u}/v1/items/nope/similar"));
    assert_eq!(s, 404);

    // a new user: popularity first, personalised after one event
    let (_, cold) = get(&a, &format!("{u}/v1/recommend/newcomer?k=5"));
    assert_eq!(cold["known"], false);
    assert_eq!(cold["source"], "popularity");
    assert_eq!(items(&cold).len(), 5);
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        &json!({"events": [{"user": "newcomer", "item": "3"}]}).to_string(),
    );
    assert_eq!(s, 200);
    let (_, warm) = get(&a, &format!("{u}/v1/recommend/newcomer?k=5"));
    assert_eq!(warm["source"], "model");
    assert_eq!(warm["known"], true);
    assert_ne!(items(&warm), items(&cold));

    // bad input: 4xx naming the field
    for (body, status, field) in [
        ("{not json", 400, "body"),
        (r#"{"events": [{"user": "u1"}]}"#, 400, "events[0]"),
        (
            r#"{"events": [{"user": "u1", "item": 5}]}"#,
            400,
            "events[0].item",
        ),
        (
            r#"{"events": [{"user": "", "item": "1"}]}"#,
            400,
            "events[0].user",
        ),
        (
            r#"{"events": [{"user": "u1", "item": "1", "ts": 1700000000000}]}"#,
            400,
            "events[0].ts",
        ),
        (
            r#"{"events": [{"user": "u1", "item": "1", "colour": "red"}]}"#,
            400,
            "events[0]",
        ),
        (r#"{"events": []}"#, 400, "events"),
    ] {
        let (s, e) = post(&a, &format!("{u}/v1/events"), body);
        assert_eq!(s, status, "{body}: {e}");
        assert!(
            e["field"].as_str().unwrap_or("").starts_with(field),
            "{body}: {e}"
        );
        assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let huge = format!(
        r#"{{"events": [{{"user": "u1", "item": "{}"}}]}}"#,
        "x".repeat(100_000)
    );
    let (s, _) = post(&a, &format!("{u}/v1/events"), &huge);
    assert_eq!(s, 413);
    for (q, field) in [
        ("k=0", "k"),
        ("k=abc", "k"),
        ("context=device=car", "context"),
        ("category=fantasy", "category"), // the demo's books have no category field
        ("colour=red", "colour"),
    ] {
        let (s, e) = get(&a, &format!("{u}/v1/recommend/u2?{q}"));
        assert_eq!(s, 400, "{q}: {e}");
        assert_eq!(e["field"], field, "{q}: {e}");
    }

    // an id outside the catalogue cannot be recommended anyway: ignored, not an error
    let (s, _) = get(&a, &format!("{u}/v1/recommend/u2?exclude=not-an-item"));
    assert_eq!(s, 200);
    // the API describes itself, every route included
    let (s, doc) = get(&a, &format!("{u}/openapi.json"));
    assert_eq!(s, 200);
    for p in [
        "/v1/events",
        "/v1/recommend/{user}",
        "/v1/users/{user}/history",
        "/v1/users/{user}",
        "/health",
        "/metrics",
        "/v1/recommend-session",
        "/v1/items/{item}/similar",
        "/v1/models",
        "/v1/models/retrain",
        "/v1/models/{version}/activate",
        "/v1/items/{item}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} undocumented");
    }
    for (p, m) in [
        ("/v1/items/{item}", "put"),
        ("/v1/items/{item}", "delete"),
        ("/v1/users/{user}", "put"),
    ] {
        assert!(doc["paths"][p][m].is_object(), "{m} {p} undocumented");
    }
    // no text encoder here: search is not offered
    assert!(doc["paths"]["/v1/search"].is_null());
    let pattern = doc["paths"]["/v1/recommend/{user}"]["get"]["parameters"][3]["schema"]["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pattern.contains("device=(") && pattern.contains("mobile"),
        "{pattern}"
    );
    let (s, page) = get(&a, &format!("{u}/docs"));
    assert_eq!(s, 200);
    assert!(page.as_str().unwrap().contains("/openapi.json"));

    // privacy: deleting a user removes their stored events and history
    let (_, hist) = get(&a, &format!("{u}/v1/users/newcomer/history"));
    assert_eq!(hist["events"].as_array().unwrap().len(), 1);
    let r = a.delete(&format!("{u}/v1/users/newcomer")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // gone: unknown to reads, as if never seen
    let (s, _) = get(&a, &format!("{u}/v1/users/newcomer/history"));
    assert_eq!(s, 404);
    let (_, r) = get(&a, &format!("{u}/v1/recommend/newcomer"));
    assert_eq!(
        (r["known"].as_bool(), r["history_len"].as_u64()),
        (Some(false), Some(0))
    );
    let (s, _) = get(&a, &format!("{u}/v1/users/nobody-at-all/history"));
    assert_eq!(s, 404);

    let (s, m) = get(&a, &format!("{u}/metrics"));
    assert_eq!(s, 200);
    let m = m.as_str().unwrap().to_string();
    assert!(m.contains("seer_events_acked_total 3"), "{m}");
    assert!(m.contains("seer_events_duplicate_total 1"), "{m}");
    assert!(m.contains("seer_recommend_duration_seconds_count"), "{m}");

    // SIGTERM: clean exit; a restart replays the store into the same state
    let status = srv.stop();
    assert!(status.success(), "{status:?}");
    let conn = rusqlite::Connection::open(&store).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "u2's event stays, newcomer's was deleted");
    drop(conn);
    let srv = Server::start(&ds, &model, &store, &[]);
    let (_, again) = get(&a, &format!("{}/v1/recommend/u2?k=5", srv.url));
    assert_eq!(again["history_len"], after["history_len"]);
    assert_eq!(items(&again), items(&after));
}

/// The crash test: a client streams batches of keyed events and records what was
/// acknowledged while the server is killed with SIGKILL at random moments and restarted, 20
/// times; the client retries unacknowledged batches after each restart. At the end every
/// acknowledged event is in the store exactly once, and nothing else is.
#[test]
fn r7_crash_test_sigkill_loses_no_acknowledged_event() {
    use rand::{Rng, SeedableRng};
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let a = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let a: ureq::Agent = a;
    let mut acked: Vec<String> = Vec::new(); // in acknowledgement order, each once
    let mut next_batch = 0usize;
    let mut pending: Option<(usize, String)> = None;
    for _cycle in 0..20 {
        let mut srv = Server::start(&ds, &model, &store, &[]);
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(50..400));
        // stream until the kill moment
        while Instant::now() < deadline {
            let (b, body) = pending.take().unwrap_or_else(|| {
                let b = next_batch;
                next_batch += 1;
                let events: Vec<Value> = (0..20)
                    .map(|i| json!({"user": format!("c{}", b % 50), "item": format!("{}", 1 + (b * 20 + i) % 900),
                        "key": format!("b{b}-e{i}")}))
                    .collect();
                (b, json!({ "events": events }).to_string())
            });
            match a
                .post(&format!("{}/v1/events", srv.url))
                .header("content-type", "application/json")
                .send(&body)
            {
                Ok(mut r) if r.status().as_u16() == 200 => {
                    let v: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    assert_eq!(v["acked"], 20);
                    for i in 0..20 {
                        let k = format!("b{b}-e{i}");
                        if !acked.contains(&k) {
                            acked.push(k);
                        }
                    }
                }
                _ => {
                    pending = Some((b, body));
                    break;
                }
            }
        }
        // SIGKILL, no warning
        srv.child.kill().unwrap();
        srv.child.wait().unwrap();
        // (a batch whose request failed at the kill stays pending and is retried next cycle)
    }
    // final restart: retry what is pending, then check the store
    let srv = Server::start(&ds, &model, &store, &[]);
    if let Some((b, body)) = pending.take() {
        let (s, v) = post(&a, &format!("{}/v1/events", srv.url), &body);
        assert_eq!(s, 200, "{v}");
        for i in 0..20 {
            let k = format!("b{b}-e{i}");
            if !acked.contains(&k) {
                acked.push(k);
            }
        }
    }
    let (_, h) = get(&a, &format!("{}/health", srv.url));
    drop(srv);
    assert!(
        acked.len() >= 20 * 20,
        "only {} events acknowledged",
        acked.len()
    );
    let conn = rusqlite::Connection::open(&store).unwrap();
    let mut st = conn
        .prepare("SELECT idem, COUNT(*) FROM events GROUP BY idem")
        .unwrap();
    let rows: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let stored: std::collections::HashMap<String, i64> = rows.into_iter().collect();
    let acked_set: std::collections::HashSet<&String> = acked.iter().collect();
    assert_eq!(acked_set.len(), acked.len(), "a key was acknowledged twice");
    for k in &acked {
        assert_eq!(
            stored.get(k),
            Some(&1),
            "acknowledged event {k} lost or duplicated"
        );
    }
    for k in stored.keys() {
        assert!(
            acked_set.contains(k),
            "{k} stored but never acknowledged nor retried"
        );
    }
    // the restarted server replayed every event
    assert_eq!(h["last_seq"].as_i64().unwrap(), stored.len() as i64);
}

/// API keys: created with `seer keys`, required once one exists, scopes and rate limits
/// enforced with 401 / 403 / 429, secrets never listed.
#[test]
fn r7_api_keys_scopes_and_rate_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let key = |scope: &str, rate: &str| -> String {
        let out = seer()
            .args([
                "keys",
                "--store",
                store.to_str().unwrap(),
                "create",
                "--scope",
                scope,
                "--name",
                "test",
                "--rate",
                rate,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let reader = key("read", "1000");
    let writer = key("write", "1000");
    let slow = key("read", "1");
    let list = seer()
        .args(["keys", "--store", store.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        !list.contains(reader.rsplit('_').next().unwrap()),
        "secrets are never listed"
    );

    let srv = Server::start(&ds, &model, &store, &[]);
    let a = agent();
    let u = &srv.url;
    let call = |method: &str, path: &str, token: Option<&str>, body: &str| -> u16 {
        let url = format!("{u}{path}");
        let r = match (method, token) {
            ("GET", Some(t)) => a
                .get(&url)
                .header("authorization", &format!("Bearer {t}"))
                .call(),
            ("GET", None) => a.get(&url).call(),
            (_, Some(t)) => a
                .post(&url)
                .header("x-api-key", t)
                .header("content-type", "application/json")
                .send(body),
            (_, None) => a.post(&url).send(body),
        };
        r.unwrap().status().as_u16()
    };
    let ev = r#"{"events": [{"user": "u1", "item": "1"}]}"#;
    assert_eq!(call("GET", "/health", None, ""), 200, "health stays open");
    assert_eq!(call("GET", "/v1/recommend/u1", None, ""), 401);
    assert_eq!(
        call("GET", "/v1/recommend/u1", Some("seer_abc_def"), ""),
        401
    );
    assert_eq!(call("GET", "/v1/recommend/u1", Some(&reader), ""), 200);
    assert_eq!(call("POST", "/v1/events", Some(&reader), ev), 403);
    assert_eq!(call("POST", "/v1/events", Some(&writer), ev), 200);
    assert_eq!(call("POST", "/v1/events", None, ev), 401);
    // 1 request/s, burst 2: the third in a row is refused
    let codes: Vec<u16> = (0..4)
        .map(|_| call("GET", "/v1/recommend/u1", Some(&slow), ""))
        .collect();
    assert_eq!(&codes[..2], &[200, 200], "{codes:?}");
    assert!(codes[2..].contains(&429), "{codes:?}");
}

/// Background retraining with a hot swap under load: requests keep succeeding while a
/// candidate is trained, evaluated on the most recent events and swapped in; versions are
/// listed with their metrics and any can be made live again (rollback); `--retrain-every`
/// starts a retrain by itself.
#[test]
fn r7_retrain_hot_swap_under_load_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let srv = Server::start(
        &ds,
        &model,
        &store,
        &["--retrain-every", "200", "--holdout", "300"],
    );
    let u = srv.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // load: recommendations and events from two threads until told to stop
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (u, stop) = (u.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = agent();
                let (mut ok, mut failed, mut i) = (0usize, 0usize, 0usize);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let user = format!("u{}", 1 + (i * 7 + w) % 1500);
                    let (s, _) = get(&a, &format!("{u}/v1/recommend/{user}?k=10"));
                    if s == 200 {
                        ok += 1
                    } else {
                        failed += 1
                    }
                    if i % 5 == 0 {
                        let body =
                            json!({"events": [{"user": user, "item": format!("{}", 1 + i % 900)}]});
                        let (s, _) = post(&a, &format!("{u}/v1/events"), &body.to_string());
                        if s == 200 {
                            ok += 1
                        } else {
                            failed += 1
                        }
                    }
                    i += 1;
                }
                (ok, failed)
            })
        })
        .collect();
    let a = agent();
    // too few new events since the live model was trained: no version, the reason reported
    let r = a.post(&format!("{u}/v1/models/retrain")).send("").unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = get(&a, &format!("{u}/v1/models"));
        if m["retraining"] == false && m["last_error"].is_string() {
            assert!(m["last_error"].as_str().unwrap().contains("too few"), "{m}");
            assert_eq!(m["versions"].as_array().unwrap().len(), 1, "{m}");
            break;
        }
        // the load threads may have posted enough already: then a version exists
        if m["retraining"] == false && m["versions"].as_array().unwrap().len() > 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // new events, then a retrain that can be judged on them
    let batch: Vec<Value> = (0..80)
        .map(|i| json!({"user": format!("u{}", 1 + i * 13 % 1500), "item": format!("{}", 1 + i * 7 % 900)}))
        .collect();
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        &json!({ "events": batch }).to_string(),
    );
    assert_eq!(s, 200);
    let r = a.post(&format!("{u}/v1/models/retrain")).send("").unwrap();
    assert!([202, 409].contains(&r.status().as_u16()), "{}", r.status());
    let deadline = Instant::now() + Duration::from_secs(120);
    let models = loop {
        let (_, m) = get(&a, &format!("{u}/v1/models"));
        if m["retraining"] == false && m["versions"].as_array().unwrap().len() >= 2 {
            break m;
        }
        assert!(Instant::now() < deadline, "no retrain finished: {m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for w in workers {
        let (o, f) = w.join().unwrap();
        ok += o;
        failed += f;
    }
    assert_eq!(
        failed, 0,
        "{failed} requests failed during the retrain ({ok} ok)"
    );
    assert!(ok > 20, "only {ok} requests");
    let v1 = &models["versions"][1];
    assert_eq!(v1["version"], 1);
    assert!(v1["ndcg10"].as_f64().unwrap() > 0.0, "{v1}");
    assert!(v1["holdout"].as_u64().unwrap() > 50, "{v1}");
    assert!(Path::new(v1["dir"].as_str().unwrap())
        .join("version.json")
        .exists());
    let live_after = models["live"].as_u64().unwrap();
    assert_eq!(live_after == 1, v1["swapped"] == true, "{models}");
    // rollback to the starting model, then an unknown version
    let mut r = a
        .post(&format!("{u}/v1/models/0/activate"))
        .send("")
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let (_, m) = get(&a, &format!("{u}/v1/models"));
    assert_eq!(m["live"], 0);
    let r = a
        .post(&format!("{u}/v1/models/99/activate"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (s, rec) = get(&a, &format!("{u}/v1/recommend/u2?k=5"));
    assert_eq!(s, 200, "{rec}");
}

/// The dashboard in headless Chromium (Debian's `chromium`; skipped when absent unless
/// SEER_REQUIRE_CHROMIUM is set, as CI does once it has installed it): counts, model
/// versions with the live one marked, and a user looked up with history and recommendations;
/// a screenshot is taken and kept in the test's target tmp dir.
#[test]
fn r7_dashboard_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("SEER_REQUIRE_CHROMIUM").is_none(),
            "chromium is required (SEER_REQUIRE_CHROMIUM) but not installed"
        );
        eprintln!("skipping: no chromium (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let srv = Server::start(&ds, &model, &tmp.path().join("events.db"), &[]);
    let a = agent();
    let (s, _) = post(
        &a,
        &format!("{}/v1/events", srv.url),
        &json!({"events": [{"user": "u2", "item": "1"}, {"user": "u2", "item": "7"}]}).to_string(),
    );
    assert_eq!(s, 200);
    let page = format!("{}/?user=u2", srv.url);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tmp.path().join("chromium-profile");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1100",
        "--virtual-time-budget=5000",
    ];
    let run = |extra: &str| -> String {
        let out = Command::new(chromium)
            .args(base)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(extra)
            .arg(&page)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run("--dump-dom");
    for needle in [
        "itemknn live",
        "v0 (live)",
        "known user, 10 events",
        "Recommended",
        "The Hunger Games",
    ] {
        assert!(
            dom.contains(needle),
            "{needle:?} not in the rendered page:\n{dom}"
        );
    }
    assert!(
        dom.contains(r#"<b id="events">2</b>"#),
        "event count rendered"
    );
    run(&format!("--screenshot={}", shot.display()));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "{} bytes: an empty page?", png.len());
}

/// `PUT` or `DELETE` with an optional JSON body.
fn send(a: &ureq::Agent, method: &str, url: &str, body: &str) -> (u16, Value) {
    let mut r = match method {
        "PUT" => a
            .put(url)
            .header("content-type", "application/json")
            .send(body)
            .unwrap(),
        "DELETE" => a.delete(url).call().unwrap(),
        other => panic!("method {other}"),
    };
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The catalogue grows while serving: an item put with text is recommended and shows up in
/// similar-items at once (before any retrain), an event on it reads as its nearest known
/// item, a user put with profile text gets recommendations from it before any event,
/// free-text search, item deletion, and all of it survives a restart.
#[test]
fn r7_new_items_and_profiles_served_at_once_through_text() {
    let Some(enc) = minilm() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let args = ["--text-encoder", enc.to_str().unwrap()];
    let srv = Server::start(&ds, &model, &store, &args);
    let a = agent();
    let u = srv.url.clone();

    // Item 2 is "Harry Potter and the Sorcerer's Stone"; its similar items are the series.
    let (s, before) = get(&a, &format!("{u}/v1/items/2/similar?k=10"));
    assert_eq!(s, 200, "{before}");
    assert!(!items(&before).contains(&"hp-new".to_string()));
    let (s, unknown) = get(&a, &format!("{u}/v1/items/hp-new"));
    assert_eq!((s, unknown["field"].as_str()), (404, Some("item")));

    let body = r#"{"fields": {"title": "Harry Potter and the Chamber of Secrets (Harry Potter, #2) illustrated edition", "authors": ["J.K. Rowling", "Jim Kay"]}}"#;
    let (s, put) = send(&a, "PUT", &format!("{u}/v1/items/hp-new"), body);
    assert_eq!(s, 200, "{put}");
    assert_eq!(
        (put["created"].as_bool(), put["text_vector"].as_bool()),
        (Some(true), Some(true))
    );
    let (_, h) = get(&a, &format!("{u}/health"));
    assert_eq!(h["items"], 999, "{h}"); // the demo's 998 books and the new one
                                        // At once: in the similar items of the first book, and in a Harry Potter session's picks.
    let (_, after) = get(&a, &format!("{u}/v1/items/2/similar?k=10"));
    assert!(items(&after).contains(&"hp-new".to_string()), "{after}");
    let (_, sess) = post(
        &a,
        &format!("{u}/v1/recommend-session"),
        r#"{"items": ["2", "18"], "k": 10}"#,
    );
    assert!(items(&sess).contains(&"hp-new".to_string()), "{sess}");
    // Its own similar items come from its text: the other Harry Potter books first.
    let (_, own) = get(&a, &format!("{u}/v1/items/hp-new/similar?k=3"));
    for it in own["items"].as_array().unwrap() {
        assert!(
            it["title"].as_str().unwrap().contains("Harry Potter"),
            "{own}"
        );
    }
    // A first event on the new item reads as its nearest known book: Harry Potter follows.
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        r#"{"events": [{"user": "fresh", "item": "hp-new"}]}"#,
    );
    assert_eq!(s, 200);
    let (_, r) = get(&a, &format!("{u}/v1/recommend/fresh?k=5"));
    assert_eq!(r["source"], "model", "{r}");
    let titles: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.iter().filter(|t| t.contains("Harry Potter")).count() >= 3,
        "{titles:?}"
    );

    // A user with a profile and no events: recommendations from the profile text.
    let (_, pop) = get(&a, &format!("{u}/v1/recommend/nobody?k=5"));
    assert_eq!(pop["source"], "popularity");
    let (s, _) = send(
        &a,
        "PUT",
        &format!("{u}/v1/users/reader"),
        r#"{"fields": {"about": "epic fantasy with dragons and wizards"}}"#,
    );
    assert_eq!(s, 200);
    let (_, prof) = get(&a, &format!("{u}/v1/recommend/reader?k=5"));
    assert_eq!(prof["source"], "profile", "{prof}");
    assert_ne!(items(&prof), items(&pop));
    let dragons = prof["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["title"].as_str().unwrap().contains("Dragon"))
        .count();
    assert!(dragons >= 1, "{prof}");

    // Explanations: what the model did, shared attributes, the closest history text.
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        r#"{"events": [{"user": "fan", "item": "2"}, {"user": "fan", "item": "18"}]}"#,
    );
    assert_eq!(s, 200);
    let (_, ex) = get(&a, &format!("{u}/v1/recommend/fan?k=3&explain=true"));
    let why: Vec<String> = ex["items"][0]["why"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert!(
        why.iter().any(|w| w.starts_with("shares authors")),
        "{why:?}"
    );
    assert!(why.iter().any(|w| w.contains("text similarity")), "{why:?}");
    assert!(
        !why.iter().any(|w| w.contains("language")),
        "too common to explain: {why:?}"
    );
    let (_, ex) = get(&a, &format!("{u}/v1/recommend/reader?k=1&explain=true"));
    assert!(
        ex["items"][0]["why"][0]
            .as_str()
            .unwrap()
            .contains("profile"),
        "{ex}"
    );

    // Free-text search, documented when the encoder is loaded.
    let (_, doc) = get(&a, &format!("{u}/openapi.json"));
    assert!(doc["paths"]["/v1/search"]["get"].is_object());
    let (s, found) = get(&a, &format!("{u}/v1/search?q=boy%20wizard%20school&k=5"));
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["items"].as_array().unwrap().len(), 5);
    let (s, e) = get(&a, &format!("{u}/v1/search?k=5"));
    assert_eq!((s, e["field"].as_str()), (400, Some("q")));

    // Bad input names the field.
    let (s, e) = send(
        &a,
        "PUT",
        &format!("{u}/v1/items/x1"),
        r#"{"fields": {"title": 5}}"#,
    );
    assert_eq!(s, 400, "{e}");
    assert!(e["field"].as_str().unwrap().starts_with("fields"), "{e}");
    let long = format!(r#"{{"fields": {{"title": "{}"}}}}"#, "x".repeat(10_001));
    let (s, e) = send(&a, "PUT", &format!("{u}/v1/items/x1"), &long);
    assert_eq!((s, e["field"].as_str()), (400, Some("fields.title")));
    let (s, e) = send(
        &a,
        "PUT",
        &format!("{u}/v1/items/{}", "y".repeat(300)),
        "{}",
    );
    assert_eq!((s, e["field"].as_str()), (400, Some("item")));
    let (s, e) = send(
        &a,
        "PUT",
        &format!("{u}/v1/items/x1"),
        r#"{"colour": "red"}"#,
    );
    assert_eq!(s, 400, "{e}");

    // Deleted: never recommended, no similar list, marked in GET.
    let (s, _) = send(&a, "DELETE", &format!("{u}/v1/items/hp-new"), "");
    assert_eq!(s, 200);
    let (_, after) = get(&a, &format!("{u}/v1/items/2/similar?k=10"));
    assert!(!items(&after).contains(&"hp-new".to_string()));
    let (s, _) = get(&a, &format!("{u}/v1/items/hp-new/similar"));
    assert_eq!(s, 404);
    let (s, _) = get(&a, &format!("{u}/v1/items/hp-new"));
    assert_eq!(s, 404);
    // Put again: back, with its new text.
    let (s, put) = send(&a, "PUT", &format!("{u}/v1/items/hp-new"), body);
    assert_eq!((s, put["created"].as_bool()), (200, Some(false)));

    // Everything survives a restart.
    assert!(srv.stop().success());
    let srv = Server::start(&ds, &model, &store, &args);
    let u = srv.url.clone();
    let (_, g) = get(&a, &format!("{u}/v1/items/hp-new"));
    assert_eq!(
        (g["deleted"].as_bool(), g["fields"]["authors"].as_str()),
        (Some(false), Some("J.K. Rowling | Jim Kay"))
    );
    let (_, after) = get(&a, &format!("{u}/v1/items/2/similar?k=10"));
    assert!(items(&after).contains(&"hp-new".to_string()), "{after}");
    let (_, prof2) = get(&a, &format!("{u}/v1/recommend/reader?k=5"));
    assert_eq!(
        (prof2["source"].clone(), items(&prof2)),
        (prof["source"].clone(), items(&prof))
    );
    let (_, r2) = get(&a, &format!("{u}/v1/recommend/fresh?k=5"));
    assert_eq!(items(&r2), items(&r));
    // Deleting the user removes the profile too.
    let (s, _) = send(&a, "DELETE", &format!("{u}/v1/users/reader"), "");
    assert_eq!(s, 200);
    let (_, gone) = get(&a, &format!("{u}/v1/recommend/reader?k=5"));
    assert_eq!(gone["source"], "popularity");
    drop(srv);

    // Without an encoder: search says what is missing; a new item waits for a retrain.
    let srv = Server::start(&ds, &model, &tmp.path().join("plain.db"), &[]);
    let u = srv.url.clone();
    let (s, e) = get(&a, &format!("{u}/v1/search?q=wizard"));
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().contains("--text-encoder"),
        "{e}"
    );
    let (s, put) = send(&a, "PUT", &format!("{u}/v1/items/plain-new"), body);
    assert_eq!((s, put["text_vector"].as_bool()), (200, Some(false)));
    let (_, sess) = post(
        &a,
        &format!("{u}/v1/recommend-session"),
        r#"{"items": ["2", "18"], "k": 50}"#,
    );
    assert!(!items(&sess).contains(&"plain-new".to_string()));
}

/// Retraining on a schedule: with `--retrain-interval 1` a retrain starts within the second
/// after new events arrive, and none starts while no event arrives.
#[test]
fn r7_scheduled_retrain_runs_only_after_new_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, model) = prepare(tmp.path());
    let store = tmp.path().join("events.db");
    let srv = Server::start(
        &ds,
        &model,
        &store,
        &["--retrain-interval", "1", "--holdout", "50"],
    );
    let u = srv.url.clone();
    let a = agent();
    std::thread::sleep(Duration::from_millis(2500));
    let (_, m) = get(&a, &format!("{u}/v1/models"));
    assert_eq!(
        m["versions"].as_array().unwrap().len(),
        1,
        "no events, no retrain: {m}"
    );
    let batch: Vec<Value> = (0..80)
        .map(|i| json!({"user": format!("u{}", 1 + i * 13 % 1500), "item": format!("{}", 1 + i * 7 % 900)}))
        .collect();
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        &json!({ "events": batch }).to_string(),
    );
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let versions = loop {
        let (_, m) = get(&a, &format!("{u}/v1/models"));
        let n = m["versions"].as_array().unwrap().len();
        if m["retraining"] == false && n > 1 {
            break n;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(versions, 2);
    // nothing new since: the schedule does not retrain again
    std::thread::sleep(Duration::from_millis(2500));
    let (_, m) = get(&a, &format!("{u}/v1/models"));
    assert_eq!(m["versions"].as_array().unwrap().len(), 2, "{m}");
    // Make version 1 live, then restart: the versions are listed again and version 1 is
    // still the live one (not the starting model).
    let r = a
        .post(&format!("{u}/v1/models/1/activate"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, before) = get(&a, &format!("{u}/v1/recommend/u7?k=10"));
    assert!(srv.stop().success());
    let srv = Server::start(
        &ds,
        &model,
        &store,
        &["--retrain-interval", "1", "--holdout", "50"],
    );
    let u = srv.url.clone();
    let (_, m) = get(&a, &format!("{u}/v1/models"));
    assert_eq!(
        (m["live"].as_u64(), m["versions"].as_array().unwrap().len()),
        (Some(1), 2),
        "{m}"
    );
    assert_eq!(m["versions"][1]["version"], 1);
    let (_, after) = get(&a, &format!("{u}/v1/recommend/u7?k=10"));
    assert_eq!(items(&after), items(&before));
    // and back to the starting model, which also survives a restart
    let r = a
        .post(&format!("{u}/v1/models/0/activate"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(srv.stop().success());
    let srv = Server::start(&ds, &model, &store, &[]);
    let (_, m) = get(&a, &format!("{}/v1/models", srv.url));
    assert_eq!(m["live"].as_u64(), Some(0), "{m}");
}

/// Between full retrains, continual updates: with `--update-epochs 1` the retrain triggered
/// by new events continues the live SASRec on the users with new events (`mode: update`),
/// while a requested retrain is full; both are judged on the held-out newest events.
#[test]
fn r7_continual_update_between_full_retrains() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, _) = prepare(tmp.path());
    let model = tmp.path().join("sasrec");
    run_ok(
        &[
            "train",
            "--data",
            ds.to_str().unwrap(),
            "--model",
            "sasrec:epochs=2,patience=0,hidden=32,max_len=20",
            "--out",
            model.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let store = tmp.path().join("events.db");
    let srv = Server::start(
        &ds,
        &model,
        &store,
        &[
            "--retrain-every",
            "60",
            "--update-epochs",
            "1",
            "--holdout",
            "30",
            "--margin",
            "1.0",
        ],
    );
    let u = srv.url.clone();
    let a = agent();
    // 80 events: the 60th triggers an update (the newest 30 held out from it). Explicit
    // times keep the second batch strictly newer than what the first taught the model.
    let batch: Vec<Value> = (0..80)
        .map(|i| json!({"user": format!("u{}", 1 + i * 13 % 1500), "item": format!("{}", 1 + i * 7 % 900), "ts": 2_000_000_000 + i}))
        .collect();
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        &json!({ "events": batch }).to_string(),
    );
    assert_eq!(s, 200);
    let wait = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (_, m) = get(&a, &format!("{u}/v1/models"));
            if m["retraining"] == false && m["versions"].as_array().unwrap().len() >= n {
                return m;
            }
            assert!(Instant::now() < deadline, "{m}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let m = wait(2);
    let v1 = &m["versions"][1];
    assert_eq!(v1["mode"], "update", "{m}");
    assert!(v1["ndcg10"].as_f64().unwrap().is_finite(), "{m}");
    // margin 1.0: any candidate with a hit goes live; without one the live model stays
    assert_eq!(m["live"] == 1, v1["swapped"] == true, "{m}");
    // A requested retrain is full; a bad mode is refused.
    let r = a
        .post(&format!("{u}/v1/models/retrain?mode=sideways"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let batch: Vec<Value> = (0..40)
        .map(|i| json!({"user": format!("u{}", 2 + i * 11 % 1500), "item": format!("{}", 3 + i * 5 % 900), "ts": 2_000_001_000 + i}))
        .collect();
    let (s, _) = post(
        &a,
        &format!("{u}/v1/events"),
        &json!({ "events": batch }).to_string(),
    );
    assert_eq!(s, 200);
    let r = a
        .post(&format!("{u}/v1/models/retrain?mode=full"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let m = wait(3);
    assert_eq!(m["versions"][2]["mode"], "full", "{m}");
}
