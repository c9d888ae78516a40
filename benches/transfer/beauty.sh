#!/usr/bin/env bash
# Transfer between two disjoint domains of Amazon Beauty (issue 5, item 5): the text-enhanced
# SASRec trained on one set of product categories and users, carried to another.
#
# prepare_beauty_domains.py cuts Beauty by the top-level category of each item's Amazon path:
# source = Skin Care, Hair Care, Bath & Body, Fragrance; target = Makeup, Tools & Accessories.
# Users are split at random into two disjoint halves, each keeping only its own domain's
# events (in order; at least 3 left). Source and target share no user and no item: what
# carries over is how to read product text and what a shopping sequence looks like.
# Then, on the target (leave-one-out, full ranking):
#   zero-shot  the source carried to the target catalogue, no target training (epochs=0),
#              against popularity and the untrained `text` model
#   few-shot   fine-tuned on a seeded 10% of the target users (`--train-users 0.1`) for each
#              seed in SEEDS, against training from scratch on the same users
#   full       fine-tuned on every target user, against training from scratch
# Results: OUT/{zero-shot,few-shot-N,full}/amazon-beauty/bench.md.
#
# Usage: benches/transfer/beauty.sh [DATA_ROOT] [OUT_DIR] [SEEDS]
# (defaults: ../shared/data, out/xcat, "42 1 2 3 4 5"). Needs a release build and the MiniLM
# encoder (`seer fetch minilm`). About 10 minutes of source training on 2 cores, 3 minutes per
# few-shot sample, 10 minutes for the full row.
set -euo pipefail
root=${1:-../shared/data}
out=${2:-out/xcat}
seeds=${3:-42 1 2 3 4 5}
seer=./target/release/seer
python3 "$(dirname "$0")/prepare_beauty_domains.py" "$root/amazon-beauty" "$out" \
  "Skin Care,Hair Care,Bath & Body,Fragrance" "Makeup,Tools & Accessories"
for half in source target; do
  rm -rf "$out/$half-ds"
  $seer -q import "$out/$half" --out "$out/$half-ds"
  $seer -q split --data "$out/$half-ds"
done
src="$out/src-text"
echo "== source: text-only items with the popularity prior"
$seer -q train --data "$out/source-ds" --on train \
  --model "sasrec:text=true,text_id_dropout=1.0,pop_prior=true,epochs=100,patience=5" \
  --out "$src"
target="$out/target-ds"
echo "== zero-shot"
$seer -q bench --data "$target" --models "pop,text,sasrec:init=$src,epochs=0" \
  --out "$out/zero-shot"
few="batch_size=32,warmup_steps=10,eval_every=4"
for s in $seeds; do
  echo "== few-shot, user sample $s"
  $seer -q bench --data "$target" --train-users 0.1 --seed "$s" \
    --models "sasrec:text=true,pop_prior=true,$few,sasrec:text=true,$few,sasrec:init=$src,$few" \
    --out "$out/few-shot-$s"
done
echo "== full"
$seer -q bench --data "$target" \
  --models "sasrec:text=true,sasrec:text=true,pop_prior=true,sasrec:init=$src,sasrec" \
  --out "$out/full"
for f in "$out"/zero-shot/amazon-beauty/bench.md "$out"/few-shot-*/amazon-beauty/bench.md \
  "$out"/full/amazon-beauty/bench.md; do
  echo "== $f"
  grep -E '^\| (sasrec|pop|text)|^- ' "$f"
done
