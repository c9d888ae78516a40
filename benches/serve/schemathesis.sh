#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from /openapi.json (valid and
# invalid ones) against a real `seer serve` on the demo data and checks every response: no
# server error, status codes and bodies as documented, invalid input refused, auth enforced.
# Usage: benches/serve/schemathesis.sh [SEER_BINARY] [MAX_EXAMPLES]
# Needs Python 3 with pip (installs schemathesis into target/st-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
SEER=${1:-target/debug/seer}
MAX=${2:-100}
VENV=target/st-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==4.32.5"
fi
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$SEER" import data/demo --out "$WORK/ds" -q >/dev/null
"$SEER" split --data "$WORK/ds" -q >/dev/null
"$SEER" train --data "$WORK/ds" --model itemknn --out "$WORK/model" -q >/dev/null
TOKEN=$("$SEER" keys --store "$WORK/events.db" create --scope admin --name schemathesis 2>/dev/null)
# With the text encoder when it is there (`seer fetch minilm`): items put through the API are
# embedded, and /v1/search is part of the document.
ENC=()
[ -f models/all-MiniLM-L6-v2/model.safetensors ] && ENC=(--text-encoder models/all-MiniLM-L6-v2)
"$SEER" serve --data "$WORK/ds" --model "$WORK/model" --store "$WORK/events.db" \
  --addr 127.0.0.1:0 "${ENC[@]}" >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 1200); do
  grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$WORK/serve.out")
[ -n "$URL" ] || { cat "$WORK/serve.err"; echo "server did not start" >&2; exit 1; }
"$VENV/bin/schemathesis" run "$URL/openapi.json" --checks all --max-examples "$MAX" \
  --seed 1 -H "Authorization: Bearer $TOKEN"
