#!/usr/bin/env bash
# seer and RecBole 1.2.1 on the same data and split, in one run on one machine (issue 9).
#
#   bash benches/recbole/side_by_side.sh [DATASET_PATH] [OUT]
#
# DATASET_PATH: anything `seer import` reads (default ../shared/data/ml-100k); OUT: work and
# result folder (default out/recbole-side-by-side). Needs `bash benches/recbole/setup.sh` once.
#
# Steps: import, leave-one-out split, `seer export --split` (RecBole atomic files of exactly
# that split), RecBole Pop (stock and with the count fix), ItemKNN and EASE with RecBole's
# default hyper-parameters under RecBole's protocol, then `seer bench --protocol recbole` with
# the same hyper-parameters and `--compare` on both RecBole files: OUT/bench/NAME/bench.md holds
# the side-by-side tables (metrics, relative differences, fit + evaluation seconds, speed-up).
# Extra RecBole models: RECBOLE_MODELS (default Pop,ItemKNN,EASE,BPR) and RECBOLE_EPOCHS (cap
# for the learned ones, default RecBole's 300 with early stopping).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${1:-../shared/data/ml-100k}"
out="${2:-out/recbole-side-by-side}"
py="$here/.venv/bin/python"
seer="$root/target/release/seer"
[ -x "$py" ] || { echo "no RecBole venv: run bash benches/recbole/setup.sh" >&2; exit 1; }
(cd "$root" && cargo build --release -q -p seer-cli)

mkdir -p "$out"
"$seer" import "$data" --out "$out/ds" -q
"$seer" split --data "$out/ds" -q
name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$out/ds/manifest.json")"
"$seer" export --data "$out/ds" --split "$out/export" -q

models="${RECBOLE_MODELS:-Pop,ItemKNN,EASE,BPR}"
epochs=()
[ -n "${RECBOLE_EPOCHS:-}" ] && epochs=(--epochs "$RECBOLE_EPOCHS")
"$py" "$here/run_recbole.py" --data "$out/export/$name" --models "$models" \
    --protocol recbole --quiet "${epochs[@]}" --out "$out/$name-recbole.json" >/dev/null
"$py" "$here/run_recbole.py" --data "$out/export/$name" --models Pop \
    --protocol recbole --fix-pop --quiet --out "$out/$name-recbole-fixpop.json" >/dev/null

"$seer" bench --data "$out/ds" --protocol recbole -q \
    --models pop,itemknn:k=100,neighbours=target,ease:lambda=250,bpr,als \
    --compare "$out/$name-recbole.json,$out/$name-recbole-fixpop.json" \
    --out "$out/bench"
