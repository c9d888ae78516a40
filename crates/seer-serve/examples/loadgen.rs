//! Load generator for `seer serve` (HTTP/1.1 keep-alive over loopback, no dependencies).
//!
//! Recommendations, open loop at a fixed rate (latency measured from each request's scheduled
//! time, so a stalled server cannot hide its queue — no coordinated omission):
//!
//! `cargo run --release -p seer-serve --example loadgen -- recommend --url http://127.0.0.1:8080
//!  --ids users.txt --rate 500 --seconds 30 --conns 16`
//!
//! Ingestion, closed loop: `--conns` connections post batches of `--batch` events as fast as
//! the server acknowledges them:
//!
//! `… --example loadgen -- ingest --url … --ids users.txt --items items.txt --batch 100
//!  --conns 8 --seconds 20`
//!
//! Prints requests, errors, throughput and latency percentiles as one JSON line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Args {
    mode: String,
    host: String,
    ids: Vec<String>,
    items: Vec<String>,
    rate: f64,
    seconds: f64,
    conns: usize,
    batch: usize,
    k: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let mode = a
        .next()
        .ok_or("usage: loadgen recommend|ingest --url URL --ids FILE …")?;
    let mut args = Args {
        mode,
        host: "127.0.0.1:8080".into(),
        ids: Vec::new(),
        items: Vec::new(),
        rate: 500.0,
        seconds: 30.0,
        conns: 16,
        batch: 100,
        k: 10,
    };
    let read = |p: &str| -> Result<Vec<String>, String> {
        let t = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
        Ok(t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    };
    while let Some(flag) = a.next() {
        let v = a.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--url" => {
                args.host = v
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string()
            }
            "--ids" => args.ids = read(&v)?,
            "--items" => args.items = read(&v)?,
            "--rate" => args.rate = num(&v)?,
            "--seconds" => args.seconds = num(&v)?,
            "--conns" => args.conns = num(&v)? as usize,
            "--batch" => args.batch = num(&v)? as usize,
            "--k" => args.k = num(&v)? as usize,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.ids.is_empty() {
        return Err("--ids FILE (one user id per line) is required".into());
    }
    Ok(args)
}

/// One keep-alive connection.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(host: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(host)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends a request and reads the whole response; returns the status code.
    fn call(&mut self, method: &str, path: &str, host: &str, body: &[u8]) -> std::io::Result<u16> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.w.write_all(head.as_bytes())?;
        self.w.write_all(body)?;
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut buf = vec![0u8; len];
        self.r.read_exact(&mut buf)?;
        Ok(status)
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let start = t0 + Duration::from_millis(100);
    let results: Vec<(Vec<f64>, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.conns)
            .map(|w| {
                let args = &args;
                s.spawn(move || {
                    let mut conn = Conn::open(&args.host).expect("connect");
                    let mut lat = Vec::new();
                    let (mut errors, mut events) = (0usize, 0usize);
                    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ w as u64;
                    let mut next = || {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng
                    };
                    if args.mode == "recommend" {
                        let total = (args.rate * args.seconds) as usize;
                        let mut i = w;
                        while i < total {
                            let at = start + Duration::from_secs_f64(i as f64 / args.rate);
                            if let Some(d) = at.checked_duration_since(Instant::now()) {
                                std::thread::sleep(d);
                            }
                            let user = &args.ids[next() as usize % args.ids.len()];
                            let path = format!("/v1/recommend/{user}?k={}", args.k);
                            match conn.call("GET", &path, &args.host, b"") {
                                Ok(200) => {}
                                _ => errors += 1,
                            }
                            lat.push(at.elapsed().as_secs_f64() * 1e3);
                            i += args.conns;
                        }
                    } else {
                        let end = start + Duration::from_secs_f64(args.seconds);
                        let mut b = 0usize;
                        while Instant::now() < end {
                            let evs: Vec<String> = (0..args.batch)
                                .map(|j| {
                                    let u = &args.ids[next() as usize % args.ids.len()];
                                    let it = if args.items.is_empty() {
                                        "0".to_string()
                                    } else {
                                        args.items[next() as usize % args.items.len()].clone()
                                    };
                                    format!(
                                        r#"{{"user":"{u}","item":"{it}","key":"w{w}-b{b}-{j}-{}"}}"#,
                                        t0.elapsed().as_nanos()
                                    )
                                })
                                .collect();
                            let body = format!(r#"{{"events":[{}]}}"#, evs.join(","));
                            let t = Instant::now();
                            match conn.call("POST", "/v1/events", &args.host, body.as_bytes()) {
                                Ok(200) => events += args.batch,
                                _ => errors += 1,
                            }
                            lat.push(t.elapsed().as_secs_f64() * 1e3);
                            b += 1;
                        }
                    }
                    (lat, errors, events)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let elapsed = (Instant::now() - start).as_secs_f64();
    let mut lat: Vec<f64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let errors: usize = results.iter().map(|r| r.1).sum();
    let events: usize = results.iter().map(|r| r.2).sum();
    println!(
        "{{\"mode\":\"{}\",\"requests\":{},\"errors\":{errors},\"seconds\":{elapsed:.2},\
         \"requests_per_s\":{:.1},\"events_per_s\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\
         \"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        args.mode,
        lat.len(),
        lat.len() as f64 / elapsed,
        events as f64 / elapsed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
}
