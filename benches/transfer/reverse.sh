#!/usr/bin/env bash
# Transfer the other way (issue 5, item 5): ml-100k → ml-1m, text-enhanced SASRec.
#
# The target is ml-1m with each user's events in a seeded random order (prepare_ml1m.sh), so
# its held-out events are random ones. Two text-only sources with the popularity prior are
# trained on ml-100k's training part: in ml-100k's time order, and with each user's
# timestamps permuted (the target's kind of order). Then, on ml-1m (leave-one-out, full
# ranking): zero-shot against popularity, and few-shot on a 10% user sample per seed against
# training from scratch with the prior. Results: OUT/*/ml1m-shuffled/bench.md.
#
# Usage: benches/transfer/reverse.sh [DATA_ROOT] [OUT_DIR] [SEEDS]
# (defaults: ../shared/data, out/transfer-reverse, "42 1 2 3 4 5"). Needs a release build and
# the MiniLM encoder (`seer fetch minilm`). About 5 minutes of source training on 2 cores,
# then about 3 minutes per few-shot sample and source.
set -euo pipefail
root=${1:-../shared/data}
out=${2:-out/transfer-reverse}
seeds=${3:-42 1 2 3 4 5}
seer=./target/release/seer
"$(dirname "$0")/prepare_ml1m.sh" "$root" "$out"
target="$out/ml1m-ds"

mkdir -p "$out/ml100k-shuffled"
cp "$root/ml-100k/ml-100k.item" "$root/ml-100k/ml-100k.user" "$out/ml100k-shuffled/"
python3 - "$root/ml-100k/ml-100k.inter" "$out/ml100k-shuffled/ml-100k.inter" <<'PY'
import random, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [l.split("\t") for l in lines[1:]]
by_user = {}
for i, r in enumerate(rows):
    by_user.setdefault(r[0], []).append(i)
rng = random.Random(42)
for idx in by_user.values():
    ts = [rows[i][3] for i in idx]
    rng.shuffle(ts)
    for i, t in zip(idx, ts):
        rows[i][3] = t
with open(sys.argv[2], "w") as f:
    f.write(lines[0] + "\n" + "\n".join("\t".join(r) for r in rows) + "\n")
PY
for kind in ordered shuffled; do
  if [ "$kind" = shuffled ]; then src_data="$out/ml100k-shuffled"; else src_data="$root/ml-100k"; fi
  rm -rf "$out/ml100k-$kind-ds"
  $seer -q import "$src_data" --out "$out/ml100k-$kind-ds"
  $seer -q split --data "$out/ml100k-$kind-ds"
done
text="sasrec:text=true,text_id_dropout=1.0,pop_prior=true"
echo "== sources"
$seer -q train --data "$out/ml100k-ordered-ds" --on train \
  --model "$text,epochs=100,patience=5" --out "$out/source-ordered"
$seer -q train --data "$out/ml100k-shuffled-ds" --on train \
  --model "$text,epochs=80,patience=0" --out "$out/source-shuffled"
few="batch_size=32,warmup_steps=10,eval_every=4"
for kind in ordered shuffled; do
  src="$out/source-$kind"
  echo "== zero-shot from the $kind source"
  $seer -q bench --data "$target" --models "pop,itemknn,sasrec:init=$src,epochs=0" \
    --out "$out/zero-shot-$kind"
  for s in $seeds; do
    echo "== few-shot from the $kind source, user sample $s"
    $seer -q bench --data "$target" --train-users 0.1 --seed "$s" \
      --models "sasrec:text=true,pop_prior=true,$few,sasrec:init=$src,$few" \
      --out "$out/few-shot-$kind-$s"
  done
done
for f in "$out"/zero-shot-*/ml1m-shuffled/bench.md "$out"/few-shot-*/ml1m-shuffled/bench.md; do
  echo "== $f"
  grep -E '^\| sasrec|^\| pop|^- ' "$f"
done
