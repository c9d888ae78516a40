#!/usr/bin/env bash
# Cross-domain transfer of the text-enhanced SASRec (issue 5, item 5): ml-1m → ml-100k.
#
# ml-1m's (user, movie) pairs carry no timestamps and their per-user file order is not
# chronological, so the source trains on a copy with each user's events in a seeded random
# order (the shared data stays untouched; the copy lives under OUT and is never committed).
# Then, on ml-100k (leave-one-out by time, full ranking):
#   zero-shot  the source carried to ml-100k's catalogue, no ml-100k training (epochs=0)
#   few-shot   fine-tuned on a seeded 10% of the users (`--train-users 0.1`), against training
#              from scratch on the same users
#   full       fine-tuned on every user, against training from scratch
# Results: OUT/{zero-shot,few-shot,full}/ml-100k/bench.md.
#
# Usage: benches/transfer/run.sh [DATA_ROOT] [OUT_DIR] [SOURCE_EXTRA]
# (defaults: ../shared/data, out/transfer, pop_prior=true: extra keys of the source spec).
# Needs a release build and the MiniLM encoder (`seer fetch minilm`). About 25 minutes of
# source training on 2 cores, then a few minutes per target run.
set -euo pipefail
root=${1:-../shared/data}
out=${2:-out/transfer}
extra=${3:-pop_prior=true}
seer=./target/release/seer
"$(dirname "$0")/prepare_ml1m.sh" "$root" "$out"

src="$out/source"
echo "== source: ml-1m, text-only items ($extra)"
$seer -q train --data "$out/ml1m-ds" --on train \
  --model "sasrec:text=true,text_id_dropout=1.0,$extra,epochs=60,patience=0,eval_every=4" \
  --out "$src"

target="$root/ml-100k"
echo "== zero-shot"
$seer -q bench --data "$target" --models "pop,sasrec:init=$src,epochs=0" --out "$out/zero-shot"
few="batch_size=32,warmup_steps=10,eval_every=4"
echo "== few-shot (10% of the users)"
$seer -q bench --data "$target" --train-users 0.1 \
  --models "pop,sasrec:text=true,$few,sasrec:text=true,$extra,$few,sasrec:init=$src,$few" \
  --out "$out/few-shot"
echo "== full"
$seer -q bench --data "$target" \
  --models "sasrec:text=true,sasrec:text=true,$extra,sasrec:init=$src" --out "$out/full"
for s in zero-shot few-shot full; do
  echo "== $s"
  tail -n 6 "$out/$s/ml-100k/bench.md"
done
