"""How much can the MovieLens pair transfer at all? An item-kNN carried by title.

For each direction of the ml-1m ↔ ml-100k transfer, items are matched by (title, year), the
source's item-item cosine of co-occurrence (all of the source's events) is carried to the
matched target items, and each target user is scored as in leave-one-out evaluation (the
history before the held-out event as input, seen items masked, full ranking): co-occurrence
alone, and co-occurrence + a × the standardised ln(1 + count) of the target's training
events for a grid of a. The best a is picked on the test events, so the best row is an
optimistic ceiling for what a source's knowledge of "which films go together" adds to
popularity, not a result. Needs numpy and scipy (not a CI dependency).

Usage: knn_ceiling.py DATA_ROOT ML1M_SHUFFLED_PAIRS
  ML1M_SHUFFLED_PAIRS: the per-user shuffled ratings_pairs.dat that prepare_ml1m.sh writes
  (OUT/ml1m-shuffled/implicit-pairs/ratings_pairs.dat), the target of reverse.sh.
"""

import re
import sys

import numpy as np
import scipy.sparse as sp

root, shuffled = sys.argv[1], sys.argv[2]


def ml100k():
    titles = {}
    for k, line in enumerate(open(f"{root}/ml-100k/ml-100k.item", encoding="utf-8", errors="replace")):
        if k:
            f = line.rstrip("\n").split("\t")
            titles[f[0]] = (f[1].strip().lower(), f[2].strip())
    rows = [l.split("\t") for l in open(f"{root}/ml-100k/ml-100k.inter").read().splitlines()[1:]]
    seqs = {}
    for k, r in enumerate(rows):
        seqs.setdefault(r[0], []).append((float(r[3]), k, r[1]))
    # Time order; equal timestamps keep file order (as seer's split does).
    seqs = {u: [i for _, _, i in sorted(s)] for u, s in seqs.items()}
    return titles, seqs


def ml1m(pairs):
    titles = {}
    for line in open(f"{root}/ml-1m/movies.dat", encoding="latin-1"):
        mid, t, _ = line.rstrip("\n").split("::")
        m = re.match(r"(.*) \((\d{4})\)$", t.strip())
        if m:
            titles[mid] = (m.group(1).strip().lower(), m.group(2))
    seqs = {}
    for line in open(pairs):
        u, i = line.strip().split("::")
        seqs.setdefault(u, []).append(i)
    return titles, seqs


def index(seqs):
    items = sorted({i for s in seqs.values() for i in s})
    return {x: k for k, x in enumerate(items)}


def matrix(seqs, idx, drop_last=0):
    users = list(seqs)
    r, c = [], []
    for k, u in enumerate(users):
        s = seqs[u][: len(seqs[u]) - drop_last]
        r += [k] * len(s)
        c += [idx[i] for i in s]
    X = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), len(idx)))
    X.data[:] = 1
    return X


def ceiling(name, src_titles, src_seqs, tgt_titles, tgt_seqs):
    si, ti = index(src_seqs), index(tgt_seqs)
    by_title = {src_titles[x]: k for x, k in si.items() if x in src_titles}
    match = np.full(len(ti), -1)
    for x, k in ti.items():
        match[k] = by_title.get(tgt_titles.get(x), -1)
    X = matrix(src_seqs, si)
    C = (X.T @ X).toarray()
    np.fill_diagonal(C, 0)
    n = np.sqrt(np.asarray(X.sum(0)).ravel())
    S = C / (np.outer(n, n) + 1e-9)
    M = sp.csr_matrix((np.ones((match >= 0).sum()), (np.flatnonzero(match >= 0), match[match >= 0])),
                      shape=(len(ti), len(si)))
    S1 = (M @ sp.csr_matrix(S) @ M.T).toarray()
    users = list(tgt_seqs)
    test = np.array([ti[tgt_seqs[u][-1]] for u in users])
    H = matrix(tgt_seqs, ti, drop_last=1)
    cnt = np.asarray(H.sum(0)).ravel()
    pop = np.log1p(cnt)
    popz = (pop - pop.mean()) / pop.std()
    K = np.asarray(H @ S1) / np.maximum(np.asarray(H.sum(1)), 1)
    seen = H.nonzero()

    def ndcg(scores):
        s = np.array(scores, dtype=float)
        s[seen] = -np.inf
        rank = (s > s[np.arange(len(users)), test][:, None]).sum(1)
        return np.where(rank < 10, 1 / np.log2(rank + 2), 0).mean()

    print(f"## {name}: {(match >= 0).sum()} of {len(ti)} target items matched, "
          f"{(match[test] >= 0).mean():.1%} of the test items")
    print(f"popularity                 NDCG@10 {ndcg(np.tile(cnt, (len(users), 1))):.4f}")
    print(f"carried co-occurrence      NDCG@10 {ndcg(K):.4f}")
    best = max((ndcg(K + a * popz), a) for a in [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5])
    print(f"co-occurrence + a·pop      NDCG@10 {best[0]:.4f} (best a = {best[1]}, picked on test)")
    # The same scorer with the target's own co-occurrence (its training events), for scale.
    C = (H.T @ H).toarray()
    np.fill_diagonal(C, 0)
    S = C / (np.outer(np.sqrt(cnt), np.sqrt(cnt)) + 1e-9)
    print(f"target's own co-occurrence NDCG@10 {ndcg(np.asarray(H @ S)):.4f} (in-domain, for scale)")


t100, s100 = ml100k()
t1m, s1m = ml1m(f"{root}/ml-1m/implicit-pairs/ratings_pairs.dat")
ceiling("ml-1m → ml-100k (time order)", t1m, s1m, t100, s100)
_, s1m_shuffled = ml1m(shuffled)
ceiling("ml-100k → ml-1m (shuffled)", t100, s100, t1m, s1m_shuffled)
