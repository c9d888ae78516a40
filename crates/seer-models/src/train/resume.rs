//! Resumable training state: weights, optimiser moments, the log so far and the best
//! weights, in one safetensors file written atomically after every epoch.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::io::{self, Loaded};
use seer_nn::optim::AdamW;
use seer_nn::{self as nn, Params};

use super::early_stop::TrainLog;

type Shaped = (Vec<usize>, Vec<f32>);

pub(crate) struct State {
    pub stopped: bool,
    pub log: TrainLog,
    pub bad_rounds: usize,
    pub best: Option<(f64, nn::Snapshot)>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    /// Training ended (early stop): a rerun restores the result instead of training on.
    #[serde(default)]
    stopped: bool,
    log: TrainLog,
    bad_rounds: usize,
    best: Option<f64>,
    steps: usize,
}

pub(crate) fn save(
    dir: &Path,
    stopped: bool,
    params: &Params,
    opt: &AdamW,
    log: &TrainLog,
    bad_rounds: usize,
    best: Option<&(f64, nn::Snapshot)>,
) -> Result<()> {
    let (steps, adam) = opt.state(params)?;
    let snap = params.snapshot()?;
    let mut named: Vec<(String, &[usize], &[f32])> = Vec::new();
    for (n, s, d) in &snap {
        named.push((format!("param.{n}"), s, d));
    }
    for (n, s, d) in &adam {
        named.push((n.clone(), s, d));
    }
    if let Some((_, b)) = best {
        for (n, s, d) in b {
            named.push((format!("best.{n}"), s, d));
        }
    }
    let tensors: Vec<(&str, io::Tensor<'_>)> = named
        .iter()
        .map(|(n, s, d)| (n.as_str(), io::Tensor::f32(s, d)))
        .collect();
    let header = Header {
        stopped,
        log: log.clone(),
        bad_rounds,
        best: best.map(|(v, _)| *v),
        steps,
    };
    io::save(dir, "training-state", &header, &tensors)
}

pub(crate) fn load(dir: &Path, params: &Params, opt: &mut AdamW) -> Result<Option<State>> {
    if !dir.join(io::WEIGHTS_FILE).exists() {
        return Ok(None);
    }
    let file = Loaded::read(dir)?;
    let header: Header = serde_json::from_str(file.meta("config")?)
        .map_err(|e| file.bad(format!("training state: {e}")))?;
    let mut cache: Vec<(String, Shaped)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (n, _) in params.vars() {
        names.push(format!("param.{n}"));
        names.push(format!("adam.m.{n}"));
        names.push(format!("adam.v.{n}"));
        if header.best.is_some() {
            names.push(format!("best.{n}"));
        }
    }
    for n in names {
        let t = file.f32(&n, None)?;
        cache.push((n, t));
    }
    let find = |key: &str| {
        cache
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, (s, d))| (s.as_slice(), d.as_slice()))
    };
    params.restore(|n| find(&format!("param.{n}")))?;
    opt.load_state(params, header.steps, |k| find(k))?;
    let best = match header.best {
        Some(v) => {
            let mut snap = Vec::new();
            for (n, var) in params.vars() {
                let (_, d) =
                    find(&format!("best.{n}")).ok_or_else(|| file.bad(format!("no best.{n}")))?;
                snap.push((n.clone(), var.dims().to_vec(), d.to_vec()));
            }
            Some((v, snap))
        }
        None => None,
    };
    Ok(Some(State {
        stopped: header.stopped,
        log: header.log,
        bad_rounds: header.bad_rounds,
        best,
    }))
}
