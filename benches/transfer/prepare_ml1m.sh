#!/usr/bin/env bash
# Imports and splits a copy of ml-1m whose events are in a seeded random order per user
# (ml-1m's (user, movie) pairs carry no timestamps and their per-user file order is not
# chronological). The shared data stays untouched; the copy lives under OUT and is never
# committed. Used by run.sh (ml-1m as the source) and reverse.sh (ml-1m as the target).
#
# Usage: benches/transfer/prepare_ml1m.sh DATA_ROOT OUT_DIR   → OUT_DIR/ml1m-ds
set -euo pipefail
root=$1
out=$2
mkdir -p "$out/ml1m-shuffled/implicit-pairs"
cp "$root/ml-1m/movies.dat" "$root/ml-1m/users.dat" "$out/ml1m-shuffled/"
python3 - "$root/ml-1m/implicit-pairs/ratings_pairs.dat" \
  "$out/ml1m-shuffled/implicit-pairs/ratings_pairs.dat" <<'PY'
import random, sys
rows = {}
for line in open(sys.argv[1]):
    u, i = line.strip().split("::")
    rows.setdefault(u, []).append(i)
rng = random.Random(42)
with open(sys.argv[2], "w") as f:
    for u, items in rows.items():
        rng.shuffle(items)
        f.writelines(f"{u}::{i}\n" for i in items)
PY
rm -rf "$out/ml1m-ds"
./target/release/seer -q import "$out/ml1m-shuffled" --out "$out/ml1m-ds"
./target/release/seer -q split --data "$out/ml1m-ds"
