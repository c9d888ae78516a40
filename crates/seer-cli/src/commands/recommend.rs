//! `seer recommend`: a user's top-N with the final business rules, generative decoding, or free-text queries.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use seer_core::{rerank, topk};
use seer_data::Dataset;
use seer_models::ModelConfig;

use super::import::load_dataset;
use crate::args::*;
use crate::artifacts;

pub(crate) fn recommend_cmd(a: &RecommendArgs) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let meta = artifacts::load_model_meta(&a.model, &data)?;
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let user = match &a.user {
        Some(id) => match data.users.get(id) {
            Some(u) => Some(u),
            None => bail!("unknown user {id:?} in dataset {:?}", data.name),
        },
        None => None,
    };
    if let Some(q) = &a.query {
        for line in query_lines(model.as_ref(), &data, q, user, a.n)? {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(u) = user else {
        bail!("--user is required without --query");
    };
    let now_context = request_context(&data, &a.context)?;
    let lines = match a.generate {
        Some(n) => {
            require_sequence_model(&meta.spec, &a.model)?;
            generate_lines(model.as_ref(), &data, u, n, a.beam, now_context.as_deref())?
        }
        None => {
            let rules = Rules {
                exclude: exclusions(&data, &a.exclude, a.exclude_file.as_deref())?,
                diversity: match a.diversity {
                    Some(l) if !(0.0..=1.0).contains(&l) => {
                        bail!("--diversity {l}: λ must be within 0..=1 (1 = by score only)")
                    }
                    l => l,
                },
            };
            recommend_lines(
                model.as_ref(),
                &data,
                u,
                a.n,
                now_context.as_deref(),
                a.explain,
                &rules,
            )?
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Codes of `COLUMN=VALUE` pairs for the dataset's context columns (others missing); `None`
/// when the dataset has no context columns and none were given.
pub(crate) fn request_context(data: &Dataset, pairs: &[String]) -> Result<Option<Vec<u32>>> {
    let cols = &data.interactions.context;
    let names = || {
        cols.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut codes = vec![seer_core::MISSING; cols.len()];
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--context {pair:?}: expected COLUMN=VALUE, e.g. device=mobile");
        };
        let Some(j) = cols.iter().position(|c| c.name == name) else {
            bail!(
                "--context {pair:?}: dataset {:?} has no context column {name:?} (it has: {})",
                data.name,
                if cols.is_empty() {
                    "none".into()
                } else {
                    names()
                }
            );
        };
        let Some(code) = cols[j].values.get(value) else {
            bail!(
                "--context {pair:?}: value {value:?} never occurs in column {name:?} (values: {})",
                cols[j].values.ids().join(", ")
            );
        };
        codes[j] = code;
    }
    Ok((!cols.is_empty()).then_some(codes))
}

/// Generative decoding reads scores as next-item logits: only the sequence models have them.
pub(crate) fn require_sequence_model(spec: &str, dir: &Path) -> Result<()> {
    if ModelConfig::from_spec(spec).is_ok_and(|c| c.is_sequential()) {
        Ok(())
    } else {
        bail!(
            "--generate needs a sequence model (sasrec, bert4rec), whose scores are next-item \
             probabilities; {} is {spec}",
            dir.display()
        )
    }
}

/// The next `n` items of user `u` decoded by beam search (all known events as history).
pub(crate) fn generate_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    u: u32,
    n: usize,
    beam: usize,
    now_context: Option<&[u32]>,
) -> Result<Vec<String>> {
    let m = all_events(data);
    let ctx = known_context(&m, u, now_context);
    let g = seer_core::generate::generate(model, &[ctx], &[&[]], n, beam)?;
    let Some(g) = g.first() else {
        bail!("beam search returned nothing");
    };
    let mut lines = vec![format!(
        "user {} — {} known events; next {} items as a sequence (beam {beam}, log-probability \
         {:.3}):",
        data.users.id(u).unwrap_or("?"),
        m.row(u).len(),
        g.items.len(),
        g.log_prob
    )];
    for (step, &i) in g.items.iter().enumerate() {
        lines.push(format!(
            "{:>3}. {}{:<60} (id {})",
            step + 1,
            if step == 0 { "" } else { "then " },
            data.item_label(i),
            data.items.id(i).unwrap_or("?")
        ));
    }
    Ok(lines)
}

/// Every event of `data` as a user × item matrix (rows in time order).
pub(crate) fn all_events(data: &Dataset) -> seer_data::Csr {
    let all: Vec<usize> = (0..data.interactions.len()).collect();
    seer_data::Csr::from_rows(&data.interactions, &all, data.n_users(), data.n_items())
}

/// User `u` as a model sees them when recommending now: every known event (row `u` of
/// [`all_events`]) with its time and context, and the request's context.
pub(crate) fn known_context<'a>(
    m: &'a seer_data::Csr,
    u: u32,
    now_context: Option<&'a [u32]>,
) -> seer_core::UserContext<'a> {
    seer_core::UserContext {
        user: Some(u),
        history: m.row(u),
        timestamps: Some(m.row_ts(u)),
        now: None,
        context: (m.n_context > 0).then(|| m.row_context(u)),
        now_context,
    }
}

/// Top `n` items for a free-text query (the `text` model), leaving out `user`'s known items.
pub(crate) fn query_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    query: &str,
    user: Option<u32>,
    n: usize,
) -> Result<Vec<String>> {
    if query.trim().is_empty() {
        bail!("--query is empty; describe what you are looking for");
    }
    let mut scores = vec![0f32; model.n_items()];
    model.score_query(query, &mut scores)?;
    let m = all_events(data);
    let known = user.map(|u| m.row(u)).unwrap_or(&[]);
    let mut lines = vec![format!("query {query:?}")];
    lines.extend(ranked_lines(data, &mut scores, known, n));
    Ok(lines)
}

/// Top-`n` lines for user `u` (all of the user's known events as history, seen items masked).
pub(crate) fn recommend_lines(
    model: &dyn seer_core::Recommender,
    data: &Dataset,
    u: u32,
    n: usize,
    now_context: Option<&[u32]>,
    explain: bool,
    rules: &Rules,
) -> Result<Vec<String>> {
    let m = all_events(data);
    let ctx = known_context(&m, u, now_context);
    let mut scores = vec![0f32; model.n_items()];
    model.score(&ctx, &mut scores)?;
    let mut lines = vec![format!(
        "user {} — {} known events; last: {}",
        data.users.id(u).unwrap_or("?"),
        m.row(u).len(),
        m.row(u)
            .iter()
            .rev()
            .take(3)
            .map(|&i| data.item_label(i))
            .collect::<Vec<_>>()
            .join("; ")
    )];
    // Business rules: seen and excluded items never come back; optional diversity.
    rerank::mask(&mut scores, m.row(u));
    rerank::mask(&mut scores, &rules.exclude);
    let picked: Vec<(u32, f32)> = match rules.diversity {
        Some(lambda) if lambda < 1.0 => {
            let pool = rerank::diversity_pool(&scores, n);
            let by_item = m.transpose();
            let users_of = |i: u32| -> Vec<u32> {
                let mut v = by_item.row(i).to_vec();
                v.sort_unstable();
                v.dedup();
                v
            };
            let sets: std::collections::HashMap<u32, Vec<u32>> =
                pool.iter().map(|c| (c.0, users_of(c.0))).collect();
            let empty = Vec::new();
            let set = |i: u32| sets.get(&i).unwrap_or(&empty);
            lines[0].push_str(&format!(
                " — diversified (MMR, λ {lambda}, over the top {})",
                pool.len()
            ));
            rerank::mmr(&pool, n, lambda, |a, b| rerank::set_cosine(set(a), set(b)))
        }
        _ => rerank::top_n(&scores, n),
    };
    let name = |i: u32| data.item_label(i).to_string();
    for (rank, &(item, score)) in picked.iter().enumerate() {
        lines.push(format!(
            "{:>3}. {:<60} (id {}, score {score:.4})",
            rank + 1,
            data.item_label(item),
            data.items.id(item).unwrap_or("?")
        ));
        if !explain {
            continue;
        }
        match model.explain(&ctx, item, &name)? {
            Some((p, why)) => {
                lines.push(format!("       P(engage) {p:.3}: {}", why.join("; ")));
            }
            None => lines.push(format!(
                "       (no explanation: {} models cannot explain their scores)",
                model.kind()
            )),
        }
    }
    Ok(lines)
}

/// The final list's business rules beyond "seen items removed".
#[derive(Debug, Default)]
pub(crate) struct Rules {
    /// Items never recommended.
    exclude: Vec<u32>,
    /// MMR trade-off λ, when diversifying.
    diversity: Option<f32>,
}

/// The items of `--exclude` and `--exclude-file`; an unknown id is an error naming where it
/// came from (a typo in an exclusion list would otherwise silently exclude nothing).
pub(crate) fn exclusions(data: &Dataset, ids: &[String], file: Option<&Path>) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match data.items.get(id) {
            Some(i) => out.push(i),
            None => bail!("--exclude {id:?}: no such item in dataset {:?}", data.name),
        }
    }
    if let Some(path) = file {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading --exclude-file {}", path.display()))?;
        for (no, line) in text.lines().enumerate() {
            let id = line.trim();
            if id.is_empty() || id.starts_with('#') {
                continue;
            }
            match data.items.get(id) {
                Some(i) => out.push(i),
                None => bail!(
                    "{}:{}: item id {id:?} is not in dataset {:?}",
                    path.display(),
                    no + 1,
                    data.name
                ),
            }
        }
    }
    Ok(out)
}

/// The top `n` of `scores` with `known` items masked, one numbered line each with the item's
/// label, id and score.
pub(crate) fn ranked_lines(
    data: &Dataset,
    scores: &mut [f32],
    known: &[u32],
    n: usize,
) -> Vec<String> {
    rerank::mask(scores, known);
    topk::top_k(scores, n)
        .into_iter()
        .enumerate()
        .map(|(rank, (i, s))| {
            format!(
                "{:>3}. {:<60} (id {}, score {s:.4})",
                rank + 1,
                data.item_label(i),
                data.items.id(i).unwrap_or("?")
            )
        })
        .collect()
}
