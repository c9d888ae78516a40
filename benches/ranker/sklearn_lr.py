#!/usr/bin/env python3
"""scikit-learn's logistic regression on the exact matrix seer's ranker bench trains on.

Reference for issue 6 ("compare with scikit-learn's LogisticRegression (saga) on the same feature
matrix"); never a CI dependency. Produce the matrix, then time scikit-learn on one thread:

    SEER_RANKER_DUMP=/tmp/ranker.svm cargo bench -p seer-models --bench ranker_fit
    OMP_NUM_THREADS=1 benches/recbole/.venv/bin/python benches/ranker/sklearn_lr.py /tmp/ranker.svm

It fits `LogisticRegression(solver="saga")` for one pass (`max_iter=1`: one epoch of SAGA over
every example, like seer's one FTRL pass) and `SGDClassifier(loss="log_loss")` for one epoch,
each three times, and prints examples per second (best of three) and training AUC.
"""

import sys
import time
import warnings

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.datasets import load_svmlight_file
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import roc_auc_score


def best_of(n, fit):
    times = []
    model = None
    for _ in range(n):
        t = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - t)
    return min(times), model


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    x, y = load_svmlight_file(sys.argv[1], n_features=1 << 20)
    x = x.tocsr()
    # scikit-learn's solvers take 32-bit sparse indices only
    x = csr_matrix(
        (x.data, x.indices.astype(np.int32), x.indptr.astype(np.int32)), shape=x.shape
    )
    n = x.shape[0]
    print(f"{n} examples, {x.shape[1]} columns, {x.nnz} non-zeros, {int(y.sum())} positives")
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, make in [
        (
            "LogisticRegression(saga), 1 pass",
            lambda: LogisticRegression(solver="saga", max_iter=1, tol=0.0, C=1.0),
        ),
        (
            "SGDClassifier(log_loss), 1 epoch",
            lambda: SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=0),
        ),
    ]:
        secs, model = best_of(3, lambda: make().fit(x, y))
        auc = roc_auc_score(y, model.decision_function(x))
        print(f"{name}: {secs:.3f} s, {n / secs:,.0f} examples/s, training AUC {auc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
