#!/usr/bin/env bash
# Continual learning and generative decoding on a temporal split (issue 4, items 5 and 6).
#
# Train on the first 90% of time, update on the next 5%, test on the last 5%:
#   base  = sasrec trained on train (early-stopped on the 5% that follows)
#   inc-E = base updated with `seer train --from base --epochs E` on the new 5% (users with
#           new events only, items it never learned initialised from their predecessors)
#   full  = sasrec retrained from scratch on train + the new 5% (base's best epoch count)
# and each is evaluated on the last 5% (`seer eval --stage test`); the full model also with
# `seer eval --generate 5` (beam 5).
#
# Usage: benches/continual/run.sh [DATA_DIR] [OUT_DIR] [MODEL_SPEC]
# (defaults: ../shared/data/ml-100k, out/continual, sasrec). Needs a release build.
set -euo pipefail
data=${1:-../shared/data/ml-100k}
out=${2:-out/continual}
spec=${3:-sasrec}
seer=./target/release/seer
mkdir -p "$out"
ds="$out/ds"
rm -rf "$ds"
$seer -q import "$data" --out "$ds"
$seer -q split --data "$ds" --method temporal --valid-from 0.9 --test-from 0.95

echo "== base (train, early stopping on the next 5%)"
$seer -q train --data "$ds" --model "$spec" --on train --out "$out/base" | tee "$out/base.txt"

for e in 1 3 10; do
  echo "== incremental update, $e epochs"
  $seer -q train --data "$ds" --from "$out/base" --epochs "$e" --out "$out/inc-$e" | tee "$out/inc-$e.txt"
done

# Best epoch of the base run, for the full retrain.
epochs=$(grep -o 'best validation epoch [0-9]*' "$out/base.txt" | grep -o '[0-9]*$')
echo "== full retrain on train + new 5% ($epochs epochs)"
case "$spec" in *:*) full_spec="$spec,epochs=$epochs,patience=0" ;; *) full_spec="$spec:epochs=$epochs,patience=0" ;; esac
$seer -q train --data "$ds" --model "$full_spec" --on train-valid --out "$out/full" | tee "$out/full.txt"

for m in base inc-1 inc-3 inc-10 full; do
  echo "== test: $m"
  $seer -q eval --data "$ds" --model "$out/$m" --stage test --json "$out/eval-$m.json" | grep -E "ndcg@10|hit@10|mrr |recall@10" || true
done
for b in 1 5; do
  echo "== generate 5, beam $b (full)"
  $seer -q eval --data "$ds" --model "$out/full" --stage test --generate 5 --beam "$b" --json "$out/gen-full-beam$b.json"
done
