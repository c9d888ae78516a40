#!/usr/bin/env bash
# Embedding throughput, seer vs sentence-transformers, same texts, same machine, same threads,
# in one run. Usage: benches/minilm/run.sh [DATASET_DIR] [THREADS] [REPEAT]
#   DATASET_DIR: a dataset directory written by `seer import` (default: imports
#                ../shared/data/amazon-beauty into out/minilm-bench/beauty); its item texts
#                are embedded.
# Needs: `seer fetch minilm` done, and a Python with sentence-transformers in $PYTHON
# (default python3; e.g. `python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers`).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${2:-$(nproc)}
REPEAT=${3:-3}
PYTHON=${PYTHON:-python3}
MODEL=models/all-MiniLM-L6-v2
OUT=out/minilm-bench
mkdir -p "$OUT"
cargo build --release -q -p seer-cli
SEER=target/release/seer
[ -d "$MODEL" ] || $SEER fetch minilm
DATA=${1:-$OUT/beauty}
if [ ! -d "$DATA" ]; then
  $SEER import ../shared/data/amazon-beauty --out "$DATA" -q
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $THREADS"
RAYON_NUM_THREADS=$THREADS $SEER embed --items "$DATA" --write-texts "$OUT/texts.txt" --repeat "$REPEAT" -q
$PYTHON benches/minilm/st_encode.py "$MODEL" "$OUT/texts.txt" "$THREADS" "$REPEAT" 2>/dev/null
