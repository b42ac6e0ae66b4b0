#!/usr/bin/env bash
# Every GPU measurement in one call, on the GPU machine (see prepare.sh; the device tool runs it
# from the repository root with carry [".gpu", ".gl"]):
#   biome-bench --device wgpu against bench_pair.py --device cuda, workload by workload, through
#   benches/compare.py: train and inference ratios, peak GPU memory of each process, our first
#   step (kernel compilation) and time to first step, and our kernel launches and host reads
#   per phase (--count, from untimed steps).
# Result: $OUT/results.md (the tables, ready for BENCHMARKS.md, with the command and the
# machine), $OUT/compare.log (everything printed) and $OUT/compare.tar.xz (the JSON and logs).
# Extra arguments go to compare.py (e.g. --workload W2 --steps 10).
#
# Without CUDA (no nvidia-smi, or torch without a CUDA device) the PyTorch rows are skipped and
# results.md says why; wgpu then runs on whatever Vulkan driver there is (lavapipe here:
# `apt-get install mesa-vulkan-drivers`). TORCH_DEVICE=cpu runs torch on the CPU instead.
# Each process has its own timeout (OURS_TIMEOUT, TORCH_TIMEOUT, seconds; the defaults keep the
# whole run within about 8 minutes on an H200), so one hung workload cannot take the lease.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/biome-gpu}
mkdir -p "$out"
bin=${BIOME_BENCH:-}

# The Vulkan loader, unless the machine has one.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in .gl/*.deb; do
    [ -f "$f" ] && dpkg -x "$f" /
  done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
if [ -z "$bin" ]; then
  if [ ! -f .gpu/biome-bench.xz ]; then
    echo "no .gpu/biome-bench.xz: run benches/gpu/prepare.sh first (or set BIOME_BENCH)" >&2
    exit 2
  fi
  bin=/tmp/biome-bench
  xz -dc .gpu/biome-bench.xz > "$bin" && chmod +x "$bin"
fi
# Kernel autotuning is what makes the first step take minutes; minimal keeps it short (it only
# matters in a build with burn's `autotune` feature).
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal}

torch_python=${TORCH_PYTHON:-python3}
torch_device=${TORCH_DEVICE:-cuda}
bench_pair=.gpu/bench_pair.py
[ -f "$bench_pair" ] || bench_pair=${BENCH_PAIR:-../shared/bench/torch_ref/bench_pair.py}
skip=()
if [ "$torch_device" = cuda ]; then
  why=""
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    why="no CUDA on this machine (nvidia-smi finds no GPU)"
  elif ! "$torch_python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    why="$torch_python has no torch with a CUDA device"
  fi
  if [ -n "$why" ]; then
    echo "NOTE: $why: the PyTorch CUDA rows are skipped; wgpu runs on the Vulkan driver there is."
    skip=(--skip-torch --skip-torch-why "$why")
  fi
elif ! "$torch_python" -c 'import torch' 2>/dev/null; then
  why="$torch_python has no torch"
  echo "NOTE: $why: the PyTorch rows are skipped."
  skip=(--skip-torch --skip-torch-why "$why")
fi

{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  "$torch_python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null \
    || echo "no torch in $torch_python"
  if command -v vulkaninfo >/dev/null; then
    vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName' | sort -u
  fi
  echo "nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out/machine.txt"

gpu_memory=()
command -v nvidia-smi >/dev/null && gpu_memory=(--gpu-memory)

python3 benches/compare.py --ours-bin "$bin" --device wgpu \
  --torch-device "$torch_device" --torch-python "$torch_python" \
  --bench-pair "$bench_pair" --threads "${THREADS:-16}" "${gpu_memory[@]}" "${skip[@]}" \
  --count --timeout-ours "${OURS_TIMEOUT:-60}" --timeout-torch "${TORCH_TIMEOUT:-40}" \
  --out-dir /tmp/biome-gpu-cmp --report "$out/results.md" "$@" 2>&1 | tee "$out/compare.log"
status=${PIPESTATUS[0]}
{ echo; echo '```text'; cat "$out/machine.txt"; echo '```'; } >> "$out/results.md"
tar -C /tmp -cJf "$out/compare.tar.xz" biome-gpu-cmp
exit "$status"
