//! Saving and loading a [`SeqNet`] (weights and the model's config; see [`crate::io`]).

use std::path::Path;

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::net::{NetConfig, SeqNet};
use crate::error::Result;
use crate::io::{self, Loaded};

impl SeqNet {
    /// Writes the weights and the model's config into `dir` (see [`crate::io`]).
    pub(crate) fn save(&self, dir: &Path, kind: &str, config: &impl Serialize) -> Result<()> {
        let snap = self.params.snapshot()?;
        let mut tensors: Vec<(&str, io::Tensor<'_>)> = snap
            .iter()
            .map(|(n, s, d)| (n.as_str(), io::Tensor::f32(s, d)))
            .collect();
        let text = match &self.text {
            Some(t) => Some((
                t.vecs.dims().to_vec(),
                t.vecs.flatten_all()?.to_vec1::<f32>()?,
            )),
            None => None,
        };
        if let Some((shape, v)) = &text {
            tensors.push(("text_vecs", io::Tensor::f32(shape, v)));
        }
        let prior = match &self.prior {
            Some((vals, _)) => Some((vals.dims().to_vec(), vals.flatten_all()?.to_vec1::<f32>()?)),
            None => None,
        };
        if let Some((shape, v)) = &prior {
            tensors.push(("prior_vals", io::Tensor::f32(shape, v)));
        }
        io::save_model(dir, kind, config, &tensors)
    }

    /// Loads the weights saved by [`SeqNet::save`] into a network built for `cfg`; the
    /// catalogue size is read from the item table.
    pub(crate) fn load(file: &Loaded, mut cfg: NetConfig) -> Result<SeqNet> {
        let (shape, _) = file.f32("item_emb", None)?;
        let rows = shape.first().copied().unwrap_or(0);
        if shape.len() != 2 || rows < cfg.extra_tokens {
            return Err(file.bad(format!("tensor \"item_emb\": bad shape {shape:?}")));
        }
        cfg.n_items = rows - cfg.extra_tokens;
        // Context columns and their sizes are read from the tables.
        cfg.context.clear();
        while file.has(&format!("context.{}", cfg.context.len())) {
            let (shape, _) = file.f32(&format!("context.{}", cfg.context.len()), None)?;
            cfg.context
                .push(shape.first().copied().unwrap_or(1).saturating_sub(1));
        }
        cfg.query_context &= !cfg.context.is_empty();
        let text = if file.has("text_vecs") {
            let (shape, v) = file.f32("text_vecs", None)?;
            if shape.len() != 2 || shape[0] != rows {
                return Err(file.bad(format!("tensor \"text_vecs\": bad shape {shape:?}")));
            }
            cfg.text_dim = shape[1];
            cfg.text_skip = file.has("text.skip");
            Some(v)
        } else {
            cfg.text_dim = 0;
            cfg.text_skip = false;
            None
        };
        cfg.prior = file.has("prior.weight");
        let prior = if cfg.prior {
            let (shape, v) = file.f32("prior_vals", None)?;
            if shape != [rows - cfg.extra_tokens, 1] {
                return Err(file.bad(format!("tensor \"prior_vals\": bad shape {shape:?}")));
            }
            Some(v)
        } else {
            None
        };
        let mut net = SeqNet::new(cfg, &mut ChaCha8Rng::seed_from_u64(0), &Device::Cpu)?;
        if let Some(v) = text {
            net.set_text_tensor(v)?;
        }
        if let Some(v) = prior {
            net.set_prior_values(v)?;
        }
        let mut values = Vec::new();
        for (name, _) in net.params.vars() {
            values.push((name.clone(), file.f32(name, None)?));
        }
        net.params
            .restore(|name| {
                values
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, (s, d))| (s.as_slice(), d.as_slice()))
            })
            .map_err(|e| file.bad(e.to_string()))?;
        Ok(net)
    }
}
