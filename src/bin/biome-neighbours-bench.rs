//! `biome-neighbours-bench`: exact against approximate nearest neighbours on record vectors
//! written by `biome encode`: build and query seconds, recall@k of the approximate search
//! against the exact top-k, and the process's peak memory (BENCHMARKS.md, "Nearest
//! neighbours").
//!
//! ```text
//! cargo build --release --bin biome-neighbours-bench
//! biome-neighbours-bench --vectors vec.csv --k 10 --cell-size 256 --probes 16,24,32
//! ```

#![forbid(unsafe_code)]

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use biome_resolve::{IvfParams, VectorSet, approximate_neighbours, nearest_neighbours};
use clap::Parser;

/// Exact against approximate neighbours on `biome encode` vectors.
#[derive(Debug, Parser)]
struct Args {
    /// `biome encode` output (id, v0, v1, ...).
    #[arg(long)]
    vectors: PathBuf,
    /// Neighbours per record.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Average rows per cell of the approximate index (comma-separated: one run each).
    #[arg(long, value_delimiter = ',', default_value = "256")]
    cell_size: Vec<usize>,
    /// Cells probed per query group (comma-separated: one run each).
    #[arg(long, value_delimiter = ',', default_value = "24")]
    probes: Vec<usize>,
    /// Skip the exact search; recall is then measured on the first `--exact-sample` queries
    /// only (exact search of those against the whole set).
    #[arg(long, default_value_t = 0)]
    exact_sample: usize,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut reader = csv::Reader::from_path(&args.vectors)?;
    let dim = reader.headers()?.len() - 1;
    let mut data = Vec::new();
    for row in reader.records() {
        for v in row?.iter().skip(1) {
            data.push(v.parse::<f32>()?);
        }
    }
    let set = VectorSet::new(dim, data.as_slice());
    let n = set.len();
    println!(
        "{n} vectors of {dim}; rss after reading {:.0} MiB",
        peak_rss_mib()
    );
    let clock = Instant::now();
    let exact = if args.exact_sample == 0 {
        let e = nearest_neighbours(&set, &set, args.k, true);
        println!(
            "exact: {:.2} s, peak rss {:.0} MiB",
            clock.elapsed().as_secs_f64(),
            peak_rss_mib()
        );
        e
    } else {
        // The sample's exact neighbours: its queries against the whole table.
        let m = args.exact_sample.min(n);
        let queries = VectorSet::new(dim, &data[..m * dim]);
        let mut e = nearest_neighbours(&set, &queries, args.k + 1, false);
        for (q, row) in e.iter_mut().enumerate() {
            row.retain(|&(j, _)| j as usize != q);
            row.truncate(args.k);
        }
        println!(
            "exact on {m} sampled queries: {:.2} s",
            clock.elapsed().as_secs_f64()
        );
        e
    };
    for &cell_size in &args.cell_size {
        for &probes in &args.probes {
            let params = IvfParams {
                cell_size,
                probes,
                ..IvfParams::default()
            };
            let clock = Instant::now();
            let approx = approximate_neighbours(&set, &set, args.k, true, &params);
            let seconds = clock.elapsed().as_secs_f64();
            let (mut hit, mut all) = (0usize, 0usize);
            for (e, a) in exact.iter().zip(&approx) {
                all += e.len();
                hit += e
                    .iter()
                    .filter(|(j, _)| a.iter().any(|(i, _)| i == j))
                    .count();
            }
            println!(
                "ivf cell_size {cell_size} probes {probes}: {seconds:.2} s, recall@{} {:.4}, peak rss {:.0} MiB",
                args.k,
                hit as f64 / all.max(1) as f64,
                peak_rss_mib()
            );
        }
    }
    Ok(())
}
