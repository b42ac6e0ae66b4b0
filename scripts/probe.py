#!/usr/bin/env python3
"""A normal client of `biome serve` (loopback only): one keep-alive connection posting one pair
every `--interval` seconds for `--seconds`; prints the latency percentiles of its 200 answers and
the count of every status.

    scripts/probe.py --port 18000 --seconds 20 --interval 0.05 --body-file pair.json

Prints one line: `PROBE n200=.. p50_ms=.. p99_ms=.. max_ms=.. statuses={..} errors=..`.
"""
import argparse
import http.client
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--body-file", required=True)
    args = ap.parse_args()
    body = open(args.body_file, "rb").read()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    ok, statuses, errors = [], {}, 0
    t0 = time.monotonic()
    next_at = t0
    while time.monotonic() - t0 < args.seconds:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += args.interval
        start = time.monotonic()
        try:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            continue
        ms = (time.monotonic() - start) * 1e3
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status == 200:
            ok.append(ms)
    ok.sort()
    pct = lambda p: ok[min(len(ok) - 1, int(p * (len(ok) - 1)))] if ok else float("nan")
    print(f"PROBE n200={len(ok)} p50_ms={pct(0.5):.2f} p99_ms={pct(0.99):.2f} "
          f"max_ms={(ok[-1] if ok else float('nan')):.2f} statuses={statuses} errors={errors}",
          flush=True)


if __name__ == "__main__":
    main()
