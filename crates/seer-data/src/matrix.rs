//! Compressed sparse row (CSR) user × item interaction matrices.

use seer_core::{ItemIdx, UserIdx};

use crate::dataset::Interactions;

/// A user × item matrix in CSR form, rows in time order.
///
/// Row `u` holds user `u`'s events (`indices[indptr[u]..indptr[u+1]]`), oldest first, with
/// their weights and timestamps. Repeated user–item events are kept; [`Self::binary`] collapses
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    /// Number of rows (users).
    pub n_rows: usize,
    /// Number of columns (items).
    pub n_cols: usize,
    /// Row offsets, length `n_rows + 1`.
    pub indptr: Vec<usize>,
    /// Column (item) of each entry.
    pub indices: Vec<ItemIdx>,
    /// Weight (rating) of each entry.
    pub weights: Vec<f32>,
    /// Timestamp of each entry.
    pub ts: Vec<i64>,
    /// Categorical context codes of each entry (`n_context` per entry, row-major; `u32::MAX`
    /// = missing) when built from interactions with context columns by [`Csr::from_rows`];
    /// empty for derived matrices ([`Csr::binary`], [`Csr::transpose`]).
    pub context: Vec<u32>,
    /// Context columns per entry (0 when `context` is empty).
    pub n_context: usize,
}

impl Csr {
    /// Builds the matrix from the rows `rows` of `inter`, ordering each user's events by
    /// `(ts, row index)` so ties keep file order.
    pub fn from_rows(inter: &Interactions, rows: &[usize], n_users: usize, n_items: usize) -> Csr {
        let mut counts = vec![0usize; n_users + 1];
        for &r in rows {
            counts[inter.user[r] as usize + 1] += 1;
        }
        for u in 0..n_users {
            counts[u + 1] += counts[u];
        }
        let indptr = counts.clone();
        let mut order = vec![0usize; rows.len()];
        let mut next = counts;
        for &r in rows {
            let u = inter.user[r] as usize;
            order[next[u]] = r;
            next[u] += 1;
        }
        for u in 0..n_users {
            order[indptr[u]..indptr[u + 1]].sort_by_key(|&r| (inter.ts[r], r));
        }
        let n_context = inter.context.len();
        let mut context = Vec::with_capacity(order.len() * n_context);
        for &r in &order {
            context.extend(inter.context.iter().map(|c| c.codes[r]));
        }
        Csr {
            n_rows: n_users,
            n_cols: n_items,
            context,
            n_context,
            indices: order.iter().map(|&r| inter.item[r]).collect(),
            weights: order.iter().map(|&r| inter.rating[r]).collect(),
            ts: order.iter().map(|&r| inter.ts[r]).collect(),
            indptr,
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Items of row `u`, oldest first.
    pub fn row(&self, u: UserIdx) -> &[ItemIdx] {
        let u = u as usize;
        &self.indices[self.indptr[u]..self.indptr[u + 1]]
    }

    /// Weights of row `u`.
    pub fn row_weights(&self, u: UserIdx) -> &[f32] {
        let u = u as usize;
        &self.weights[self.indptr[u]..self.indptr[u + 1]]
    }

    /// Timestamps of row `u`.
    pub fn row_ts(&self, u: UserIdx) -> &[i64] {
        let u = u as usize;
        &self.ts[self.indptr[u]..self.indptr[u + 1]]
    }

    /// Context codes of row `u` (`n_context` per entry, row-major; empty without context).
    pub fn row_context(&self, u: UserIdx) -> &[u32] {
        let (u, k) = (u as usize, self.n_context);
        if self.context.is_empty() {
            return &[];
        }
        &self.context[self.indptr[u] * k..self.indptr[u + 1] * k]
    }

    /// The same matrix with each user–item pair once (weight 1.0, timestamp of the last
    /// occurrence), columns sorted ascending within each row.
    pub fn binary(&self) -> Csr {
        let mut indptr = Vec::with_capacity(self.n_rows + 1);
        let mut indices = Vec::with_capacity(self.nnz());
        let mut ts = Vec::with_capacity(self.nnz());
        indptr.push(0);
        let mut pairs: Vec<(ItemIdx, i64)> = Vec::new();
        for u in 0..self.n_rows as u32 {
            pairs.clear();
            pairs.extend(
                self.row(u)
                    .iter()
                    .copied()
                    .zip(self.row_ts(u).iter().copied()),
            );
            pairs.sort_by_key(|&(i, t)| (i, std::cmp::Reverse(t)));
            pairs.dedup_by_key(|p| p.0);
            for &(i, t) in &pairs {
                indices.push(i);
                ts.push(t);
            }
            indptr.push(indices.len());
        }
        Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            weights: vec![1.0; indices.len()],
            indices,
            ts,
            indptr,
            context: Vec::new(),
            n_context: 0,
        }
    }

    /// The transpose (item × user), entries of each row in ascending user order.
    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.n_cols + 1];
        for &i in &self.indices {
            counts[i as usize + 1] += 1;
        }
        for i in 0..self.n_cols {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut weights = vec![0f32; self.nnz()];
        let mut ts = vec![0i64; self.nnz()];
        for u in 0..self.n_rows {
            for k in self.indptr[u]..self.indptr[u + 1] {
                let i = self.indices[k] as usize;
                let p = next[i];
                indices[p] = u as u32;
                weights[p] = self.weights[k];
                ts[p] = self.ts[k];
                next[i] += 1;
            }
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            weights,
            ts,
            context: Vec::new(),
            n_context: 0,
        }
    }

    /// Number of entries per column (item popularity when rows are users).
    pub fn col_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_cols];
        for &i in &self.indices {
            c[i as usize] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inter() -> Interactions {
        Interactions {
            user: vec![1, 0, 1, 1, 0],
            item: vec![2, 0, 1, 2, 1],
            ts: vec![30, 5, 10, 20, 5],
            rating: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            context: vec![],
        }
    }

    #[test]
    fn rows_in_time_order_with_file_order_ties() {
        let m = Csr::from_rows(&inter(), &[0, 1, 2, 3, 4], 2, 3);
        assert_eq!(m.row(0), &[0, 1]); // equal ts: row 1 before row 4
        assert_eq!(m.row(1), &[1, 2, 2]);
        assert_eq!(m.row_ts(1), &[10, 20, 30]);
        let b = m.binary();
        assert_eq!(b.row(1), &[1, 2]);
        assert_eq!(b.row_ts(1), &[10, 30]);
        let t = m.transpose();
        assert_eq!(t.row(2), &[1, 1]);
        assert_eq!(m.col_counts(), vec![1, 2, 2]);
    }

    #[test]
    fn subset_of_rows() {
        let m = Csr::from_rows(&inter(), &[0, 4], 2, 3);
        assert_eq!(m.nnz(), 2);
        assert_eq!(m.row(0), &[1]);
        assert_eq!(m.row(1), &[2]);
    }
}
