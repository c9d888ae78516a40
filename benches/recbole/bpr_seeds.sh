#!/usr/bin/env bash
# BPR side by side over several seeds (issue 9): seer's `bpr` and RecBole 1.2.1's BPR, both with
# RecBole's defaults (64 factors, Adam 0.001, batch 2048, one uniform negative, early stopping on
# validation NDCG@10), under RecBole's protocol, on the split that side_by_side.sh exported.
#
#   bash benches/recbole/bpr_seeds.sh OUT [SEEDS...]
#
# OUT: a side_by_side.sh output folder (OUT/ds, OUT/export); SEEDS default 1 2 3 4 5. A single
# validation curve is noisy (ml-100k validates on 943 users), so where the early stop lands is
# chance; the spread over seeds is the comparison. Writes OUT/bpr-seeds.tsv and prints
# mean ± standard deviation of NDCG@10 and HR@10 and the mean seconds per side.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$1"; shift
seeds=("$@")
[ $# -eq 0 ] && seeds=(1 2 3 4 5)
py="$here/.venv/bin/python"
seer="$root/target/release/seer"
[ -x "$py" ] || { echo "no RecBole venv: run bash benches/recbole/setup.sh" >&2; exit 1; }
name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$out/ds/manifest.json")"
tsv="$out/bpr-seeds.tsv"
printf 'tool\tseed\tndcg@10\thr@10\tseconds\tepochs\tbest_epoch\n' > "$tsv"
for s in "${seeds[@]}"; do
    "$seer" bench --data "$out/ds" --protocol recbole -q --models "bpr:seed=$s" \
        --out "$out/bpr-seer-$s" >/dev/null
    python3 - "$out/bpr-seer-$s/$name/bench.json" "$s" >> "$tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["models"][0]
print("seer", sys.argv[2], r["metrics"]["ndcg@10"], r["metrics"]["hr@10"],
      r["fit_seconds"] + r["eval_seconds"], r.get("epochs_run", ""), r.get("best_epoch", ""), sep="\t")
PY
    "$py" "$here/run_recbole.py" --data "$out/export/$name" --models BPR --protocol recbole \
        --seed "$s" --quiet --out "$out/bpr-recbole-$s.json" >/dev/null
    python3 - "$out/bpr-recbole-$s.json" "$s" >> "$tsv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["models"][0]
print("recbole", sys.argv[2], m["metrics"]["ndcg@10"], m["metrics"]["hr@10"],
      m["fit_seconds"] + m["eval_seconds"], m.get("epochs_run", ""), m.get("best_epoch", ""), sep="\t")
PY
done
python3 - "$tsv" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for tool in ("seer", "recbole"):
    r = [x for x in rows if x["tool"] == tool]
    f = lambda k: [float(x[k]) for x in r]
    sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
    print(f"{tool:8} n={len(r)} NDCG@10 {st.mean(f('ndcg@10')):.4f} ± {sd(f('ndcg@10')):.4f}  "
          f"HR@10 {st.mean(f('hr@10')):.4f} ± {sd(f('hr@10')):.4f}  seconds {st.mean(f('seconds')):.1f}  "
          f"epochs {[x['epochs'] for x in r]} best {[x['best_epoch'] for x in r]}")
PY
