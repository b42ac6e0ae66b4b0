//! `biome-bench`: the performance benchmark of the siamese `SequencePairClassifier`.
//!
//! A port of `shared/bench/torch_ref/bench_pair.py` (the PyTorch reference): the same four
//! workloads W1–W4, built through the library's public config API, the same data
//! distribution, the same timed regions, the same analytic FLOP count and the same JSON fields.
//!
//! ```text
//! cargo build --release --bin biome-bench
//! biome-bench --device flex --threads 2 --workload all --gemm --json ours.json
//! ```

#![forbid(unsafe_code)]

use std::error::Error;
use std::time::Instant;

// burn allocates a fresh buffer for most tensor results; mimalloc keeps them cached instead of
// returning every large one to the kernel (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, ValueEnum};
use serde_json::json;

use measure::{
    cpu_busy_s, cpu_model, foreign_cpu_pct, gemm_peak_gflops, peak_rss_mib, tokenizer_tokens_per_s,
};
use report::print_table;
use run::Run;
use workloads::workloads;

type Res<T> = Result<T, Box<dyn Error>>;

mod counts;
mod measure;
mod report;
mod run;
mod workloads;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadArg {
    W1,
    W2,
    W3,
    W4,
    All,
    /// No workload (with `--gemm`: only the GEMM reference).
    None,
}

/// Benchmark of the siamese pair classifier, the port of bench_pair.py.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Backend: flex, ndarray or wgpu (those compiled in via the root crate's features).
    #[arg(long, default_value = biome::default_device_name())]
    device: String,
    #[arg(long, value_enum, default_value = "all", ignore_case = true)]
    workload: WorkloadArg,
    /// Size of the rayon global pool (flex, ndarray); 0 = rayon's default.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the results as JSON here (bench_pair.py's fields).
    #[arg(long, value_name = "OUT")]
    json: Option<std::path::PathBuf>,
    /// Timed train steps.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Untimed train warm-up steps.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Timed inference batches.
    #[arg(long, default_value_t = 20)]
    infer_steps: usize,
    /// Untimed inference batches.
    #[arg(long, default_value_t = 3)]
    infer_warmup: usize,
    /// Measure the fp32 GEMM reference rate (2048^3 on CPU backends, 8192^3 on wgpu).
    #[arg(long)]
    gemm: bool,
    /// Measure the tokenizer's speed (tokens/s) on generated person records.
    #[arg(long)]
    tokenizer: bool,
    /// Variant: the token embedding is `sparse: true` (row-wise gradient) and its rows are
    /// updated by the row-wise AMSGrad (`biome::sparse_adam`); the reference uses dense Adam.
    #[arg(long)]
    sparse_embeddings: bool,
    /// Count kernel launches (wgpu) and host reads per phase of the first and the last untimed
    /// train step and inference batch (needs --warmup and --infer-warmup of 2 or more).
    #[arg(long)]
    count: bool,
}

/// burn's compile-time GPU options in this binary (BENCHMARKS.md measures them on and off).
fn gpu_options() -> Vec<&'static str> {
    [
        cfg!(feature = "fusion").then_some("fusion"),
        cfg!(feature = "autotune").then_some("autotune"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() -> Res<()> {
    let args = Args::parse();
    if args.count && (args.warmup < 2 || args.infer_warmup < 2) {
        return Err(
            "--count counts the first and the last untimed step and inference batch: \
                    it needs --warmup 2 and --infer-warmup 2 or more"
                .into(),
        );
    }
    biome_kernels::allocator::keep_freed_memory();
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()?;
    }
    let device = biome::device_from_name(&args.device)?;
    let device_name = args.device.as_str();
    let mut meta = json!({
        "biome": env!("CARGO_PKG_VERSION"), "burn": "0.22.1", "device": device_name,
        "threads": rayon::current_num_threads(), "machine": std::env::consts::ARCH,
        "adam": format!(
            "{} Adam(amsgrad, eps 1e-8){}",
            // FusedAdam runs its one-pass update on flex only (burn's Adam elsewhere).
            if std::env::var("BIOME_FUSED_ADAM").is_ok_and(|v| v == "0") || device_name != "flex"
            {
                "burn"
            } else {
                "biome FusedAdam"
            },
            if args.sparse_embeddings {
                "; token embedding: sparse rows, row-wise AMSGrad"
            } else {
                ""
            }
        ),
        "sparse_embeddings": args.sparse_embeddings,
        "steps": args.steps, "warmup": args.warmup,
        "infer_steps": args.infer_steps, "infer_warmup": args.infer_warmup,
        "cpu": cpu_model(),
        "release": !cfg!(debug_assertions),
        "gpu_options": gpu_options(),
    });
    let (c0, w0) = (cpu_busy_s(), Instant::now());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let start_foreign = foreign_cpu_pct(c0, cpu_busy_s(), w0.elapsed().as_secs_f64());
    if let Some(p) = start_foreign.as_f64()
        && p > 5.0
    {
        println!(
            "WARNING: other processes use {p:.0}% of the CPUs before start; timings will be \
             inflated"
        );
    }
    meta["foreign_cpu_pct_at_start"] = start_foreign;
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; build with --release for meaningful numbers");
    }
    println!("meta: {meta}");

    let mut peak = None;
    if args.gemm {
        // 8192^3 on a GPU, as bench_pair.py on CUDA; a device that cannot hold a 256 MiB
        // buffer (lavapipe) gets the largest size it can, and `gemm_n` says which.
        let sizes: &[usize] = if args.device == "wgpu" {
            &[8192, 4096, 2048]
        } else {
            &[2048]
        };
        let mut measured: Res<f64> = Err("no GEMM size tried".into());
        let mut n = sizes[0];
        for &size in sizes {
            n = size;
            measured = gemm_peak_gflops(&device, n);
            match &measured {
                Ok(_) => break,
                Err(e) => println!("WARNING: fp32 GEMM {n}^3 failed on this device: {e}"),
            }
        }
        let p = measured?;
        println!("fp32 GEMM reference ({n}^3 matmul): {p:.1} GFLOP/s");
        meta["gemm_peak_gflops"] = json!(p);
        meta["gemm_n"] = json!(n);
        peak = Some(p);
    }

    if args.tokenizer {
        let (rate, tokens) = tokenizer_tokens_per_s();
        println!("tokenizer: {rate:.0} tokens/s ({tokens} tokens per pass, median of 5)");
        meta["tokenizer_tokens_per_s"] = json!(rate);
    }

    let keys: Vec<&str> = match args.workload {
        WorkloadArg::All => vec!["W1", "W2", "W3", "W4"],
        WorkloadArg::None => vec![],
        WorkloadArg::W1 => vec!["W1"],
        WorkloadArg::W2 => vec!["W2"],
        WorkloadArg::W3 => vec!["W3"],
        WorkloadArg::W4 => vec!["W4"],
    };
    let run = Run {
        args: &args,
        device: &device,
    };
    let all = workloads();
    let mut results = vec![];
    for k in keys {
        let w = all.iter().find(|w| w.key == k).expect("known workload");
        results.push(run.bench_workload(w)?);
    }
    meta["peak_rss_mib"] = json!(peak_rss_mib());

    if !results.is_empty() {
        print_table(&meta, &results, peak);
    }
    if let Some(path) = &args.json {
        let out = json!({"meta": meta, "checks": {}, "results": results});
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
