//! `biome`: train, evaluate and use pair classifiers from the command line.

#![forbid(unsafe_code)]

// burn allocates a fresh buffer for most tensor results; mimalloc keeps them cached instead of
// returning every large one to the kernel (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use biome::biome_core::{PairExample, Record};
use biome::serve::{BatchOptions, ConnectionOptions, Limits, ServeOptions};
use biome::{BiomeError, Pipeline, PipelineConfig, default_device_name, device_from_name};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "biome",
    version,
    about = "Siamese pair classification: train, evaluate, predict"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; the best epoch's model is written to --output.
    Train {
        /// Configuration file (JSON: data, model, trainer).
        #[arg(long)]
        config: PathBuf,
        /// Training data (CSV or JSONL).
        #[arg(long)]
        train: PathBuf,
        /// Validation data (CSV or JSONL), for early stopping and model choice.
        #[arg(long)]
        validation: Option<PathBuf>,
        /// Output folder (the model archive, metrics.jsonl, training_curve.svg).
        #[arg(long)]
        output: PathBuf,
        /// Backend: flex, ndarray or wgpu (those compiled in).
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
        /// Overrides trainer.seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Continue from the last completed epoch in --output.
        #[arg(long)]
        resume: bool,
    },
    /// Evaluate a model on labelled data; the last stdout line is the metrics as JSON.
    Evaluate {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// Labelled data (CSV or JSONL) with the columns of the training mapping.
        #[arg(long)]
        data: PathBuf,
        /// Backend.
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
    },
    /// Predict pairs from JSON lines: one output line per input line, in order.
    Predict {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// JSON lines `{"record1": ..., "record2": ...}` ("-" for stdin).
        #[arg(long)]
        input: PathBuf,
        /// Backend.
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
    },
    /// Serve a model over HTTP: POST /predict (one pair or an array of pairs, the JSON of
    /// `predict`), GET /health, GET /model, GET /metrics (Prometheus), POST /admin/reload
    /// (loopback only). Requests arriving together are batched; past --max-queue waiting pairs
    /// requests get 503 at once. SIGHUP: reload the model without downtime. SIGTERM or
    /// Ctrl-C: answer the requests in flight, then exit 0.
    Serve {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// Backend.
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0: any free port, printed at start).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Most pairs per model run; requests arriving together are merged up to this.
        #[arg(long, default_value_t = BatchOptions::default().max_batch)]
        max_batch: usize,
        /// How long to wait for more requests after the first one of a batch (milliseconds;
        /// only while other requests are in flight).
        #[arg(long, default_value_t = 2)]
        batch_wait_ms: u64,
        /// Largest request body (bytes); larger ones get 413.
        #[arg(long, default_value_t = Limits::default().max_body_bytes)]
        max_body_bytes: usize,
        /// Most pairs per request; more get 413.
        #[arg(long, default_value_t = Limits::default().max_pairs)]
        max_pairs: usize,
        /// Most characters of text per record (all fields); more get 422.
        #[arg(long, default_value_t = Limits::default().max_text_chars)]
        max_text_chars: usize,
        /// After SIGTERM/Ctrl-C, seconds the requests in flight may still take.
        #[arg(long, default_value_t = 30)]
        shutdown_timeout_s: u64,
        /// Most pairs waiting for the model; requests past it get 503 with Retry-After at once
        /// [default: 2 x --max-batch].
        #[arg(long)]
        max_queue: Option<usize>,
        /// Answer 503 to a request not answered within this many milliseconds of being queued
        /// (instead of late) [default: no deadline].
        #[arg(long)]
        request_timeout_ms: Option<u64>,
        /// Most open client connections; more wait in the listen backlog.
        #[arg(long, default_value_t = ConnectionOptions::default().max_connections)]
        max_connections: usize,
        /// Milliseconds a client may take to send a request head, and a keep-alive connection
        /// may stay idle, before it is closed.
        #[arg(long, default_value_t = ConnectionOptions::default().header_timeout.as_millis() as u64)]
        header_timeout_ms: u64,
        /// Milliseconds a client may take to send a request body; 408 past it.
        #[arg(long, default_value_t = ConnectionOptions::default().body_timeout.as_millis() as u64)]
        body_timeout_ms: u64,
    },
    /// The main job on the embedded default: generate person-record pairs with typos, train,
    /// evaluate on a held-out test set and show a few predictions.
    Demo {
        /// Where the data and the model go.
        #[arg(long, default_value = "biome-demo")]
        output: PathBuf,
        /// Backend.
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
        /// Training pairs to generate.
        #[arg(long, default_value_t = 4000)]
        train_size: usize,
        /// Epochs.
        #[arg(long, default_value_t = 4)]
        epochs: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    biome_kernels::allocator::keep_freed_memory();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// What a command can fail with.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Biome(#[from] BiomeError),
    #[error(transparent)]
    Serve(biome::serve::ServeError),
}

fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Train {
            config,
            train,
            validation,
            output,
            device,
            seed,
            resume,
        } => {
            let mut config = PipelineConfig::from_file(&config)?;
            if let Some(s) = seed {
                config.trainer.seed = s;
            }
            let mut pipeline = Pipeline::from_config(config, device_from_name(&device)?)?;
            let summary = pipeline.train(&train, validation.as_deref(), &output, resume)?;
            println!(
                "{}",
                serde_json::to_string(&summary).expect("summary serializes")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate {
            model,
            data,
            device,
        } => {
            let pipeline = Pipeline::load(&model, device_from_name(&device)?)?;
            let metrics = pipeline.evaluate(&data)?;
            println!("{}", serde_json::to_string(&metrics).expect("metrics"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Predict {
            model,
            input,
            device,
        } => Ok(predict(&model, &input, &device)?),
        Command::Serve {
            model,
            device,
            host,
            port,
            max_batch,
            batch_wait_ms,
            max_body_bytes,
            max_pairs,
            max_text_chars,
            shutdown_timeout_s,
            max_queue,
            request_timeout_ms,
            max_connections,
            header_timeout_ms,
            body_timeout_ms,
        } => {
            let options = ServeOptions {
                device: device_from_name(&device)?,
                host,
                port,
                limits: Limits {
                    max_body_bytes,
                    max_pairs,
                    max_text_chars,
                },
                batching: BatchOptions {
                    max_batch,
                    batch_wait: Duration::from_millis(batch_wait_ms),
                    max_queue,
                    request_timeout: request_timeout_ms.map(Duration::from_millis),
                },
                connections: ConnectionOptions {
                    max_connections,
                    header_timeout: Duration::from_millis(header_timeout_ms),
                    body_timeout: Duration::from_millis(body_timeout_ms),
                },
                shutdown_timeout: Duration::from_secs(shutdown_timeout_s),
                ..ServeOptions::new(model)
            };
            biome::serve::run(options).map_err(CliError::Serve)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            output,
            device,
            train_size,
            epochs,
        } => Ok(demo(&output, &device, train_size, epochs)?),
    }
}

fn predict(model: &Path, input: &Path, device: &str) -> Result<ExitCode, BiomeError> {
    let pipeline = Pipeline::load(model, device_from_name(device)?)?;
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(input).map_err(|e| BiomeError::Io {
                path: input.to_path_buf(),
                source: e,
            })?,
        ))
    };
    let mut parsed: Vec<Result<PairExample, String>> = vec![];
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| BiomeError::Io {
            path: input.to_path_buf(),
            source: e,
        })?;
        if line.trim().is_empty() {
            parsed.push(Err("empty line".into()));
            continue;
        }
        parsed
            .push(biome::input::parse_pair_str(&line).map_err(|e| format!("line {}: {e}", i + 1)));
    }
    let good: Vec<PairExample> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut predictions = pipeline.predict_batch(&good)?.into_iter();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0;
    for (i, p) in parsed.iter().enumerate() {
        let json = match p {
            Ok(_) => {
                serde_json::to_string(&predictions.next().expect("one per pair")).expect("json")
            }
            Err(e) => {
                failed += 1;
                let msg = if e.starts_with("line ") {
                    e.clone()
                } else {
                    format!("line {}: {e}", i + 1)
                };
                eprintln!("error: {msg}");
                serde_json::json!({ "error": msg }).to_string()
            }
        };
        let _ = writeln!(out, "{json}");
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The shipped example configuration: multi-field person records, words plus characters
/// (characters keep the model working on names and numbers it never saw).
pub const DEMO_CONFIG: &str = include_str!("../../examples/configs/person_records.json");

fn demo(
    output: &Path,
    device: &str,
    train_size: usize,
    epochs: usize,
) -> Result<ExitCode, BiomeError> {
    let data_dir = output.join("data");
    let started = std::time::Instant::now();
    let [train, validation, test] = biome::demo::write_splits(
        &data_dir,
        (train_size, train_size / 4, train_size / 4),
        20261127,
    )
    .map_err(|e| BiomeError::Io {
        path: data_dir.clone(),
        source: e,
    })?;
    eprintln!("generated person-record pairs in {}", data_dir.display());
    let mut config =
        PipelineConfig::from_json_str(DEMO_CONFIG, "examples/configs/person_records.json")?;
    config.trainer.num_epochs = epochs;
    let model_dir = output.join("model");
    let mut pipeline = Pipeline::from_config(config, device_from_name(device)?)?;
    let summary = pipeline.train(&train, Some(&validation), &model_dir, false)?;
    eprintln!(
        "trained {} epochs (best: epoch {}) in {:.1}s; model in {}",
        summary.epochs_completed,
        summary.best_epoch,
        started.elapsed().as_secs_f64(),
        model_dir.display()
    );
    let examples = [
        (
            r#"{"given_name": "william", "surname": "thompson", "street_number": "12", "address": "kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}"#,
            r#"{"given_name": "bill", "surname": "thomspon", "street_number": "", "address": "12 kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}"#,
        ),
        (
            r#"{"given_name": "william", "surname": "thompson", "street_number": "12", "address": "kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "19840312"}"#,
            r#"{"given_name": "jessica", "surname": "thompson", "street_number": "12", "address": "kent road", "suburb": "geelong", "postcode": "3220", "state": "vic", "date_of_birth": "20010907"}"#,
        ),
        (
            r#"{"given_name": "herbert", "surname": "brandes", "street_number": "7", "address": "dorfstrasse", "suburb": "altona", "postcode": "3018", "state": "vic", "date_of_birth": "19500101"}"#,
            r#"{"given_name": "herb", "surname": "brandez", "street_number": "7", "address": "dorfstrase", "suburb": "altona", "postcode": "3018", "state": "vic", "date_of_birth": "19500101"}"#,
        ),
    ];
    println!("predictions:");
    for (a, b) in examples {
        let r1: Record = serde_json::from_str(a).expect("valid example");
        let r2: Record = serde_json::from_str(b).expect("valid example");
        let p = pipeline.predict(r1.clone(), r2.clone())?;
        println!(
            "  {} | {}\n    -> {} ({:.3})",
            r1.to_text(),
            r2.to_text(),
            p.max_class,
            p.max_class_prob
        );
    }
    let metrics = pipeline.evaluate(&test)?;
    println!(
        "test: accuracy {:.4}, duplicate/f1 {:.4}, average/f1 {:.4} ({:.1}s in all)",
        metrics["accuracy"],
        metrics.get("duplicate/f1").copied().unwrap_or(0.0),
        metrics["average/f1"],
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string(&metrics).expect("metrics"));
    Ok(ExitCode::SUCCESS)
}
