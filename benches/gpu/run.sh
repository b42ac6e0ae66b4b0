#!/usr/bin/env bash
# Every GPU measurement in one call, on the GPU machine (see prepare.sh; the device tool runs it
# from the repository root with carry [".gpu", ".gl"]):
#   biome-bench --device wgpu against bench_pair.py --device cuda, workload by workload, through
#   benches/compare.py: train and inference ratios, peak GPU memory of each process, and our
#   first step (kernel compilation) and time to first step.
# Extra arguments go to compare.py (e.g. --workload W2 --steps 10). Results: $OUT/compare.log
# and $OUT/compare.tar.xz (the JSON and logs). TORCH_DEVICE=cpu runs the flow on a machine
# without CUDA (wgpu then needs a software Vulkan driver such as lavapipe).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/biome-gpu}
mkdir -p "$out"

# The Vulkan loader, unless the machine has one.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
xz -dc .gpu/biome-bench.xz > /tmp/biome-bench && chmod +x /tmp/biome-bench
# Kernel autotuning is what makes the first step take minutes; minimal keeps it short.
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal}

{
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} 2>&1 | tee "$out/machine.txt"

python3 benches/compare.py --ours-bin /tmp/biome-bench --device wgpu \
  --torch-device "${TORCH_DEVICE:-cuda}" --torch-python "${TORCH_PYTHON:-python3}" \
  --bench-pair .gpu/bench_pair.py --threads "${THREADS:-16}" --gpu-memory \
  --out-dir /tmp/biome-gpu-cmp "$@" 2>&1 | tee "$out/compare.log"
status=${PIPESTATUS[0]}
tar -C /tmp -cJf "$out/compare.tar.xz" biome-gpu-cmp
exit "$status"
