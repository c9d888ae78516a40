//! Helpers shared by the models that score from a user's history.

use seer_core::ItemIdx;

/// The distinct known items of `history` (items `>= n_items`, e.g. added after training, are
/// dropped), ascending, written into `buf`.
pub(crate) fn unique_known(history: &[ItemIdx], n_items: usize, buf: &mut Vec<ItemIdx>) {
    buf.clear();
    buf.extend(history.iter().copied().filter(|&i| (i as usize) < n_items));
    buf.sort_unstable();
    buf.dedup();
}

/// The distinct known items of `history` with how often each occurs, ascending by item.
pub(crate) fn counted_known(
    history: &[ItemIdx],
    n_items: usize,
    buf: &mut Vec<ItemIdx>,
    out: &mut Vec<(ItemIdx, f32)>,
) {
    buf.clear();
    buf.extend(history.iter().copied().filter(|&i| (i as usize) < n_items));
    buf.sort_unstable();
    out.clear();
    for &i in buf.iter() {
        match out.last_mut() {
            Some((last, c)) if *last == i => *c += 1.0,
            _ => out.push((i, 1.0)),
        }
    }
}

/// `out = X · Yᵀ`: the scores of `x.len() / k` user vectors against every row of the item
/// factors `y` (`[n_items, k]`), row-major `[users, n_items]`, with faer's parallel product.
pub(crate) fn factor_scores(x: &[f32], y: &[f32], k: usize, out: &mut [f32]) {
    use faer::{Accum, MatMut, MatRef};
    let (users, n) = (x.len() / k, y.len() / k);
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(out, users, n),
        Accum::Replace,
        MatRef::from_row_major_slice(x, users, k),
        MatRef::from_row_major_slice(y, n, k).transpose(),
        1.0,
        faer::get_global_parallelism(),
    );
}
