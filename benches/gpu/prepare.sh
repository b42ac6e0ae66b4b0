#!/usr/bin/env bash
# Prepares the GPU benchmark run (benches/gpu/run.sh) on a machine with a Rust toolchain.
# The GPU machine has CUDA, PyTorch and NVIDIA's Vulkan driver but no Rust toolchain and no
# network, so everything travels with the working tree, in two git-ignored folders:
#   .gpu/biome-bench.xz   the release biome-bench with the wgpu backend, stripped and xz'd
#   .gpu/bench_pair.py    the PyTorch reference (default ../shared/bench/torch_ref/bench_pair.py)
#   .gl/*.deb             the Vulkan loader (libvulkan1), unpacked there by run.sh
# Then, with the device tool: run benches/gpu/run.sh with carry [".gpu", ".gl"].
# FEATURES picks burn's GPU options for the binary (default `wgpu`; e.g. FEATURES=wgpu,fusion or
# wgpu,fusion,autotune for the A/B runs of BENCHMARKS.md; biome-bench prints them in its meta
# line as `gpu_options`). Each set is its own build of the GPU stack.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
bench_pair=${BENCH_PAIR:-../shared/bench/torch_ref/bench_pair.py}
features=${FEATURES:-wgpu}

cargo build --release --features "$features" --bin biome-bench
mkdir -p .gpu .gl
strip -o .gpu/biome-bench "$target/release/biome-bench"
xz -T0 -f .gpu/biome-bench
install -m 0644 "$bench_pair" .gpu/bench_pair.py

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download libvulkan1)
fi

for dir in /.gpu/ /.gl/; do
  grep -qxF "$dir" .git/info/exclude 2>/dev/null || echo "$dir" >> .git/info/exclude
done
du -sh .gpu .gl
