#!/usr/bin/env python3
"""Run biome-bench (ours, release build) and bench_pair.py (PyTorch) back to back and
print a markdown ratio table.

Each workload runs as its own pair of processes, ours then torch, so that the two sides of
a row are measured seconds apart (the box drifts by 10-40% between runs). Each process's
peak RSS is read with wait4(); the W2 row gives the W2 peak RSS of both sides. The fp32
GEMM reference (2048^3) is measured by `biome-bench --gemm` and by bench_pair.py.

    python3 benches/compare.py                                  # all workloads, 2 threads
    python3 benches/compare.py --workload W2 --steps 10 --no-build
    TORCH_PYTHON=/path/to/venv/bin/python BENCH_PAIR=/path/to/bench_pair.py python3 benches/compare.py
    # on a GPU machine (benches/gpu/run.sh does this): wgpu against PyTorch CUDA, GPU memory
    python3 benches/compare.py --ours-bin ./biome-bench --device wgpu --torch-device cuda --gpu-memory

Only the standard library is needed here; torch lives in the venv named by --torch-python
(default $TORCH_PYTHON, else /work/torchenv/bin/python).
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ["W1", "W2", "W3", "W4"]


def default_bench_pair():
    for p in (os.environ.get("BENCH_PAIR"), REPO / "shared/bench/torch_ref/bench_pair.py",
              REPO.parent / "shared/bench/torch_ref/bench_pair.py",
              Path("/work/shared/bench/torch_ref/bench_pair.py")):
        if p and Path(p).is_file():
            return str(p)
    return None


def gpu_memory_used_mib():
    """GPU 0's used memory in MiB (nvidia-smi), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                              "-i", "0"], capture_output=True, text=True, timeout=10)
        return float(out.stdout.split()[0]) if out.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


class GpuMemoryPeak:
    """Samples GPU 0's used memory every 100 ms while a process runs; `peak` is the largest
    reading above the one taken before it started (processes run one at a time)."""

    def __init__(self):
        self.base = gpu_memory_used_mib()
        self.peak = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        if self.base is not None:
            self.thread.start()

    def sample(self):
        while not self.stop.wait(0.1):
            used = gpu_memory_used_mib()
            if used is not None:
                self.peak = max(self.peak or 0.0, used - self.base)

    def finish(self):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        return self.peak


TIMED_OUT = 124


def run(cmd, log, gpu_memory=False, timeout=None):
    """Run cmd, tee its output to log, return (returncode, peak RSS MiB of that process, peak GPU
    memory MiB while it ran or None). A process still running after `timeout` seconds is
    killed and returns TIMED_OUT, so one slow workload cannot take a whole device lease."""
    print("$", " ".join(cmd), flush=True)
    gpu = GpuMemoryPeak() if gpu_memory else None
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killer = None
        if timeout:
            killer = threading.Timer(timeout, p.kill)
            killer.start()
        for line in p.stdout:
            sys.stdout.write("  " + line)
            f.write(line)
        _, status, rusage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if killer:
            killer.cancel()
            if p.returncode == -9:
                p.returncode = TIMED_OUT
                msg = f"TIMEOUT: killed after {timeout} s"
                print("  " + msg, flush=True)
                f.write(msg + "\n")
    return p.returncode, rusage.ru_maxrss / 1024.0, gpu.finish() if gpu else None


def load(path):
    with open(path) as f:
        return json.load(f)


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"] * 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="all", choices=WORKLOADS + ["all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="flex", help="biome-bench --device")
    ap.add_argument("--torch-device", default="cpu", help="bench_pair.py --device (cpu, cuda)")
    ap.add_argument("--gpu-memory", action="store_true",
                    help="sample GPU 0's used memory (nvidia-smi) during each process")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--infer-steps", type=int, default=20)
    ap.add_argument("--infer-warmup", type=int, default=3)
    ap.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", "/work/torchenv/bin/python"))
    ap.add_argument("--bench-pair", default=default_bench_pair())
    ap.add_argument("--out-dir", default=None, help="JSON and logs (default: <target>/bench-compare)")
    ap.add_argument("--no-build", action="store_true", help="use the existing release binary")
    ap.add_argument("--ours-bin", default=None, help="a biome-bench binary to run (implies --no-build)")
    ap.add_argument("--skip-torch", action="store_true", help="run ours only")
    ap.add_argument("--skip-torch-why", default=None,
                    help="with --skip-torch: the reason, printed with the tables")
    ap.add_argument("--timeout-ours", type=float, default=None,
                    help="kill a biome-bench process after this many seconds")
    ap.add_argument("--timeout-torch", type=float, default=None,
                    help="kill a bench_pair.py process after this many seconds")
    ap.add_argument("--count", action="store_true",
                    help="ours: biome-bench --count (kernel launches and host reads per phase of "
                         "untimed steps) and a table of them")
    ap.add_argument("--report", default=None,
                    help="also write the tables (markdown, with the command) to this file")
    ap.add_argument("--sparse-embeddings", action="store_true",
                    help="ours: the sparse-embedding variant (row-wise AMSGrad on the token table); "
                         "torch keeps bench_pair.py's dense Adam, which has no sparse option")
    args = ap.parse_args()

    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    out = Path(args.out_dir or target / "bench-compare")
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_build and not args.ours_bin:
        subprocess.run(["cargo", "build", "--release", "--bin", "biome-bench"], cwd=REPO, check=True)
    ours_bin = args.ours_bin or str(target / "release" / "biome-bench")
    have_torch = not args.skip_torch and args.bench_pair and Path(args.torch_python).exists()
    if not args.skip_torch and not have_torch:
        print(f"WARNING: no torch side (python {args.torch_python}, bench_pair {args.bench_pair})")

    common = ["--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--infer-steps", str(args.infer_steps), "--infer-warmup", str(args.infer_warmup)]
    load0 = loadavg()

    # GEMM reference, ours (torch measures its own in every bench_pair.py run).
    rc, _, _ = run([ours_bin, "--device", args.device, "--threads", str(args.threads), "--workload",
                    "none", "--gemm", "--json", str(out / "ours_gemm.json")], out / "ours_gemm.log",
                   timeout=args.timeout_ours)
    ours_meta = load(out / "ours_gemm.json")["meta"] if rc == 0 else {}
    ours_gemm, gemm_n = ours_meta.get("gemm_peak_gflops"), ours_meta.get("gemm_n", 2048)

    keys = WORKLOADS if args.workload == "all" else [args.workload]
    rows, torch_gemm, meta, failed = [], [], {}, []
    for i, k in enumerate(keys):
        sparse = ["--sparse-embeddings"] if args.sparse_embeddings else []
        count = ["--count"] if args.count else []
        rc, rss_o, gpu_o = run([ours_bin, "--device", args.device, "--workload", k, "--json",
                                str(out / f"ours_{k}.json")] + common + sparse + count,
                               out / f"ours_{k}.log", args.gpu_memory, args.timeout_ours)
        o = load(out / f"ours_{k}.json") if rc == 0 else None
        if rc != 0:
            failed.append(f"ours {k}: " + ("timed out" if rc == TIMED_OUT else f"exit {rc}"))
        meta["ours"] = o["meta"] if o else meta.get("ours")
        t, rss_t, gpu_t = None, None, None
        if have_torch:
            cmd = [args.torch_python, args.bench_pair, "--device", args.torch_device, "--workload", k,
                   "--json", str(out / f"torch_{k}.json")] + common
            if i > 0:
                cmd.append("--skip-checks")
            rc, rss_t, gpu_t = run(cmd, out / f"torch_{k}.log", args.gpu_memory, args.timeout_torch)
            t = load(out / f"torch_{k}.json") if rc == 0 else None
            if rc != 0:
                failed.append(f"torch {k}: " + ("timed out" if rc == TIMED_OUT else f"exit {rc}"))
            if t:
                torch_gemm.append(t["meta"]["gemm_peak_gflops"])
                meta["torch"] = t["meta"]
        rows.append((k, o["results"][0] if o else None, t["results"][0] if t else None, rss_o, rss_t,
                     gpu_o, gpu_t))
    load1 = loadavg()

    lines = []

    def emit(text=""):
        print(text)
        lines.append(text)

    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"
    emit()
    emit(f"biome-bench --device {args.device} vs PyTorch {args.torch_device}, {args.threads} threads; "
          f"load average before {' '.join(load0)}, after {' '.join(load1)}")
    if meta.get("torch"):
        emit(f"torch {meta['torch'].get('torch')} | cpu {meta['torch'].get('cpu')}")
    tg = sorted(torch_gemm)[len(torch_gemm) // 2] if torch_gemm else None
    emit(f"\nfp32 GEMM {gemm_n}^3: ours {f(ours_gemm, 1)} GFLOP/s, torch {f(tg, 1)} GFLOP/s "
          f"(ratio ours/torch {f(ours_gemm / tg if ours_gemm and tg else None)})\n")
    emit("| workload | train ms/step ours | torch | ratio ours/torch (time) | ours fwd/bwd/opt ms "
          "| torch fwd/bwd/opt ms | infer pairs/s ours | torch | ratio ours/torch (throughput) "
          "| GFLOP/s ours | torch | other CPU % ours/torch |")
    emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, o, t, *_ in rows:
        g = lambda r, key: r[key] if r else None
        med = lambda r, key: r[key]["median"] if r else None
        phases = lambda r: "-" if not r else "/".join(
            f"{r[p]['median']:.1f}" for p in ("train_fwd_ms", "train_bwd_ms", "train_opt_ms"))
        tr = med(o, "train_ms") / med(t, "train_ms") if o and t else None
        ir = g(o, "infer_pairs_per_s") / g(t, "infer_pairs_per_s") if o and t else None
        name = (o or t or {}).get("name", "")
        emit(f"| {k} {name} | {f(med(o, 'train_ms'))} | {f(med(t, 'train_ms'))} | **{f(tr)}** "
              f"| {phases(o)} | {phases(t)} | {f(g(o, 'infer_pairs_per_s'), 0)} "
              f"| {f(g(t, 'infer_pairs_per_s'), 0)} | **{f(ir)}** "
              f"| {f(g(o, 'train_gflops_achieved'), 1)} | {f(g(t, 'train_gflops_achieved'), 1)} "
              f"| {f(g(o, 'foreign_cpu_pct'), 0)}/{f(g(t, 'foreign_cpu_pct'), 0)} |")
    emit("\nPeak RSS of each workload's process (wait4 ru_maxrss, MiB; torch's includes the "
          "torch import and its 2048^3 GEMM check):")
    emit("| workload | ours | torch |\n|---|---:|---:|")
    for k, _, _, rss_o, rss_t, _, _ in rows:
        emit(f"| {k} | {f(rss_o, 0)} | {f(rss_t, 0)} |")
    if args.gpu_memory:
        emit("\nPeak GPU memory in use while each process ran (nvidia-smi, sampled every 100 ms, "
              "above the reading before it started; MiB):")
        emit("| workload | ours | torch |\n|---|---:|---:|")
        for k, _, _, _, _, gpu_o, gpu_t in rows:
            emit(f"| {k} | {f(gpu_o, 0)} | {f(gpu_t, 0)} |")
    emit("\nOurs, first train step (kernel compilation on a GPU) and workload start to the end of "
          "that step; first inference batch:")
    emit("| workload | first step ms | to first step s | first inference ms |\n|---|---:|---:|---:|")
    for k, o, *_ in rows:
        g = lambda key: o.get(key) if o else None
        emit(f"| {k} | {f(g('first_step_ms'), 1)} | {f(g('time_to_first_step_s'), 2)} "
              f"| {f(g('first_infer_ms'), 1)} |")
    bad = [k for k, o, t, *_ in rows
           if any(r and (r.get("foreign_cpu_pct") or 0) > 5 for r in (o, t))]
    if bad:
        emit(f"\nWARNING: other processes used >5% of the CPUs during {', '.join(bad)}: "
              "those rows are indicative only.")
    if args.count:
        emit_counts(emit, rows)
    if args.skip_torch and args.skip_torch_why:
        emit(f"\nNo torch rows: {args.skip_torch_why}")
    if failed:
        emit(f"\nFAILED (no row): {'; '.join(failed)}")
    emit(f"\nJSON and logs: {out}")
    if args.report:
        head = ["$ " + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), ""]
        Path(args.report).write_text("\n".join(head + lines) + "\n")
        print(f"wrote {args.report}")


def emit_counts(emit, rows):
    """Kernel launches and host reads per phase (biome-bench --count), first step and steady."""
    emit("\nOurs, kernel launches / host reads per phase (biome-bench --count; the steady step is "
         "the last untimed one; host reads exclude the bench's own barrier after each phase):")
    emit("| workload | step | longest seq | fwd | bwd | opt | loss read | host reads in "
         "fwd+bwd+opt | infer batch launches | infer host reads |")
    emit("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, o, *_ in rows:
        counts = (o or {}).get("counts") or {}
        for step, infer in (("first", "first_infer"), ("steady", "infer")):
            c = counts.get("first_step" if step == "first" else "step")
            i = (counts.get(infer) or {}).get("forward_and_read")
            if not c:
                continue
            n = lambda phase: "-" if c[phase]["launches"] is None else str(c[phase]["launches"])
            reads = sum(c[p]["host_reads"] for p in ("forward", "backward", "update"))
            emit(f"| {k} | {step} | {c['longest_sequence']} | {n('forward')} | {n('backward')} "
                 f"| {n('update')} | {n('loss_read')} | {reads} "
                 f"| {'-' if not i or i['launches'] is None else i['launches']} "
                 f"| {'-' if not i else i['host_reads']} |")




if __name__ == "__main__":
    main()
