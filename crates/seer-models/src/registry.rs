//! The model registry: one typed enum instead of a string → constructor map.

use std::path::Path;

use indicatif::ProgressBar;
use seer_core::Recommender;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::Loaded;
use crate::seq::SeqModel;
use crate::train::{FitOptions, TrainData};
use crate::{als, bert4rec, bpr, ease, item_knn, popularity, sasrec, text, two_stage};

/// Which model to fit, with its hyperparameters.
///
/// Serialised with a `model` tag, e.g. `{"model": "ease", "lambda": 500.0}` in JSON or
/// `model = "ease"` plus the keys in `seer.toml`; a typo in a key is a parse error. The tag
/// is the model's [`ModelConfig::name`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Most popular items, all-time or in a recent window ([`popularity`]).
    #[serde(rename = "pop", alias = "popularity")]
    Popularity(popularity::Config),
    /// Item-based k-nearest-neighbours with cosine similarity ([`item_knn`]).
    #[serde(rename = "itemknn", alias = "item_knn")]
    ItemKnn(item_knn::Config),
    /// EASE, the closed-form linear item-item autoencoder ([`ease`]).
    Ease(ease::Config),
    /// Implicit-feedback alternating least squares ([`als`]).
    Als(als::Config),
    /// Matrix factorisation trained with the BPR loss ([`bpr`]).
    Bpr(bpr::Config),
    /// SASRec, the causal Transformer over the user's sequence ([`sasrec`]).
    Sasrec(sasrec::Config),
    /// BERT4Rec, the bidirectional masked-item Transformer ([`bert4rec`]).
    Bert4rec(bert4rec::Config),
    /// The language-model recommender: cosine of sentence-encoder vectors ([`text`]).
    Text(text::Config),
    /// A candidate generator followed by a feature-based ranker ([`two_stage`]); spec
    /// `GENERATOR+lr` or `GENERATOR+fm`.
    #[serde(rename = "two_stage")]
    TwoStage(two_stage::Config),
}

/// Names accepted by [`ModelConfig::from_spec`] and written into model files.
pub const MODEL_NAMES: [&str; 8] = [
    "pop", "itemknn", "ease", "als", "bpr", "sasrec", "bert4rec", "text",
];

/// The comma-separated `key=value` pairs of a spec, values as JSON scalars where they parse
/// (`3`, `true`, `"ce"`) and bare strings otherwise; `model` names the spec in errors.
pub(crate) fn spec_params(
    params: &str,
    model: &'static str,
) -> Result<Vec<(String, serde_json::Value)>> {
    params
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let Some((key, raw)) = kv.split_once('=') else {
                return Err(Error::Spec {
                    model,
                    message: format!("{kv:?}: expected key=value"),
                });
            };
            let (key, raw) = (key.trim(), raw.trim());
            let value = serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .filter(|v| !v.is_object() && !v.is_array())
                .unwrap_or_else(|| serde_json::Value::String(raw.to_string()));
            Ok((key.to_string(), value))
        })
        .collect()
}

impl ModelConfig {
    /// Stable short name: `pop`, `itemknn`, `ease`, `als` (equals the fitted model's
    /// [`Recommender::kind`]).
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Popularity(_) => popularity::KIND,
            ModelConfig::ItemKnn(_) => item_knn::KIND,
            ModelConfig::Ease(_) => ease::KIND,
            ModelConfig::Als(_) => als::KIND,
            ModelConfig::Bpr(_) => bpr::KIND,
            ModelConfig::Sasrec(_) => sasrec::KIND,
            ModelConfig::Bert4rec(_) => bert4rec::KIND,
            ModelConfig::Text(_) => text::KIND,
            ModelConfig::TwoStage(_) => two_stage::KIND,
        }
    }

    /// The default configuration of model `name` (`pop`, `itemknn`, `ease`, `als`; the long
    /// forms `popularity` and `item_knn` are accepted too).
    pub fn default_for(name: &str) -> Result<ModelConfig> {
        Ok(match name {
            "pop" | "popularity" => ModelConfig::Popularity(Default::default()),
            "itemknn" | "item_knn" => ModelConfig::ItemKnn(Default::default()),
            "ease" => ModelConfig::Ease(Default::default()),
            "als" => ModelConfig::Als(Default::default()),
            "bpr" => ModelConfig::Bpr(Default::default()),
            "sasrec" => ModelConfig::Sasrec(Default::default()),
            "bert4rec" => ModelConfig::Bert4rec(Default::default()),
            "text" => ModelConfig::Text(Default::default()),
            "two_stage" => ModelConfig::TwoStage(Default::default()),
            _ => {
                return Err(Error::UnknownModel {
                    name: name.to_string(),
                    valid: MODEL_NAMES.to_vec(),
                })
            }
        })
    }

    /// Parses a command-line model spec: a model name, optionally followed by `:` and
    /// comma-separated `key=value` pairs, e.g. `pop`, `pop:window_days=30`,
    /// `itemknn:k=200,shrink=10`, `ease:lambda=250`, `als:factors=64,reg=0.01,alpha=10,iters=15`.
    ///
    /// Keys are the config field names. An unknown model or key is an error naming it and
    /// listing the valid ones; the result is validated.
    pub fn from_spec(spec: &str) -> Result<ModelConfig> {
        let spec = spec.trim();
        if let Some((generator, ranker)) = spec.split_once('+') {
            return Self::two_stage_spec(generator, ranker);
        }
        let (name, params) = match spec.split_once(':') {
            Some((n, p)) => (n.trim(), p),
            None => (spec, ""),
        };
        let canonical = ModelConfig::default_for(name)?.name();
        let mut all = serde_json::Map::new();
        all.insert("model".into(), canonical.into());
        for kv in params.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, raw)) = kv.split_once('=') else {
                return Err(Error::Spec {
                    model: canonical,
                    message: format!("{kv:?}: expected key=value"),
                });
            };
            let (key, raw) = (key.trim(), raw.trim());
            // Numbers, booleans, `null` and quoted strings (`loss="ce"`, as resolved specs
            // print them) parse as JSON; anything else is a bare string (`loss=ce`).
            let value = match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(
                    v @ (serde_json::Value::Number(_)
                    | serde_json::Value::Bool(_)
                    | serde_json::Value::String(_)
                    | serde_json::Value::Null),
                ) => v,
                _ => serde_json::Value::String(raw.to_string()),
            };
            // Check each key alone first so the error names it.
            let one = serde_json::json!({ "model": canonical, key: value.clone() });
            if let Err(e) = serde_json::from_value::<ModelConfig>(one) {
                return Err(Error::Spec {
                    model: canonical,
                    message: format!("{key}={raw}: {e}"),
                });
            }
            all.insert(key.to_string(), value);
        }
        let cfg: ModelConfig =
            serde_json::from_value(serde_json::Value::Object(all)).map_err(|e| Error::Spec {
                model: canonical,
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `GENERATOR+RANKER[:key=value,…]`: the generator is any spec; the ranker is `lr` or `fm`,
    /// its keys those of the ranker, of the two-stage model (`candidates`, `negatives`,
    /// `max_users`, `seed`) and of its features (`bits`, `ids`, `crosses`, …).
    fn two_stage_spec(generator: &str, ranker: &str) -> Result<ModelConfig> {
        // `ease|itemknn:k=50+lr`: candidates of several generators merged.
        let mut gens = generator.split('|');
        let generator = ModelConfig::from_spec(gens.next().unwrap_or(""))?;
        let extra = gens
            .map(ModelConfig::from_spec)
            .collect::<Result<Vec<_>>>()?;
        let (name, params) = match ranker.trim().split_once(':') {
            Some((n, p)) => (n.trim(), p),
            None => (ranker.trim(), ""),
        };
        let mut rk = serde_json::Map::new();
        rk.insert(
            "kind".into(),
            match name {
                "lr" | "fm" => name.into(),
                other => {
                    return Err(Error::Spec {
                        model: two_stage::KIND,
                        message: format!("ranker {other:?}: expected lr or fm"),
                    })
                }
            },
        );
        let (mut top, mut feats) = (serde_json::Map::new(), serde_json::Map::new());
        let feature_keys = serde_json::to_value(crate::ranker::features::Config::default())
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
            .unwrap_or_default();
        for (key, value) in spec_params(params, two_stage::KIND)? {
            let key = key.as_str();
            match key {
                "candidates" | "negatives" | "max_users" | "seed" => {
                    top.insert(key.into(), value);
                }
                k if feature_keys.iter().any(|f| f == k) => {
                    feats.insert(key.into(), value);
                }
                _ => {
                    rk.insert(key.into(), value);
                }
            }
        }
        top.insert("model".into(), two_stage::KIND.into());
        top.insert(
            "generator".into(),
            serde_json::to_value(&generator).map_err(|e| Error::Spec {
                model: two_stage::KIND,
                message: e.to_string(),
            })?,
        );
        top.insert(
            "extra_generators".into(),
            serde_json::to_value(&extra).map_err(|e| Error::Spec {
                model: two_stage::KIND,
                message: e.to_string(),
            })?,
        );
        top.insert("ranker".into(), serde_json::Value::Object(rk));
        top.insert("features".into(), serde_json::Value::Object(feats));
        let cfg: ModelConfig =
            serde_json::from_value(serde_json::Value::Object(top)).map_err(|e| Error::Spec {
                model: two_stage::KIND,
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every hyperparameter's range; errors name the key (`ease.lambda`).
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelConfig::Popularity(c) => c.validate(),
            ModelConfig::ItemKnn(c) => c.validate(),
            ModelConfig::Ease(c) => c.validate(),
            ModelConfig::Als(c) => c.validate(),
            ModelConfig::Bpr(c) => c.validate(),
            ModelConfig::Sasrec(c) => c.validate(),
            ModelConfig::Bert4rec(c) => c.validate(),
            ModelConfig::Text(c) => c.validate(),
            ModelConfig::TwoStage(c) => c.validate(),
        }
    }

    /// A small grid (at most 8 configurations) around this one for `seer tune`: the
    /// hyperparameters that matter most are varied, the others are kept from `self`.
    ///
    /// - `pop`: only `self` (a recency window needs timestamps and a sense of the data's time
    ///   span, which a grid cannot know);
    /// - `itemknn`: `k` ∈ {50, 200, 500, 1000} × `shrink` ∈ {0, 10};
    /// - `ease`: `lambda` ∈ {5, 10, 25, 50, 100, 250, 500, 1000} (sparse 5-core data such as
    ///   Amazon Beauty prefers small values);
    /// - `als`: `factors` ∈ {64, 128} × `reg` ∈ {0.01, 0.1} × `alpha` ∈ {10, 40};
    /// - `bpr`: `lr` ∈ {0.001, 0.005} × `reg` ∈ {0, 0.0001} (each fit early-stops on
    ///   validation);
    /// - `sasrec`, `bert4rec`: `dropout` ∈ {0.2, 0.5} (each fit already early-stops on
    ///   validation, and a fit takes minutes);
    /// - `text`: the recency half-life `half_life` ∈ {2, 5, 20} events.
    pub fn tuning_grid(&self) -> Vec<ModelConfig> {
        match self {
            ModelConfig::Popularity(_) => vec![self.clone()],
            // The ranker's step sizes (the generator stays as given: tune it on its own).
            ModelConfig::TwoStage(c) => match &c.ranker {
                two_stage::RankerConfig::Lr(l) => [0.02, 0.05, 0.2, 0.5]
                    .into_iter()
                    .map(|alpha| {
                        ModelConfig::TwoStage(two_stage::Config {
                            ranker: two_stage::RankerConfig::Lr(crate::ranker::lr::Config {
                                alpha,
                                ..l.clone()
                            }),
                            ..c.clone()
                        })
                    })
                    .collect(),
                two_stage::RankerConfig::Fm(f) => {
                    let mut out = Vec::new();
                    for lr in [0.0005, 0.001, 0.005] {
                        for factors in [4, 16] {
                            out.push(ModelConfig::TwoStage(two_stage::Config {
                                ranker: two_stage::RankerConfig::Fm(crate::ranker::fm::Config {
                                    lr,
                                    factors,
                                    ..f.clone()
                                }),
                                ..c.clone()
                            }));
                        }
                    }
                    out
                }
            },
            ModelConfig::Text(c) => [2.0, 5.0, 20.0]
                .into_iter()
                .map(|half_life| {
                    ModelConfig::Text(text::Config {
                        half_life,
                        ..c.clone()
                    })
                })
                .collect(),
            ModelConfig::Sasrec(c) => [0.2, 0.5]
                .into_iter()
                .map(|d| {
                    ModelConfig::Sasrec(sasrec::Config {
                        dropout: d,
                        attn_dropout: d,
                        ..c.clone()
                    })
                })
                .collect(),
            ModelConfig::Bert4rec(c) => [0.2, 0.5]
                .into_iter()
                .map(|d| {
                    ModelConfig::Bert4rec(bert4rec::Config {
                        dropout: d,
                        attn_dropout: d,
                        ..c.clone()
                    })
                })
                .collect(),
            ModelConfig::ItemKnn(c) => [50, 200, 500, 1000]
                .into_iter()
                .flat_map(|k| {
                    [0.0, 10.0].map(|shrink| {
                        ModelConfig::ItemKnn(item_knn::Config {
                            k,
                            shrink,
                            ..c.clone()
                        })
                    })
                })
                .collect(),
            ModelConfig::Ease(_) => [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]
                .into_iter()
                .map(|lambda| ModelConfig::Ease(ease::Config { lambda }))
                .collect(),
            ModelConfig::Bpr(c) => {
                let mut out = Vec::new();
                for lr in [0.001, 0.005] {
                    for reg in [0.0, 0.0001] {
                        out.push(ModelConfig::Bpr(bpr::Config {
                            lr,
                            reg,
                            ..c.clone()
                        }));
                    }
                }
                out
            }
            ModelConfig::Als(c) => {
                let mut out = Vec::new();
                for factors in [64, 128] {
                    for reg in [0.01, 0.1] {
                        for alpha in [10.0, 40.0] {
                            out.push(ModelConfig::Als(als::Config {
                                factors,
                                reg,
                                alpha,
                                ..c.clone()
                            }));
                        }
                    }
                }
                out
            }
        }
    }

    /// [`ModelConfig::tuning_grid`] of the configuration `spec` resolves to, with every key
    /// the spec sets kept at its value: only what the user left out is tuned
    /// (`ease:lambda=250` is not tuned at all; `itemknn:shrink=10` tunes `k` alone). For a
    /// two-stage spec the keys after the ranker's `:` are the given ones.
    pub fn tuning_grid_for(spec: &str) -> Result<Vec<ModelConfig>> {
        let base = ModelConfig::from_spec(spec)?;
        let given = given_keys(spec, base.name())?;
        let mut out: Vec<ModelConfig> = Vec::new();
        for cfg in base.tuning_grid() {
            let cfg = if given.is_empty() {
                cfg
            } else {
                keep_keys(&cfg, &base, &given)?
            };
            if !out.contains(&cfg) {
                out.push(cfg);
            }
        }
        Ok(out)
    }

    /// Validates, then fits the model on `train`. `pb` shows progress (pass
    /// `ProgressBar::hidden()` to show nothing).
    pub fn fit(&self, train: &TrainData, pb: &ProgressBar) -> Result<Box<dyn Recommender>> {
        self.fit_with(train, &FitOptions::default(), pb)
    }

    /// This configuration trained for exactly `epochs` epochs without early stopping (the
    /// refit on train + validation of an iterative model reuses its best epoch count); other
    /// models are returned unchanged.
    pub fn with_fixed_epochs(&self, epochs: usize) -> ModelConfig {
        match self {
            ModelConfig::Sasrec(c) => ModelConfig::Sasrec(sasrec::Config {
                // A zero-shot transfer (`init`, 0 epochs) stays untrained.
                epochs: if c.epochs == 0 { 0 } else { epochs.max(1) },
                patience: 0,
                ..c.clone()
            }),
            ModelConfig::Bert4rec(c) => ModelConfig::Bert4rec(bert4rec::Config {
                epochs: epochs.max(1),
                patience: 0,
                ..c.clone()
            }),
            ModelConfig::Bpr(c) => ModelConfig::Bpr(bpr::Config {
                epochs: epochs.max(1),
                patience: 0,
                ..c.clone()
            }),
            other => other.clone(),
        }
    }

    /// Whether the model is trained by gradient descent and uses [`FitOptions`] (validation
    /// for early stopping; resumable checkpoints for the sequence models). Under seer's
    /// protocol such a model is refit on train + validation for the best epoch count found
    /// on validation ([`ModelConfig::with_fixed_epochs`]); under RecBole's it is tested as
    /// early-stopped on train.
    pub fn is_iterative(&self) -> bool {
        matches!(
            self,
            ModelConfig::Sasrec(_) | ModelConfig::Bert4rec(_) | ModelConfig::Bpr(_)
        )
    }

    /// Whether the model reads the user's history as a sequence and scores the next item
    /// (SASRec, BERT4Rec): its scores are next-item logits.
    pub fn is_sequential(&self) -> bool {
        matches!(self, ModelConfig::Sasrec(_) | ModelConfig::Bert4rec(_))
    }

    /// [`ModelConfig::fit`] with a validator and a checkpoint directory for the models that
    /// use them ([`ModelConfig::is_iterative`]); the others ignore `opts`.
    pub fn fit_with(
        &self,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Box<dyn Recommender>> {
        self.validate()?;
        let _span = tracing::info_span!("fit", model = self.name()).entered();
        Ok(match self {
            ModelConfig::Popularity(c) => Box::new(popularity::Popularity::fit(c, train, pb)?),
            ModelConfig::ItemKnn(c) => Box::new(item_knn::ItemKnn::fit(c, train, pb)?),
            ModelConfig::Ease(c) => Box::new(ease::Ease::fit(c, train, pb)?),
            ModelConfig::Als(c) => Box::new(als::Als::fit(c, train, pb)?),
            ModelConfig::Bpr(c) => Box::new(bpr::Bpr::fit(c, train, opts, pb)?),
            ModelConfig::Sasrec(c) => Box::new(sasrec::Sasrec::fit(c, train, opts, pb)?),
            ModelConfig::Bert4rec(c) => Box::new(bert4rec::Bert4rec::fit(c, train, opts, pb)?),
            ModelConfig::Text(c) => Box::new(text::TextRecommender::fit(c, train, pb)?),
            ModelConfig::TwoStage(c) => Box::new(two_stage::TwoStage::fit(c, train, pb)?),
        })
    }
}

/// The keys a spec sets: those after the `:` of a plain spec, or after the ranker's `:` of a
/// two-stage one (`ease:lambda=5+lr:alpha=0.2` gives `alpha`: the generator is never tuned).
fn given_keys(spec: &str, model: &'static str) -> Result<Vec<String>> {
    // `from_spec` splits a two-stage spec at its first `+` (a value may hold one: `1e+0`).
    let tail = spec.split_once('+').map_or(spec, |(_, ranker)| ranker);
    let params = tail.split_once(':').map_or("", |(_, p)| p);
    Ok(spec_params(params, model)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// `cfg` with the `given` keys set back to their values in `base`. The keys of a two-stage
/// model's ranker live one level down (`ranker.alpha`), so each key is looked for at the
/// top and then inside the ranker.
fn keep_keys(cfg: &ModelConfig, base: &ModelConfig, given: &[String]) -> Result<ModelConfig> {
    let json = |c: &ModelConfig| {
        serde_json::to_value(c).map_err(|e| Error::Spec {
            model: c.name(),
            message: e.to_string(),
        })
    };
    let (mut v, b) = (json(cfg)?, json(base)?);
    for key in given {
        let from = b
            .get(key)
            .or_else(|| ranker_fields(&b).and_then(|r| r.get(key)));
        let Some(from) = from.cloned() else { continue };
        if let Some(slot) = v.get_mut(key) {
            *slot = from;
        } else if let Some(slot) = ranker_fields_mut(&mut v).and_then(|r| r.get_mut(key)) {
            *slot = from;
        }
    }
    serde_json::from_value(v).map_err(|e| Error::Spec {
        model: cfg.name(),
        message: e.to_string(),
    })
}

/// The fields of a two-stage config's ranker (`{"ranker": {"kind": "lr", "alpha": …}}`).
fn ranker_fields(v: &serde_json::Value) -> Option<&serde_json::Map<String, serde_json::Value>> {
    v.get("ranker")?.as_object()
}

fn ranker_fields_mut(
    v: &mut serde_json::Value,
) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
    v.get_mut("ranker")?.as_object_mut()
}

/// The model config recorded in a saved model's header.
pub(crate) fn header_config(file: &Loaded) -> Result<ModelConfig> {
    serde_json::from_str(file.meta("config")?)
        .map_err(|e| file.bad(format!("header entry \"config\": {e}")))
}

/// Loads a model saved by [`Recommender::save`] from directory `dir`, dispatching on the kind
/// recorded in its header. Fails on another format version ("model written by format 2, this
/// seer reads 1"), a missing tensor or a shape that does not match the config.
pub fn load(dir: &Path) -> Result<Box<dyn Recommender>> {
    let file = Loaded::read(dir)?;
    let kind = file.meta("model")?;
    let cfg = header_config(&file)?;
    if cfg.name() != kind {
        return Err(file.bad(format!(
            "header says model {kind:?} but its config is for {:?}",
            cfg.name()
        )));
    }
    cfg.validate()?;
    Ok(match cfg {
        ModelConfig::Popularity(c) => Box::new(popularity::Popularity::load(&file, c)?),
        ModelConfig::ItemKnn(c) => Box::new(item_knn::ItemKnn::load(&file, c)?),
        ModelConfig::Ease(c) => Box::new(ease::Ease::load(&file, c)?),
        ModelConfig::Als(c) => Box::new(als::Als::load(&file, c)?),
        ModelConfig::Bpr(c) => Box::new(bpr::Bpr::load(&file, c)?),
        ModelConfig::Sasrec(c) => Box::new(sasrec::Sasrec::load(&file, c)?),
        ModelConfig::Bert4rec(c) => Box::new(bert4rec::Bert4rec::load(&file, c)?),
        ModelConfig::Text(c) => Box::new(text::TextRecommender::load(&file, c)?),
        ModelConfig::TwoStage(c) => Box::new(two_stage::TwoStage::load(&file, c)?),
    })
}

/// Continual update of the sequence model saved in `dir` (see `SeqModel::update` in `seq`):
/// carried over to `train`'s catalogue through `map` (`map[j]`: the saved model's index of
/// item `j`, `None` for an item it never learned), then trained `epochs` more epochs on
/// `train`, on `opts.users` only when given. Other kinds are refused: they are refit from
/// scratch (`seer train` without `--from`), which is what an update means for them.
pub fn update(
    dir: &Path,
    map: &[Option<u32>],
    epochs: usize,
    train: &TrainData,
    opts: &FitOptions<'_>,
    pb: &ProgressBar,
) -> Result<Box<dyn Recommender>> {
    let file = Loaded::read(dir)?;
    let cfg = header_config(&file)?;
    let _span = tracing::info_span!("update", model = cfg.name()).entered();
    Ok(match cfg {
        ModelConfig::Sasrec(c) => {
            Box::new(sasrec::Sasrec::load(&file, c)?.update(map, epochs, train, opts, pb)?)
        }
        ModelConfig::Bert4rec(c) => {
            Box::new(bert4rec::Bert4rec::load(&file, c)?.update(map, epochs, train, opts, pb)?)
        }
        other => {
            return Err(Error::config(
                other.name(),
                "continual updates (`seer train --from`) are for the sequence models sasrec \
                 and bert4rec; refit this model from scratch instead (it has no state to \
                 continue from)",
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_keeps_the_keys_the_spec_gives() {
        // ease has one key: given, nothing is left to tune.
        let g = ModelConfig::tuning_grid_for("ease:lambda=250").unwrap();
        assert_eq!(g, vec![ModelConfig::from_spec("ease:lambda=250").unwrap()]);
        assert_eq!(ModelConfig::tuning_grid_for("ease").unwrap().len(), 8);
        // itemknn: shrink given, k tuned; the other keys the spec sets survive too.
        let g = ModelConfig::tuning_grid_for("itemknn:shrink=10").unwrap();
        assert_eq!(g.len(), 4);
        assert!(g
            .iter()
            .all(|c| matches!(c, ModelConfig::ItemKnn(k) if k.shrink == 10.0)));
        // sasrec: the given dropout stays, its attention dropout is still tuned.
        let g = ModelConfig::tuning_grid_for("sasrec:dropout=0.3,epochs=3").unwrap();
        assert_eq!(g.len(), 2);
        assert!(g
            .iter()
            .all(|c| matches!(c, ModelConfig::Sasrec(s) if s.dropout == 0.3 && s.epochs == 3)));
        // two-stage: the ranker's alpha given, nothing left in its grid.
        let g = ModelConfig::tuning_grid_for("ease+lr:alpha=0.7").unwrap();
        assert_eq!(g.len(), 1);
        assert!(matches!(&g[0], ModelConfig::TwoStage(t)
            if matches!(&t.ranker, two_stage::RankerConfig::Lr(l) if l.alpha == 0.7)));
        let g = ModelConfig::tuning_grid_for("ease+lr:alpha=1e+0").unwrap();
        assert_eq!(g.len(), 1, "a value holding a `+` is still the ranker's");
        assert_eq!(ModelConfig::tuning_grid_for("ease+lr").unwrap().len(), 4);
    }

    #[test]
    fn refit_keeps_the_decay_schedule() {
        // The test-stage refit trains fewer epochs on the validated schedule.
        let c = bert4rec::Config {
            epochs: 60,
            lr_decay_epochs: 60,
            ..Default::default()
        };
        let ModelConfig::Bert4rec(refit) = ModelConfig::Bert4rec(c).with_fixed_epochs(44) else {
            panic!("not bert4rec")
        };
        assert_eq!((refit.epochs, refit.lr_decay_epochs), (44, 60));
        refit.validate().expect("valid");
        assert_eq!(refit.train_loop().decay_epochs, 60);
    }

    #[test]
    fn resolved_specs_parse_back() {
        for name in MODEL_NAMES {
            let cfg = ModelConfig::default_for(name).expect("default");
            let v = serde_json::to_value(&cfg).expect("json");
            let kv: Vec<String> = v
                .as_object()
                .expect("object")
                .iter()
                .filter(|(k, _)| *k != "model")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let spec = format!("{name}:{}", kv.join(","));
            assert_eq!(ModelConfig::from_spec(&spec).expect(&spec), cfg, "{spec}");
        }
        assert!(ModelConfig::from_spec("sasrec:loss=sampled").is_ok());
    }

    #[test]
    fn parses_specs() {
        assert_eq!(ModelConfig::from_spec("pop").unwrap().name(), "pop");
        let ModelConfig::Popularity(p) = ModelConfig::from_spec("pop:window_days=30").unwrap()
        else {
            panic!()
        };
        assert_eq!(p.window_days, Some(30.0));
        let ModelConfig::ItemKnn(c) = ModelConfig::from_spec("itemknn:k=200,shrink=10").unwrap()
        else {
            panic!()
        };
        assert_eq!((c.k, c.shrink), (200, 10.0));
        let ModelConfig::Ease(c) = ModelConfig::from_spec("ease:lambda=250").unwrap() else {
            panic!()
        };
        assert_eq!(c.lambda, 250.0);
        let ModelConfig::Als(c) =
            ModelConfig::from_spec("als:factors=64,reg=0.01,alpha=10,iters=15").unwrap()
        else {
            panic!()
        };
        assert_eq!((c.factors, c.reg, c.alpha, c.iters), (64, 0.01, 10.0, 15));
        assert_eq!(
            ModelConfig::from_spec("itemknn").unwrap(),
            ModelConfig::ItemKnn(Default::default())
        );
    }

    #[test]
    fn spec_errors_name_the_culprit() {
        let e = ModelConfig::from_spec("foo:k=1").unwrap_err().to_string();
        assert!(
            e.contains("\"foo\"") && e.contains("pop, itemknn, ease, als"),
            "{e}"
        );
        let e = ModelConfig::from_spec("ease:lamda=3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lamda") && e.contains("lambda"), "{e}");
        let e = ModelConfig::from_spec("ease:lambda=abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lambda=abc"), "{e}");
        let e = ModelConfig::from_spec("ease:lambda=-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ease.lambda"), "{e}");
        let e = ModelConfig::from_spec("itemknn:k").unwrap_err().to_string();
        assert!(e.contains("key=value"), "{e}");
    }

    #[test]
    fn serde_tag_is_the_name() {
        for name in MODEL_NAMES {
            let cfg = ModelConfig::default_for(name).unwrap();
            let json = serde_json::to_value(&cfg).unwrap();
            assert_eq!(json["model"], name);
            assert_eq!(serde_json::from_value::<ModelConfig>(json).unwrap(), cfg);
        }
        let long: ModelConfig = serde_json::from_str(r#"{"model":"item_knn","k":5}"#).unwrap();
        assert_eq!(long.name(), "itemknn");
        assert!(
            serde_json::from_str::<ModelConfig>(r#"{"model":"ease","lambda":1,"x":2}"#).is_err()
        );
    }

    #[test]
    fn grids_are_small_and_valid() {
        for name in MODEL_NAMES {
            let grid = ModelConfig::default_for(name).unwrap().tuning_grid();
            assert!(
                !grid.is_empty() && grid.len() <= 8,
                "{name}: {}",
                grid.len()
            );
            for g in &grid {
                g.validate().unwrap();
                assert_eq!(g.name(), name);
            }
        }
    }
}
