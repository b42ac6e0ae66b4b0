#!/usr/bin/env bash
# One `POST /match` request's latency on a 10^4 and a 10^5 record index (release build), with
# one `POST /predict` pair as the anchor, same server, same run: requests one at a time on one
# keep-alive connection, so each is answered alone (no batching).
#
#   cargo build --release --bin biome
#   MODEL=biome-demo/model ROUNDS=3 REQUESTS=200 scripts/match_latency.sh
set -euo pipefail
BIOME=${BIOME:-target/release/biome}
MODEL=${MODEL:-biome-demo/model}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200}
SIZES=${SIZES:-"10000 100000"}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=
for n in $SIZES; do
  "$BIOME" generate-table --records "$n" --output "$WORK/t$n.csv" 2>/dev/null
  start=$(date +%s.%N)
  "$BIOME" index --model "$MODEL" --data "$WORK/t$n.csv" --id-column rec_id --output "$WORK/t$n.bix" 2>/dev/null
  echo "index of $n records: $(echo "$(date +%s.%N) - $start" | bc) s, $(stat -c %s "$WORK/t$n.bix") bytes"
  port=$((20000 + RANDOM % 20000))
  start=$(date +%s.%N)
  "$BIOME" serve --model "$MODEL" --index "$WORK/t$n.bix" --port "$port" 2>"$WORK/serve.log" &
  SERVER=$!
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.05; done
  echo "server start with the index: $(echo "$(date +%s.%N) - $start" | bc) s"
  python3 - "$port" "$WORK/t$n.csv" "$ROUNDS" "$REQUESTS" "$n" <<'PY'
import csv, http.client, json, statistics, sys, time
port, table, rounds, requests, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = list(csv.DictReader(open(table)))
fields = [c for c in rows[0] if c not in ("rec_id", "entity_id")]
records = [{f: r[f] for f in fields} for r in rows[:: max(1, len(rows) // requests)][:requests]]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
def post(path, body):
    t = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = conn.getresponse(); data = r.read()
    assert r.status == 200, (r.status, data)
    return (time.perf_counter() - t) * 1000, data
# warm-up
for rec in records[:10]:
    post("/match", {"record": rec}); post("/predict", {"record1": rec, "record2": rec})
for k in range(rounds):
    m = sorted(post("/match", {"record": rec, "top_k": 10})[0] for rec in records)
    p = sorted(post("/predict", {"record1": rec, "record2": records[0]})[0] for rec in records)
    q = lambda xs, f: xs[min(len(xs) - 1, int(f * len(xs)))]
    print(f"n={n} round {k+1}: /match p50 {q(m,.5):.2f} ms p90 {q(m,.9):.2f} mean {statistics.mean(m):.2f}"
          f" | /predict p50 {q(p,.5):.2f} ms p90 {q(p,.9):.2f} | ratio p50 {q(m,.5)/q(p,.5):.1f}x")
PY
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
done
