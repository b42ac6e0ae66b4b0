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
use biome::resolve::{BlockingRule, Clustering, NeighbourIndex, ResolveOptions, TableInput};
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
        /// Where to draw the match label's precision–recall curve (default:
        /// MODEL/pr_curve.svg, next to the training curve).
        #[arg(long)]
        curve: Option<PathBuf>,
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
        /// A record index written by `biome index` with this model: enables POST /match (one
        /// record -> its best candidates in the indexed table). Reloaded with the model.
        #[arg(long)]
        index: Option<PathBuf>,
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
    /// Find the records of one table that are the same entity: candidates from the model's
    /// nearest neighbours and --block-on rules, scored by the model, clustered. Writes
    /// pairs.csv, clusters.csv and summary.json into --output.
    Dedupe {
        /// The table (CSV, JSON lines or Parquet).
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        args: ResolveArgs,
    },
    /// Match each record of --right against the --left table. Writes pairs.csv, links.csv,
    /// clusters.csv and summary.json into --output.
    Link {
        /// The table matched against (CSV, JSON lines or Parquet).
        #[arg(long)]
        left: PathBuf,
        /// The table whose records are matched.
        #[arg(long)]
        right: PathBuf,
        /// Each record takes part in at most one link (the strongest first).
        #[arg(long)]
        one_to_one: bool,
        #[command(flatten)]
        args: ResolveArgs,
    },
    /// Write the model's vector of every record of a table as CSV (id, v0, v1, ...).
    Encode {
        #[command(flatten)]
        args: EncodeArgs,
    },
    /// Write the record index `serve --index` matches single records against (POST /match):
    /// every record's id and vector, under a fingerprint of the model, in one file.
    Index {
        #[command(flatten)]
        args: EncodeArgs,
    },
    /// Choose a model's match threshold again, on labelled pairs of your own: F1-best over
    /// the pairs plus the hard negatives a table would show; written to MODEL/threshold.json,
    /// which `dedupe` and `link` use.
    Threshold {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// Labelled pairs (CSV or JSONL) with the columns of the training mapping.
        #[arg(long)]
        data: PathBuf,
        /// Backend.
        #[arg(long, default_value_t = default_device_name().to_string())]
        device: String,
    },
    /// Write a generated table of person records with true entity ids (rec_id, entity_id and
    /// the demo's fields), for trying `dedupe` on data no model has seen.
    GenerateTable {
        /// Records.
        #[arg(long)]
        records: usize,
        /// The CSV file to write.
        #[arg(long)]
        output: PathBuf,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// What `encode` and `index` share: one table in, one file of record vectors out.
#[derive(clap::Args)]
struct EncodeArgs {
    /// Model folder.
    #[arg(long)]
    model: PathBuf,
    /// The table (CSV, JSON lines or Parquet).
    #[arg(long)]
    data: PathBuf,
    /// Column of unique record ids.
    #[arg(long)]
    id_column: String,
    /// Columns read as the model's fields, in order (default: the model's field names).
    #[arg(long, value_delimiter = ',')]
    fields: Option<Vec<String>>,
    /// The file to write (`encode`: CSV; `index`: the record index).
    #[arg(long)]
    output: PathBuf,
    /// Replace --output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Backend.
    #[arg(long, default_value_t = default_device_name().to_string())]
    device: String,
}

impl EncodeArgs {
    /// The table (no entity column) and the options of an encoding: default search and
    /// scoring settings.
    fn input(&self) -> (TableInput, ResolveOptions) {
        let input = TableInput {
            path: self.data.clone(),
            id_column: self.id_column.clone(),
            fields: self.fields.clone(),
            entity_column: None,
        };
        let options = ResolveOptions {
            overwrite: self.overwrite,
            ..ResolveOptions::default()
        };
        (input, options)
    }
}

/// What `dedupe` and `link` share.
#[derive(clap::Args)]
struct ResolveArgs {
    /// Model folder.
    #[arg(long)]
    model: PathBuf,
    /// Column of unique record ids.
    #[arg(long)]
    id_column: String,
    /// Columns read as the model's record fields, in order, comma-separated (default: the
    /// model's own field names, without their `record1_` prefix).
    #[arg(long, value_delimiter = ',')]
    fields: Option<Vec<String>>,
    /// Column of true entity ids: summary.json then has blocking recall, pair and cluster
    /// precision/recall/F1.
    #[arg(long)]
    entity_column: Option<String>,
    /// Nearest neighbours per record among the model's record vectors (0: none).
    #[arg(long, default_value_t = ResolveOptions::default().neighbours)]
    neighbours: usize,
    /// The neighbour search: `exact`, `approximate` (an inverted file over k-means cells), or
    /// `auto` (exact up to 10^9 record pairs, about 31,600 x 31,600 records; approximate above).
    #[arg(long, default_value = "auto")]
    neighbours_index: String,
    /// A blocking rule: records equal on all these columns are candidates (repeatable;
    /// `--block-on surname --block-on postcode,date_of_birth`).
    #[arg(long = "block-on")]
    block_on: Vec<String>,
    /// Blocks with more records are dropped (and reported).
    #[arg(long, default_value_t = ResolveOptions::default().max_block_size)]
    max_block_size: usize,
    /// Accept pairs with a match probability at least this (default: the model's stored
    /// F1-best threshold, else 0.5).
    #[arg(long)]
    threshold: Option<f32>,
    /// The label meaning "same entity" (needed unless the model has two labels, one named
    /// duplicate, match, 1 or true).
    #[arg(long)]
    match_label: Option<String>,
    /// Leave pairs below this probability out of pairs.csv.
    #[arg(long, default_value_t = ResolveOptions::default().report_floor)]
    report_floor: f32,
    /// `average` (merge clusters only when their mean cross-pair probability reaches the
    /// threshold: no chaining) or `components` (every accepted pair joins its clusters).
    #[arg(long, default_value = "average")]
    clustering: String,
    /// Output folder (written whole, or not at all).
    #[arg(long)]
    output: PathBuf,
    /// Replace --output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Backend.
    #[arg(long, default_value_t = default_device_name().to_string())]
    device: String,
}

impl ResolveArgs {
    fn options(&self, one_to_one: bool) -> Result<ResolveOptions, BiomeError> {
        let block_on = self
            .block_on
            .iter()
            .map(|spec| {
                BlockingRule::parse(spec).ok_or_else(|| {
                    BiomeError::Invalid(format!("--block-on {spec:?}: expected column[,column...]"))
                })
            })
            .collect::<Result<_, _>>()?;
        let clustering = Clustering::parse(&self.clustering).ok_or_else(|| {
            BiomeError::Invalid(format!(
                "--clustering {:?}: expected average or components",
                self.clustering
            ))
        })?;
        let neighbours_index = NeighbourIndex::parse(&self.neighbours_index).ok_or_else(|| {
            BiomeError::Invalid(format!(
                "--neighbours-index {:?}: expected exact, approximate or auto",
                self.neighbours_index
            ))
        })?;
        Ok(ResolveOptions {
            neighbours: self.neighbours,
            neighbours_index,
            block_on,
            max_block_size: self.max_block_size,
            threshold: self.threshold,
            match_label: self.match_label.clone(),
            report_floor: self.report_floor,
            clustering,
            one_to_one,
            overwrite: self.overwrite,
            ..ResolveOptions::default()
        })
    }

    fn table(&self, path: &Path) -> TableInput {
        TableInput {
            path: path.to_path_buf(),
            id_column: self.id_column.clone(),
            fields: self.fields.clone(),
            entity_column: self.entity_column.clone(),
        }
    }
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
            curve,
        } => Ok(evaluate(&model, &data, &device, curve)?),
        Command::Dedupe { data, args } => {
            let options = args.options(false)?;
            biome::resolve::dedupe(
                &args.model,
                device_from_name(&args.device)?,
                &args.table(&data),
                &options,
                &args.output,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Link {
            left,
            right,
            one_to_one,
            args,
        } => {
            let options = args.options(one_to_one)?;
            biome::resolve::link(
                &args.model,
                device_from_name(&args.device)?,
                &args.table(&left),
                &args.table(&right),
                &options,
                &args.output,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Encode { args } => {
            let (input, options) = args.input();
            let (n, dim) = biome::resolve::encode_table(
                &args.model,
                device_from_name(&args.device)?,
                &input,
                &options,
                &args.output,
            )?;
            eprintln!(
                "{n} record vectors of {dim} values in {}",
                args.output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Index { args } => {
            let (input, options) = args.input();
            let (n, dim) = biome::resolve::index_table(
                &args.model,
                device_from_name(&args.device)?,
                &input,
                &options,
                &args.output,
            )?;
            eprintln!(
                "index of {n} records ({dim} values each) in {}",
                args.output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Threshold {
            model,
            data,
            device,
        } => {
            let pipeline = Pipeline::load(&model, device_from_name(&device)?)?;
            let examples = pipeline.read(&data)?.examples;
            let t = pipeline.choose_threshold(&examples)?.ok_or_else(|| {
                BiomeError::Invalid(format!(
                    "{}: no threshold: the model's labels ({}) do not say which is a match, or no pair is one",
                    data.display(),
                    pipeline.labels().join(", ")
                ))
            })?;
            biome::threshold::write_stored(&model, &t)?;
            println!("{}", serde_json::to_string(&t).expect("threshold"));
            Ok(ExitCode::SUCCESS)
        }
        Command::GenerateTable {
            records,
            output,
            seed,
        } => {
            let rows = biome::demo::generate_table(records, seed);
            let partial = output.with_extension("csv.partial");
            biome::demo::write_table_csv(&partial, &rows)
                .and_then(|()| std::fs::rename(&partial, &output))
                .map_err(|e| BiomeError::Io {
                    path: output.clone(),
                    source: e,
                })?;
            eprintln!("{records} records in {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Predict {
            model,
            input,
            device,
        } => Ok(predict(&model, &input, &device)?),
        Command::Serve {
            model,
            index,
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
                index,
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

/// Metrics (and, for a model with a match label, the precision–recall curve and its F1-best
/// threshold: drawn as an SVG, and in the metrics as `<label>/best_f1` and
/// `<label>/best_f1_threshold`).
fn evaluate(
    model: &Path,
    data: &Path,
    device: &str,
    curve: Option<PathBuf>,
) -> Result<ExitCode, BiomeError> {
    let pipeline = Pipeline::load(model, device_from_name(device)?)?;
    let examples = pipeline.read(data)?.examples;
    let mut metrics = pipeline.evaluate_examples(&examples)?;
    if let Ok(index) = biome::match_label::match_label(&pipeline.labels(), None) {
        let label = &pipeline.labels()[index];
        let predictions = pipeline.predict_batch(&examples)?;
        let points = biome::threshold::curve(&predictions, &examples, label);
        if let Some(best) = biome::biome_models::best_f1_threshold(&points) {
            metrics.insert(format!("{label}/best_f1"), best.f1);
            metrics.insert(
                format!("{label}/best_f1_threshold"),
                f64::from(best.threshold),
            );
            eprintln!(
                "{label}: F1-best threshold {:.4} (P/R/F1 {:.4}/{:.4}/{:.4}); argmax F1 {:.4}",
                best.threshold,
                best.precision,
                best.recall,
                best.f1,
                metrics.get(&format!("{label}/f1")).copied().unwrap_or(0.0)
            );
        }
        // What dedupe/link will do with these pairs: accept at the threshold stored in training.
        if let Some(stored) = biome::threshold::read_stored(model)?
            && stored.label == *label
        {
            let point = biome::threshold::at(&predictions, &examples, label, stored.threshold);
            metrics.insert(
                format!("{label}/stored_threshold"),
                f64::from(stored.threshold),
            );
            metrics.insert(
                format!("{label}/stored_threshold_precision"),
                point.precision,
            );
            metrics.insert(format!("{label}/stored_threshold_recall"), point.recall);
            metrics.insert(format!("{label}/stored_threshold_f1"), point.f1);
            eprintln!(
                "{label}: at the stored threshold {:.4}, P/R/F1 {:.4}/{:.4}/{:.4}",
                stored.threshold, point.precision, point.recall, point.f1
            );
        }
        let svg = curve.unwrap_or_else(|| model.join("pr_curve.svg"));
        match biome::threshold::draw(&points, label, &svg) {
            Ok(()) => eprintln!("precision–recall curve in {}", svg.display()),
            Err(e) => eprintln!("precision–recall curve not drawn: {e}"),
        }
    }
    println!("{}", serde_json::to_string(&metrics).expect("metrics"));
    Ok(ExitCode::SUCCESS)
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
