#!/usr/bin/env bash
# Load test of `biome serve` with wrk: one JSON pair per POST /predict, several concurrency
# levels for a fixed time each; prints req/s, p50/p99 latency, errors and non-2xx answers
# (must be 0), and the average batch the server formed at each level (from GET /health).
#
#   scripts/load_test.sh                      # trains the demo model if needed, then runs
#   MODEL=runs/my_model scripts/load_test.sh  # an existing model folder
#   CONNECTIONS="1 8 64" DURATION=10s PORT=18000 scripts/load_test.sh
#
# Needs wrk (apt-get install -y wrk) and curl; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-"1 8 64"}
PORT=${PORT:-18000}
SERVE_ARGS=${SERVE_ARGS:-}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/biome"

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "load_test.sh needs $tool (apt-get install -y $tool)" >&2; exit 1; }
done

cargo build --release --bin biome >&2

if [[ -z "${MODEL:-}" ]]; then
  MODEL=runs/load-test-demo/model
  if [[ ! -f "$MODEL/archive.json" ]]; then
    echo "training the demo model (1000 pairs, 1 epoch) into runs/load-test-demo" >&2
    "$BIN" demo --output runs/load-test-demo --train-size 1000 --epochs 1 >/dev/null
  fi
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
"$BIN" serve --model "$MODEL" --port "$PORT" $SERVE_ARGS 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done

cat >"$work/pair.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"record1": {"given_name": "william", "surname": "thompson", "street_number": "12", "address": "kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}, "record2": {"given_name": "bill", "surname": "thomspon", "street_number": "", "address": "12 kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}}]]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.6f %.3f %.3f %d %d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

# Check the answer once (a real prediction, not an error).
answer=$(curl -s -H 'content-type: application/json' --data-binary @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$work/pair.lua") "http://127.0.0.1:$PORT/predict")
echo "answer: $answer" >&2
[[ "$answer" == *max_class* ]] || { echo "unexpected answer" >&2; exit 1; }

health() { curl -s "http://127.0.0.1:$PORT/health"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); model: $MODEL; $DURATION per level"
echo
echo "| connections | req/s | p50 (ms) | p99 (ms) | socket errors | non-2xx | average batch (pairs) | batches |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
failed=0
for c in $CONNECTIONS; do
  threads=$(( c < 2 ? c : 2 ))
  before=$(health)
  out=$(wrk -t"$threads" -c"$c" -d"$DURATION" --latency -s "$work/pair.lua" "http://127.0.0.1:$PORT/predict")
  after=$(health)
  read -r _ requests seconds p50 p99 errors non2xx <<<"$(grep '^RESULT' <<<"$out")"
  pairs=$(( $(field pairs <<<"$after") - $(field pairs <<<"$before") ))
  batches=$(( $(field batches <<<"$after") - $(field batches <<<"$before") ))
  avg=$(awk -v p="$pairs" -v b="$batches" 'BEGIN { printf "%.1f", (b > 0 ? p / b : 0) }')
  rps=$(awk -v r="$requests" -v s="$seconds" 'BEGIN { printf "%.0f", r / s }')
  echo "| $c | $rps | $p50 | $p99 | $errors | $non2xx | $avg | $batches |"
  (( errors + non2xx == 0 )) || failed=1
done

# Graceful shutdown: SIGTERM, exit status 0.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
echo
echo "server exit status after SIGTERM: $status"
(( status == 0 && failed == 0 ))
