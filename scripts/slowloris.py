#!/usr/bin/env python3
"""Slowloris against `biome serve` (loopback only): N connections that each send one byte of a
request head per second and never finish it. Reports how many the server closed and when.

    scripts/slowloris.py --port 18000 --connections 500 --seconds 20

Prints one line: `SLOWLORIS opened=N closed=K first_close_s=.. last_close_s=.. open_at_end=..`.
"""
import argparse
import selectors
import socket
import time

HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 4096


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    sel = selectors.DefaultSelector()
    socks = {}
    t0 = time.monotonic()
    for _ in range(args.connections):
        s = socket.create_connection(("127.0.0.1", args.port))
        s.setblocking(False)
        socks[s] = 0  # bytes sent
        sel.register(s, selectors.EVENT_READ)
    closes = []
    next_byte = time.monotonic()
    while time.monotonic() - t0 < args.seconds and socks:
        timeout = max(0.0, next_byte - time.monotonic())
        for key, _ in sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                socks.pop(s, None)
                closes.append(time.monotonic() - t0)
        if time.monotonic() >= next_byte:
            next_byte += 1.0
            for s in list(socks):
                n = socks[s]
                try:
                    s.send(HEAD[n % len(HEAD):n % len(HEAD) + 1])
                    socks[s] = n + 1
                except OSError:
                    pass
    first = f"{closes[0]:.2f}" if closes else "-"
    last = f"{closes[-1]:.2f}" if closes else "-"
    print(f"SLOWLORIS opened={args.connections} closed={len(closes)} first_close_s={first} "
          f"last_close_s={last} open_at_end={len(socks)}", flush=True)


if __name__ == "__main__":
    main()
