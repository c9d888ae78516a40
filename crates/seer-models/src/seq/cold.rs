//! Cold items from text (`text_cold`, both sequence models): the item vectors to map with,
//! the check that there are items to learn the map from, and writing the mapped rows into a
//! trained network (see [`super::ridge_rows`]).

use indicatif::ProgressBar;

use super::config::Shared;
use super::net::SeqNet;
use crate::error::{Error, Result};
use crate::train::TrainData;

/// Item sentence vectors `[n_items, d]` with `d`, read when a text key is on.
pub(crate) type Vectors = (Vec<f32>, usize);

/// The items' sentence vectors (`text_model` through `text_cache`) when any of the `wanted`
/// keys is on; errors name the first key on (`sasrec.text`). `None` when none is.
pub(crate) fn item_vectors(
    s: &Shared,
    kind: &str,
    wanted: &[(bool, &str)],
    train: &TrainData,
    pb: &ProgressBar,
) -> Result<Option<Vectors>> {
    let Some((_, key)) = wanted.iter().find(|(on, _)| *on) else {
        return Ok(None);
    };
    let enc = crate::text_encoder::TextEncoder::resolve(&s.text_model)?;
    let key = format!("{kind}.{key}");
    let v = crate::text::item_vectors(&enc, &s.text_cache, train, &key, pb)?;
    Ok(Some((v, enc.dim())))
}

/// Before training: `text_init` starts the id rows from the vectors, and `text_cold` is
/// refused when there are no items to learn its map from.
pub(crate) fn before_training(
    net: &SeqNet,
    s: &Shared,
    vectors: Option<&Vectors>,
    train: &TrainData,
    kind: &str,
) -> Result<()> {
    if let (true, Some((v, d))) = (s.text_init, vectors) {
        net.init_items_from_text(v, *d)?;
    }
    if let (true, Some((v, d))) = (s.text_cold, vectors) {
        check_cold_map(v, *d, train, &format!("{kind}.text_cold"))?;
    }
    Ok(())
}

/// After training (and after each continual update): with `text_cold`, the rows of the items
/// without an event mapped from their text.
pub(crate) fn after_training(
    net: &SeqNet,
    s: &Shared,
    vectors: Option<&Vectors>,
    train: &TrainData,
) -> Result<()> {
    if let (true, Some((v, d))) = (s.text_cold, vectors) {
        map_cold_items(net, v, *d, train, s.text_cold_spread)?;
    }
    Ok(())
}

/// The vectors a continual update maps its cold items with: read before the update, so a
/// missing encoder fails before any training; `None` without `text_cold`.
pub(crate) fn update_vectors(
    s: &Shared,
    train: &TrainData,
    kind: &str,
    pb: &ProgressBar,
) -> Result<Option<Vectors>> {
    if s.text_cold {
        cold_vectors(&s.text_model, &s.text_cache, train, kind, pb)
    } else {
        Ok(None)
    }
}

/// `text_cold`: the id rows (and output biases) of `train`'s items without an event, from a
/// ridge map of text vectors `v` (`[n_items, d]`) to the learned rows of the others.
pub(crate) fn map_cold_items(
    net: &SeqNet,
    v: &[f32],
    d: usize,
    train: &TrainData,
    spread: f32,
) -> Result<()> {
    let (n, s) = net.map_unseen_from_text(v, d, &seen_items(train), f64::from(spread))?;
    tracing::info!(
        items = n,
        ridge = s,
        spread,
        "cold items mapped from their text"
    );
    Ok(())
}

/// The item vectors a `text_cold` update maps with (checked with [`check_cold_map`]); errors
/// name `kind.text_model` / `kind.text_cold`.
pub(crate) fn cold_vectors(
    text_model: &str,
    cache: &str,
    train: &TrainData,
    kind: &str,
    pb: &ProgressBar,
) -> Result<Option<(Vec<f32>, usize)>> {
    let enc = crate::text_encoder::TextEncoder::resolve(text_model)
        .map_err(|e| Error::config(format!("{kind}.text_model"), e.to_string()))?;
    let key = format!("{kind}.text_cold");
    let v = crate::text::item_vectors(&enc, cache, train, &key, pb)?;
    check_cold_map(&v, enc.dim(), train, &key)?;
    Ok(Some((v, enc.dim())))
}

/// `text_cold` needs items to learn the map from: refused before any training when fewer
/// than two items have both text (a non-zero row of `v`) and a training event.
pub(crate) fn check_cold_map(v: &[f32], d: usize, train: &TrainData, key: &str) -> Result<()> {
    let seen = seen_items(train);
    let fit = (0..train.n_items)
        .filter(|&i| seen[i] && v[i * d..(i + 1) * d].iter().any(|&x| x != 0.0))
        .count();
    if fit < 2 {
        return Err(Error::config(
            key,
            format!(
                "{fit} item(s) have both text and training events; the map from text to \
                 embeddings needs at least two (drop text_cold)"
            ),
        ));
    }
    Ok(())
}

/// Which items of `train`'s catalogue have at least one event in its matrix (also the items
/// of users too short to train on, as in `zero_unseen`: their rows are learned as negatives
/// and inputs only, and they are targets of the map, not mapped).
pub(crate) fn seen_items(train: &TrainData) -> Vec<bool> {
    let mut seen = vec![false; train.n_items];
    for &i in &train.matrix.indices {
        seen[i as usize] = true;
    }
    seen
}
