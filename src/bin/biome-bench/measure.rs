//! What the bench measures besides the model: CPU time, peak memory, device syncs, summary
//! statistics, the GEMM reference rate and the tokenizer's speed.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use serde_json::{Value, json};

use crate::Res;

/// (all CPUs' busy seconds incl. steal, this process' CPU seconds), as bench_pair.py.
pub(crate) fn cpu_busy_s() -> Option<(f64, f64)> {
    const TCK: f64 = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let guest = if v.len() > 9 { v[8] + v[9] } else { 0 };
    let busy = v.iter().sum::<u64>() - v.get(3)? - v.get(4)? - guest;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = own.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((busy as f64 / TCK, (utime + stime) as f64 / TCK))
}

/// Share of the machine's CPU time used by other processes (or stolen) during `wall_s`.
pub(crate) fn foreign_cpu_pct(
    before: Option<(f64, f64)>,
    after: Option<(f64, f64)>,
    wall_s: f64,
) -> Value {
    match (before, after) {
        (Some(b), Some(a)) if wall_s > 0.0 => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let foreign = (a.0 - b.0) - (a.1 - b.1);
            json!((100.0 * foreign / (wall_s * cpus)).max(0.0))
        }
        _ => Value::Null,
    }
}

/// Peak resident set size of this process so far, in MiB (`VmHWM`).
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

pub(crate) fn stats(xs: &[f64]) -> Value {
    json!({
        "median": median(xs),
        "min": xs.iter().copied().fold(f64::INFINITY, f64::min),
        "max": xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "mean": mean(xs),
    })
}

pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

pub(crate) fn sync(device: &Device) -> Res<()> {
    device
        .sync()
        .map_err(|e| format!("device sync failed: {e:?}").into())
}

/// fp32 `n^3` matmul rate in GFLOP/s: median of 5 after 2 warm-ups (as bench_pair.py).
pub(crate) fn gemm_peak_gflops(device: &Device, n: usize) -> Res<f64> {
    let a = Tensor::<2>::random([n, n], Distribution::Default, device);
    let b = Tensor::<2>::random([n, n], Distribution::Default, device);
    sync(device)?;
    let mut times = vec![];
    for i in 0..7 {
        let t0 = Instant::now();
        let c = a.clone().matmul(b.clone());
        // Read one value back: a lazy (fusing) GPU backend may otherwise never run a product
        // nobody reads, and the clock would time nothing (wgpu gave 10^7 GFLOP/s).
        let corner = c
            .slice([0..1, 0..1])
            .try_into_data()
            .map_err(|e| format!("the GEMM check's product failed: {e:?}"))?;
        sync(device)?;
        let dt = t0.elapsed().as_secs_f64();
        drop(corner);
        if i >= 2 {
            times.push(dt);
        }
    }
    Ok(2.0 * (n as f64).powi(3) / median(&times) / 1e9)
}

/// Tokens per second of the word tokenizer (lowercasing, as the shipped configs do) over the
/// texts of 20,000 generated person-record pairs; the median of 5 passes.
pub(crate) fn tokenizer_tokens_per_s() -> (f64, usize) {
    use biome_core::{Tokenizer, TokenizerConfig};
    let texts: Vec<String> = biome::demo::generate_pairs(20_000, 1)
        .into_iter()
        .flat_map(|(a, b, _)| [a.fields.join(" "), b.fields.join(" ")])
        .collect();
    let tokenizer = Tokenizer::new(TokenizerConfig {
        lowercase: true,
        ..Default::default()
    });
    let mut rates = vec![];
    let mut tokens = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        tokens = texts
            .iter()
            .map(|t| tokenizer.tokenize(t).len())
            .sum::<usize>();
        rates.push(tokens as f64 / t0.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    (rates[2], tokens)
}

pub(crate) fn cpu_model() -> Value {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| json!(m.trim()))
        })
        .unwrap_or(Value::Null)
}
