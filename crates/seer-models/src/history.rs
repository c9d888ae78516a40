//! Helpers shared by the models that score from a user's history.

use seer_core::{ItemIdx, UserContext};

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

/// The scores of a factor model for a batch of `users` (`out`: `[users, n_items]`): each
/// user's `k`-vector from `user_vector`, then one `[users, k] × [k, n_items]` product
/// ([`factor_scores`]).
pub(crate) fn score_factor_users(
    users: &[UserContext<'_>],
    item_factors: &[f32],
    k: usize,
    out: &mut [f32],
    mut user_vector: impl FnMut(&UserContext<'_>, &mut [f32]),
) -> seer_core::Result<()> {
    let n = item_factors.len() / k.max(1);
    if out.len() != users.len() * n {
        return Err(seer_core::Error::ScoreBufferSize {
            expected: users.len() * n,
            got: out.len(),
        });
    }
    let mut xb = vec![0.0f32; users.len() * k];
    for (u, x) in users.iter().zip(xb.chunks_exact_mut(k)) {
        user_vector(u, x);
    }
    factor_scores(&xb, item_factors, k, out);
    Ok(())
}
