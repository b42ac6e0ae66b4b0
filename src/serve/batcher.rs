//! Dynamic batching: one worker thread owns the loaded [`Pipeline`] (so the pipeline need not
//! be `Send` or `Sync`); request handlers send it their validated pairs with a reply channel.
//! The worker takes the first waiting request, gathers whatever else arrives within the batch
//! window (up to `max_batch` pairs; it waits only while other requests are in flight, so a lone
//! client never waits), runs one `predict_batch` over all of it and splits the predictions
//! back. Under load, requests queue while a batch runs, so batches grow with load
//! and the model runs fewer, larger batches. How many pairs may wait is bounded by the
//! handlers ([`super::queue`]); a request's room in the queue is given back when its pairs
//! enter a model run.
//!
//! A worker stops on [`Msg::Stop`] (server shutdown), or, when a reload retired it, once every
//! sender is gone and it has answered everything they sent.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use biome_core::{PairExample, Record};
use biome_models::Prediction;
use burn::prelude::Device;
use serde::Serialize;
use tokio::sync::oneshot;

use super::matcher::{IndexInfo, Match, Matcher};
use super::metrics::Metrics;
use super::queue::Ticket;
use super::stats::Stats;
use super::{Result, ServeError};
use crate::archive;
use crate::error::BiomeError;
use crate::pipeline::Pipeline;

/// How the worker forms batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most pairs in one model run (`--max-batch`); a request with more runs alone.
    pub max_batch: usize,
    /// How long the worker waits for more requests after the first one arrived
    /// (`--batch-wait-ms`), while other requests are in flight.
    pub batch_wait: Duration,
    /// Most pairs waiting for the model (`--max-queue`); a request past it is answered 503 at
    /// once. `None`: [`BatchOptions::default_max_queue`].
    pub max_queue: Option<usize>,
    /// Longest a request may wait for its answer once queued (`--request-timeout-ms`); past
    /// it the request is answered 503 instead of late, and skipped by the worker if it has not
    /// run yet. `None`: no deadline.
    pub request_timeout: Option<Duration>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            batch_wait: Duration::from_millis(2),
            max_queue: None,
            request_timeout: None,
        }
    }
}

impl BatchOptions {
    /// The default queue bound: two full batches. On the demo model with 2 cores large
    /// batches take about 0.25 ms per pair (BENCHMARKS.md: 139-pair batches every 34 ms under
    /// 640 connections), so a 256-pair batch about 60 ms, and a request accepted into a full
    /// queue waits about two model runs before its own; a deeper queue would only add latency
    /// to every accepted request without adding throughput, which the batch size sets.
    pub fn default_max_queue(&self) -> usize {
        2 * self.max_batch
    }

    /// `max_queue` or its default.
    pub fn max_queue(&self) -> usize {
        self.max_queue.unwrap_or_else(|| self.default_max_queue())
    }
}

/// What `GET /model` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The model folder.
    pub model: PathBuf,
    /// The backend it runs on.
    pub device: String,
    /// Label names in class order.
    pub labels: Vec<String>,
    /// The archive's format version.
    pub format_version: u32,
    /// The biome version that wrote the archive.
    pub model_biome_version: String,
    /// This server's biome version.
    pub biome_version: String,
    /// The pipeline configuration (data, model, trainer).
    pub config: serde_json::Value,
    /// The record index `POST /match` searches (`--index`), if any.
    pub index: Option<IndexInfo>,
}

/// A reply to one request: its predictions in order, or a message for a 500.
pub(crate) type Reply = std::result::Result<Vec<Prediction>, String>;

/// One request's pairs and where its answer goes.
pub(crate) struct Job {
    pub pairs: Vec<PairExample>,
    pub reply: oneshot::Sender<Reply>,
    /// The request's room in the queue, given back when its pairs enter a model run.
    pub ticket: Option<Ticket>,
}

/// One `/match` request: a record, how many candidates, where the answer goes.
pub(crate) struct MatchJob {
    pub record: Record,
    pub top_k: usize,
    pub reply: oneshot::Sender<MatchReply>,
    /// The request's room in the queue (one record), given back when it runs.
    pub ticket: Option<Ticket>,
}

/// A reply to one `/match` request: its candidates, or a message for a 500.
pub(crate) type MatchReply = std::result::Result<Vec<Match>, String>;

pub(crate) enum Msg {
    Job(Job),
    /// A `/match` request: run alone, between two batches.
    Match(MatchJob),
    /// Stop between two batches until told to go on (see [`WorkerHold`]).
    Hold(Hold),
    /// Answer everything sent before, then exit.
    Stop,
}

/// A worker's stop between batches: it says when it has stopped, then waits until the
/// [`WorkerHold`] drops.
pub(crate) struct Hold {
    held: mpsc::SyncSender<()>,
    resume: mpsc::Receiver<()>,
}

impl Hold {
    fn wait(self) {
        let _ = self.held.send(());
        // Err once the guard drops: go on.
        let _ = self.resume.recv();
    }
}

/// While this lives, the batch worker runs no model: requests queue (up to `--max-queue`) and
/// wait. For maintenance pauses and for tests of the queue bound and the request deadline.
#[derive(Debug)]
pub struct WorkerHold {
    _resume: mpsc::SyncSender<()>,
}

/// Stop the worker behind `sender` between two batches; returns once it has stopped.
pub(crate) fn hold(sender: &mpsc::Sender<Msg>) -> Result<WorkerHold> {
    let (held_tx, held_rx) = mpsc::sync_channel(1);
    let (resume_tx, resume_rx) = mpsc::sync_channel(1);
    let stopped = || ServeError::Worker("the batch worker has stopped".into());
    sender
        .send(Msg::Hold(Hold {
            held: held_tx,
            resume: resume_rx,
        }))
        .map_err(|_| stopped())?;
    held_rx.recv().map_err(|_| stopped())?;
    Ok(WorkerHold { _resume: resume_tx })
}

/// The worker thread and the sending side of its queue. Dropping it stops the worker after
/// the requests already queued and waits for it; [`Worker::retire`] lets it finish in the
/// background instead.
pub(crate) struct Worker {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the worker: it loads the model in its own thread and reports load errors here.
    pub fn spawn(
        model: &Path,
        index: Option<&Path>,
        device: &Device,
        options: BatchOptions,
        stats: Arc<Stats>,
        metrics: Arc<Metrics>,
    ) -> Result<(Worker, ModelInfo)> {
        if options.max_batch == 0 {
            return Err(ServeError::Option("--max-batch must be at least 1".into()));
        }
        let manifest = archive::read_manifest(model).map_err(BiomeError::from)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<ModelInfo>>(1);
        let (dir, device) = (model.to_path_buf(), device.clone());
        let index = index.map(Path::to_path_buf);
        let thread = std::thread::Builder::new()
            .name("biome-batcher".into())
            .spawn(move || {
                let device_name = crate::device::device_name(&device).to_string();
                let pipeline = match Pipeline::load(&dir, device) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                // The index is checked against the model just loaded (and reloaded with it).
                let matcher = match index.as_deref().map(|i| Matcher::load(i, &dir, &pipeline)) {
                    Some(Err(e)) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                    Some(Ok(m)) => Some(m),
                    None => None,
                };
                let config = serde_json::from_str(&pipeline.config().to_json())
                    .unwrap_or(serde_json::Value::Null);
                let info = ModelInfo {
                    model: dir,
                    device: device_name,
                    labels: pipeline.labels(),
                    format_version: manifest.format_version,
                    model_biome_version: manifest.biome_version,
                    biome_version: env!("CARGO_PKG_VERSION").into(),
                    config,
                    index: matcher.as_ref().map(|m| m.info.clone()),
                };
                if ready_tx.send(Ok(info)).is_ok() {
                    let worker = Owned { pipeline, matcher };
                    run(&worker, &rx, options, &stats, &metrics);
                }
            })
            .map_err(ServeError::Io)?;
        let info = match ready_rx.recv() {
            Ok(r) => r?,
            Err(_) => {
                let _ = thread.join();
                return Err(ServeError::Worker("the model loader stopped".into()));
            }
        };
        Ok((
            Worker {
                tx: Some(tx),
                thread: Some(thread),
            },
            info,
        ))
    }

    /// A sender for request handlers.
    pub fn sender(&self) -> mpsc::Sender<Msg> {
        self.tx.clone().expect("a running worker has its sender")
    }

    /// Let the worker answer everything its senders send, and stop once the last sender is
    /// gone (a reload replaced it); joined in the background.
    pub fn retire(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = std::thread::Builder::new()
                .name("biome-retire".into())
                .spawn(move || {
                    let _ = t.join();
                });
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the worker thread owns.
struct Owned {
    pipeline: Pipeline,
    matcher: Option<Matcher>,
}

/// The worker loop: batch, run, answer; until `Stop` or every sender is gone. A `/match`
/// request runs alone, after the batch that was forming when it arrived.
fn run(
    owned: &Owned,
    rx: &mpsc::Receiver<Msg>,
    options: BatchOptions,
    stats: &Stats,
    metrics: &Metrics,
) {
    let pipeline = &owned.pipeline;
    let mut pending: Option<Job> = None;
    let mut pending_match: Option<MatchJob> = None;
    let mut held: Option<Hold> = None;
    let mut stopping = false;
    loop {
        if let Some(hold) = held.take() {
            hold.wait();
        }
        if let Some(job) = pending_match.take() {
            run_match(owned, job, metrics);
            continue;
        }
        let first = match pending.take() {
            Some(job) => job,
            None if stopping => return,
            None => match rx.recv() {
                Ok(Msg::Job(job)) => job,
                Ok(Msg::Match(job)) => {
                    pending_match = Some(job);
                    continue;
                }
                Ok(Msg::Hold(hold)) => {
                    held = Some(hold);
                    continue;
                }
                Ok(Msg::Stop) | Err(_) => return,
            },
        };
        let mut jobs = vec![first];
        let mut size = jobs[0].pairs.len();
        let deadline = Instant::now() + options.batch_wait;
        while size < options.max_batch && !stopping {
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    // Wait only for requests that are on their way: with none in flight
                    // beyond this batch's, waiting would only add latency.
                    if now >= deadline || stats.in_flight() <= jobs.len() as u64 {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(msg) => msg,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            stopping = true;
                            break;
                        }
                    }
                }
            };
            match msg {
                Msg::Stop => stopping = true,
                Msg::Match(job) => {
                    // This batch first, then the match.
                    pending_match = Some(job);
                    break;
                }
                Msg::Hold(hold) => {
                    // This batch first, then the hold.
                    held = Some(hold);
                    break;
                }
                Msg::Job(job) if size + job.pairs.len() > options.max_batch => {
                    pending = Some(job);
                    break;
                }
                Msg::Job(job) => {
                    size += job.pairs.len();
                    jobs.push(job);
                }
            }
        }
        // Clients that went away need no answer.
        jobs.retain(|j| !j.reply.is_closed());
        if !jobs.is_empty() {
            run_batch(pipeline, jobs, stats, metrics);
        }
    }
}

/// One `/match` request: encode, search, score; a panic or an error is a 500 message.
fn run_match(owned: &Owned, mut job: MatchJob, metrics: &Metrics) {
    job.ticket = None;
    if job.reply.is_closed() {
        return;
    }
    let started = Instant::now();
    let answer = match &owned.matcher {
        None => Err("this server has no index: start it with --index".to_string()),
        Some(matcher) => match catch_unwind(AssertUnwindSafe(|| {
            matcher.find(&owned.pipeline, &job.record, job.top_k)
        })) {
            Ok(Ok(matches)) => Ok(matches),
            Ok(Err(e)) => Err(format!("matching failed: {e}")),
            Err(_) => Err("matching failed: the model panicked".into()),
        },
    };
    metrics.model_run(1, started.elapsed().as_secs_f64());
    let _ = job.reply.send(answer);
}

/// One model run over several requests. If it fails, each request is retried alone so that
/// one bad request cannot fail the others; a request that still fails gets a 500 message.
fn run_batch(pipeline: &Pipeline, mut jobs: Vec<Job>, stats: &Stats, metrics: &Metrics) {
    // These pairs leave the queue: room for new requests.
    for job in &mut jobs {
        job.ticket = None;
    }
    let sizes: Vec<usize> = jobs.iter().map(|j| j.pairs.len()).collect();
    let pairs: Vec<PairExample> = jobs
        .iter_mut()
        .flat_map(|j| std::mem::take(&mut j.pairs))
        .collect();
    stats.batch(jobs.len(), pairs.len());
    let started = Instant::now();
    let result = predict(pipeline, &pairs);
    metrics.model_run(pairs.len(), started.elapsed().as_secs_f64());
    match result {
        Ok(predictions) => {
            let mut predictions = predictions.into_iter();
            for (job, n) in jobs.into_iter().zip(sizes) {
                let _ = job.reply.send(Ok(predictions.by_ref().take(n).collect()));
            }
        }
        Err(message) if jobs.len() == 1 => {
            let _ = jobs.pop().expect("one job").reply.send(Err(message));
        }
        Err(_) => {
            let mut pairs = pairs.into_iter();
            for (mut job, n) in jobs.into_iter().zip(sizes) {
                job.pairs = pairs.by_ref().take(n).collect();
                run_batch(pipeline, vec![job], stats, metrics);
            }
        }
    }
}

/// `predict_batch`, with a panic turned into an error (the worker must outlive any input).
fn predict(
    pipeline: &Pipeline,
    pairs: &[PairExample],
) -> std::result::Result<Vec<Prediction>, String> {
    match catch_unwind(AssertUnwindSafe(|| pipeline.predict_batch(pairs))) {
        Ok(Ok(p)) if p.len() == pairs.len() => Ok(p),
        Ok(Ok(p)) => Err(format!(
            "the model returned {} predictions for {} pairs",
            p.len(),
            pairs.len()
        )),
        Ok(Err(e)) => Err(format!("prediction failed: {e}")),
        Err(_) => Err("prediction failed: the model panicked".into()),
    }
}
