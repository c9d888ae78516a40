"""EASE closed form in numpy, the baseline `seer_models::ease` is compared with.

Builds the same G = XᵀX + λI as `ease::gram` from S3-Rec's Beauty.txt (one user per line:
`user item item …`, binarised) and times Steck's Algorithm 1 (`np.linalg.inv`, float64).

    python3 crates/seer-models/benches/ease_numpy.py ../shared/data/amazon-beauty/s3rec/Beauty.txt [float64|float32]

This machine sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for old OpenBLAS builds; they slow a current
numpy. For a fair comparison run it with both unset, and check the kernel it reports:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 crates/seer-models/benches/ease_numpy.py PATH

Compare with `cargo run --release -p seer-models --example beauty_timing`.
"""
import sys
import time

import numpy as np


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} threads={i.get('num_threads')}"
                     for i in threadpool_info())


def main(path, dtype="float64", lam=500.0):
    dtype = np.dtype(dtype)
    items, rows = {}, []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            rows.append({items.setdefault(i, len(items)) for i in parts[1:]})
    n = len(items)
    print(f"{path}: {len(rows)} users, {n} items, numpy {np.__version__}, {dtype}; BLAS: {blas_info()}")
    t0 = time.perf_counter()
    G = np.zeros((n, n), dtype=dtype)
    for r in rows:
        idx = np.fromiter(r, dtype=np.int64)
        G[np.ix_(idx, idx)] += 1.0
    G[np.diag_indices(n)] += lam
    t1 = time.perf_counter()
    P = np.linalg.inv(G)
    B = P / (-np.diag(P))
    B[np.diag_indices(n)] = 0.0
    B = B.astype(np.float32)
    t2 = time.perf_counter()
    print(f"gram {t1 - t0:.2f} s, inverse + B {t2 - t1:.2f} s, total {t2 - t0:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/amazon-beauty/s3rec/Beauty.txt",
         sys.argv[2] if len(sys.argv) > 2 else "float64")
