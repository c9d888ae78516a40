#!/usr/bin/env bash
# Creates benches/recbole/.venv with RecBole 1.2.1 and a CPU-usable PyTorch.
#
# This is a *reference* tool for issue 9 (RecBole side-by-side). It is never a
# CI dependency: nothing in .ci/ or cargo calls it.
#
# Only PyPI is reachable, so PyTorch comes from PyPI (`pip install torch`). The
# Linux wheels there pull NVIDIA runtime packages too (a few GiB); they are only
# loaded, not used: RecBole runs on CPU here (`use_gpu: False` in the runner).
#
# Usage: bash benches/recbole/setup.sh          (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install --upgrade pip wheel 'setuptools<70'

# One resolve for everything, so pip does not install a torch it must then replace.
#  - torch from plain PyPI (the CPU-only index is not reachable here). Pinned to the
#    version this runner was tested with, the newest torch that accepts
#    setuptools<70 (torch 2.13+ requires setuptools>=77). Override with
#    TORCH_SPEC='torch==X.Y.Z' (then drop the setuptools pin below too).
#  - numpy<2: RecBole 1.2.1's Config aliases np.float = np.float_, gone in NumPy 2.
#  - pandas<3: RecBole 1.2.1 fills NaNs with chained inplace fillna, which pandas 3
#    (copy-on-write) silently ignores.
#  - setuptools<70: keeps pkg_resources for older tensorboard releases that import it
#    (recbole.utils imports tensorboard).
#  - RecBole's own requirements also bring ray<=2.6.3 (only used for hyper-parameter
#    tuning), thop, tabulate, colorlog, colorama, texttable, psutil, plotly.
"${pip[@]}" install \
    "${TORCH_SPEC:-torch==2.12.1}" \
    'recbole==1.2.1' \
    'numpy<2' \
    'pandas<3' \
    'setuptools<70' \
    'scipy' 'tqdm' 'pyyaml' 'scikit-learn' \
    'colorlog==4.7.2' 'colorama==0.4.4' \
    'tensorboard' 'thop' 'tabulate' 'texttable' 'plotly' 'psutil'

# Smoke check: import what run_recbole.py imports.
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$venv/bin/python" - <<'PY'
import torch, numpy, recbole
from recbole.quick_start import run_recbole  # noqa: F401
from recbole.model.general_recommender import Pop, ItemKNN, EASE  # noqa: F401
print(f"recbole {recbole.__version__}, torch {torch.__version__}, numpy {numpy.__version__}")
PY
echo "ready: $venv/bin/python $here/run_recbole.py --help"
