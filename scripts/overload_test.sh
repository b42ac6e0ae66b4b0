#!/usr/bin/env bash
# Overload, slow clients and reloads of `biome serve`, on loopback, bounded in time. Phases:
#
#   capacity   wrk at rising connection counts, single pairs and 64-pair arrays (LEVEL_S each):
#              req/s, p50/p99, statuses; capacity = the best req/s with p99 < 100 ms
#   overload   wrk with OVERLOAD_CONNECTIONS connections (10x the capacity level's) for
#              OVERLOAD_S; statuses (200/503 only), socket errors, p99 of a probe client's 200s,
#              peak RSS, /health time right after
#   slowloris  SLOW_CONNECTIONS connections sending one head byte per second (scripts/
#              slowloris.py) while a probe client posts every 50 ms; the probe's latency with and
#              without them, and when the server closed them (--header-timeout-ms)
#   reload     wrk for RELOAD_S while the model folder is swapped between two demo models and
#              reloaded RELOADS times (POST /admin/reload); every answer must be a 200 from the
#              model its X-Model-Generation names
#
#   scripts/overload_test.sh                        # all phases
#   PHASES="overload" OVERLOAD_CONNECTIONS=640 scripts/overload_test.sh
#
# Needs wrk (apt-get install -y wrk), curl and python3; builds the release binary and trains
# the demo models (runs/load-test-demo, runs/load-test-demo-b) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASES=${PHASES:-"capacity overload slowloris reload"}
PORT=${PORT:-18000}
LEVEL_S=${LEVEL_S:-8}
SINGLE_LEVELS=${SINGLE_LEVELS:-"1 4 16 32 64"}
ARRAY_LEVELS=${ARRAY_LEVELS:-"1 2 4 8"}
OVERLOAD_CONNECTIONS=${OVERLOAD_CONNECTIONS:-640}
OVERLOAD_S=${OVERLOAD_S:-30}
OVERLOAD_BODY=${OVERLOAD_BODY:-pair}   # or array64
SLOW_CONNECTIONS=${SLOW_CONNECTIONS:-500}
SLOW_S=${SLOW_S:-20}
RELOAD_S=${RELOAD_S:-30}
RELOADS=${RELOADS:-10}
SERVE_ARGS=${SERVE_ARGS:-}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/biome"

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "overload_test.sh needs $tool" >&2; exit 1; }
done
[[ -n "${NO_BUILD:-}" ]] || cargo build --release --bin biome >&2

train() { # output epochs
  if [[ ! -f "$1/model/archive.json" ]]; then
    echo "training the demo model (1000 pairs, $2 epochs) into $1" >&2
    "$BIN" demo --output "$1" --train-size 1000 --epochs "$2" >/dev/null
  fi
}
train runs/load-test-demo 1
[[ "$PHASES" != *reload* ]] || train runs/load-test-demo-b 2

work=$(mktemp -d)
server_pid=
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT

start_server() { # model-folder [extra args]
  local model=$1; shift
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  "$BIN" serve --model "$model" --port "$PORT" --max-pairs 64 $SERVE_ARGS "$@" 2>>"$work/serve.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}

pair='{"record1": {"given_name": "william", "surname": "thompson", "street_number": "12", "address": "kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}, "record2": {"given_name": "bill", "surname": "thomspon", "street_number": "", "address": "12 kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}}'
printf '%s' "$pair" >"$work/pair.json"
python3 -c "import sys; p=open(sys.argv[1]).read(); open(sys.argv[2],'w').write('[' + ','.join([p]*64) + ']')" "$work/pair.json" "$work/array64.json"

# A wrk script posting $1, counting statuses, and (for the reload phase) which answer bodies
# came with which model generation parity.
write_lua() { # body-file lua-file
  cat >"$2" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$1", "rb"); wrk.body = f:read("*a"); f:close()
local threads = {}
function setup(thread) table.insert(threads, thread) end
statuses = {}
answers = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and CHECK_ANSWERS then
    local g = tonumber(headers["x-model-generation"] or "-1")
    local key = tostring(g % 2) .. " " .. body
    answers[key] = (answers[key] or 0) + 1
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  local all, bodies = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
    for k, v in pairs(t:get("answers")) do bodies[k] = (bodies[k] or 0) + v end
  end
  local s = ""
  for k, v in pairs(all) do s = s .. k .. "=" .. v .. "," end
  io.write(string.format("RESULT %d %.6f %.3f %.3f %d %d %d %d %s\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.timeout, s))
  for k, v in pairs(bodies) do io.write("ANSWER " .. v .. " " .. k .. "\n") end
end
LUA
}
write_lua "$work/pair.json" "$work/pair.lua"
write_lua "$work/array64.json" "$work/array64.lua"
{ echo 'CHECK_ANSWERS = true'; cat "$work/pair.lua"; } >"$work/pair_check.lua"

run_wrk() { # connections seconds lua
  local c=$1 threads=$(( $1 < 2 ? $1 : 2 ))
  wrk -t"$threads" -c"$c" -d"$2s" --timeout 10s --latency -s "$3" "http://127.0.0.1:$PORT/predict"
}
row() { # label connections wrk-output
  read -r _ requests seconds p50 p99 ec er ew et statuses <<<"$(grep '^RESULT' <<<"$3")"
  local rps
  rps=$(awk -v r="$requests" -v s="$seconds" 'BEGIN { printf "%.0f", r / s }')
  echo "| $1 | $2 | $rps | $p50 | $p99 | $ec/$er/$ew/$et | ${statuses%,} |"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server args: --max-pairs 64 $SERVE_ARGS"

if [[ "$PHASES" == *capacity* ]]; then
  start_server runs/load-test-demo/model
  echo
  echo "## capacity (${LEVEL_S} s per level)"
  echo "| body | connections | req/s | p50 (ms) | p99 (ms) | socket errors c/r/w/t | statuses |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for c in $SINGLE_LEVELS; do row "1 pair" "$c" "$(run_wrk "$c" "$LEVEL_S" "$work/pair.lua")"; done
  for c in $ARRAY_LEVELS; do row "64 pairs" "$c" "$(run_wrk "$c" "$LEVEL_S" "$work/array64.lua")"; done
  stop_server
fi

if [[ "$PHASES" == *overload* ]]; then
  start_server runs/load-test-demo/model
  echo
  echo "## overload: $OVERLOAD_CONNECTIONS connections posting $OVERLOAD_BODY for ${OVERLOAD_S} s"
  rss0=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
  python3 scripts/probe.py --port "$PORT" --seconds "$OVERLOAD_S" --interval 0.05 --body-file "$work/pair.json" >"$work/probe.txt" &
  probe=$!
  out=$(run_wrk "$OVERLOAD_CONNECTIONS" "$OVERLOAD_S" "$work/$OVERLOAD_BODY.lua")
  wait "$probe"
  t0=$(date +%s.%N)
  health=$(curl -s -m 5 "http://127.0.0.1:$PORT/health")
  t1=$(date +%s.%N)
  echo "| body | connections | req/s | p50 (ms) | p99 (ms) | socket errors c/r/w/t | statuses |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  row "$OVERLOAD_BODY" "$OVERLOAD_CONNECTIONS" "$out"
  echo "probe client (one request per 50 ms, its own connection): $(cat "$work/probe.txt")"
  echo "RSS: $rss0 kB before, peak (VmHWM) $(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status") kB"
  echo "/health right after: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f ms", (b - a) * 1e3 }'): $health"
  stop_server
fi

if [[ "$PHASES" == *slowloris* ]]; then
  start_server runs/load-test-demo/model
  echo
  echo "## slowloris: $SLOW_CONNECTIONS connections, one head byte per second, ${SLOW_S} s"
  python3 scripts/probe.py --port "$PORT" --seconds 8 --interval 0.05 --body-file "$work/pair.json" >"$work/base.txt"
  echo "probe without slowloris: $(cat "$work/base.txt")"
  python3 scripts/slowloris.py --port "$PORT" --connections "$SLOW_CONNECTIONS" --seconds "$SLOW_S" >"$work/slow.txt" &
  slow=$!
  sleep 1
  echo "open connections 1 s in: $(curl -s "http://127.0.0.1:$PORT/health" | sed -n 's/.*"open_connections":\([0-9]*\).*/\1/p')"
  python3 scripts/probe.py --port "$PORT" --seconds 8 --interval 0.05 --body-file "$work/pair.json" >"$work/probe.txt"
  echo "probe during slowloris: $(cat "$work/probe.txt")"
  wait "$slow"
  echo "$(cat "$work/slow.txt")"
  stop_server
fi

if [[ "$PHASES" == *reload* ]]; then
  serving="$work/serving"
  cp -r runs/load-test-demo/model "$serving"
  start_server "$serving"
  echo
  echo "## reload: $RELOADS reloads during ${RELOAD_S} s of wrk (8 connections)"
  run_wrk 8 "$RELOAD_S" "$work/pair_check.lua" >"$work/reload_wrk.txt" &
  wrk_pid=$!
  sleep 2
  ok=0
  for i in $(seq 1 "$RELOADS"); do
    src=runs/load-test-demo-b/model; (( i % 2 == 0 )) && src=runs/load-test-demo/model
    rm -rf "$serving.next" "$serving.old"; cp -r "$src" "$serving.next"
    mv "$serving" "$serving.old"; mv "$serving.next" "$serving"
    r=$(curl -s -X POST "http://127.0.0.1:$PORT/admin/reload")
    [[ "$r" == *reloaded* ]] && ok=$((ok + 1))
    sleep $(( (RELOAD_S - 4) / RELOADS ))
  done
  wait "$wrk_pid"
  echo "reloads answered 'reloaded': $ok of $RELOADS"
  echo "| body | connections | req/s | p50 (ms) | p99 (ms) | socket errors c/r/w/t | statuses |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  row "1 pair" 8 "$(cat "$work/reload_wrk.txt")"
  echo "distinct answers (generation parity, count, body):"
  grep '^ANSWER' "$work/reload_wrk.txt" | awk '{ $1=""; print }' | cut -c1-140
  curl -s "http://127.0.0.1:$PORT/health"; echo
  stop_server
fi
