//! `biome serve`: an HTTP/1.1 JSON server for a trained model, with dynamic batching.
//!
//! - `POST /predict`: one pair `{"record1": ..., "record2": ...}` or an array of pairs (the
//!   input of `biome predict`); answers one prediction or an array of them, in order.
//! - `POST /match` (with `--index`): one record `{"record": ..., "top_k": 10}` against the
//!   record index `biome index` wrote; answers its nearest indexed records scored by the
//!   model, best first ([`matcher`]). Without `--index`: 404.
//! - `GET /health`: `{"status": "ok", ...}` (`"overloaded"` while the queue is full) with
//!   request, batch, queue, connection and reload counters.
//! - `GET /model`: labels, configuration, archive format version and biome versions.
//! - `GET /metrics`: Prometheus text format ([`metrics`]).
//! - `POST /admin/reload` (loopback clients only) or SIGHUP: load the model folder again and
//!   switch to it without downtime ([`reload`]).
//!
//! One worker thread owns the model ([`batcher`]); request handlers validate their pairs
//! ([`body`], [`limits`]) and queue them, and the worker runs whatever has gathered as one
//! batch. The queue is bounded ([`queue`]): past `--max-queue` pairs a request is answered 503
//! with `Retry-After` at once, so the requests accepted stay fast under any load. Slow
//! clients are cut by the head and body timeouts, and open connections are capped
//! ([`connections`]). Errors are JSON with a 4xx/5xx status ([`response`]). SIGTERM or Ctrl-C
//! stops accepting connections, answers the requests in flight, then returns.
//!
//! ```no_run
//! use biome::serve::{Server, ServeOptions};
//!
//! let mut options = ServeOptions::new("model");
//! options.port = 0; // any free port
//! let server = Server::start(options)?;
//! println!("listening on http://{}", server.addr());
//! server.shutdown()?;
//! # Ok::<(), biome::serve::ServeError>(())
//! ```

pub mod batcher;
pub mod body;
pub mod connections;
pub mod limits;
pub mod matcher;
pub mod metrics;
pub mod queue;
pub mod reload;
pub mod response;
mod routes;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub use batcher::{BatchOptions, ModelInfo, WorkerHold};
pub use body::{BodyError, MatchRequest, PredictRequest, parse_body, parse_match_body};
pub use connections::ConnectionOptions;
pub use limits::{LimitError, Limits};
pub use matcher::{DEFAULT_TOP_K, IndexInfo, MAX_TOP_K, Match, MatchAnswer};
pub use reload::Reloaded;
pub use routes::MODEL_GENERATION;
pub use stats::StatsSnapshot;

use burn::prelude::Device;

use crate::error::BiomeError;
use connections::Slots;
use metrics::Metrics;
use queue::QueueBudget;
use reload::Models;
use routes::AppState;
use stats::Stats;

/// Everything `biome serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The model folder.
    pub model: PathBuf,
    /// The record index `POST /match` searches (`biome index` writes it); loaded and checked
    /// against the model at start and on each reload.
    pub index: Option<PathBuf>,
    /// The (plain) device the model runs on; [`crate::device_from_name`] reads a name.
    pub device: Device,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port; see [`Server::addr`]).
    pub port: u16,
    /// Request limits.
    pub limits: Limits,
    /// Batch forming, the queue bound and the request deadline.
    pub batching: BatchOptions,
    /// Guards on client connections: their number, the head and body timeouts.
    pub connections: ConnectionOptions,
    /// After a shutdown signal, how long requests in flight may take before the server stops
    /// anyway.
    pub shutdown_timeout: Duration,
    /// Stop on SIGTERM and Ctrl-C (the CLI); off for servers embedded in tests.
    pub handle_signals: bool,
}

impl ServeOptions {
    /// Defaults for `model`: the default device, 127.0.0.1:8000, default limits, batching and
    /// connection guards, 30 s shutdown timeout, no signal handling.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            index: None,
            device: crate::device::device_from_name(crate::device::default_device_name())
                .expect("the default device is compiled in"),
            host: "127.0.0.1".into(),
            port: 8000,
            limits: Limits::default(),
            batching: BatchOptions::default(),
            connections: ConnectionOptions::default(),
            shutdown_timeout: Duration::from_secs(30),
            handle_signals: false,
        }
    }
}

/// A failure to start or run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// `host:port`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// An option is out of range.
    #[error("{0}")]
    Option(String),
    /// The batch worker could not start or stopped.
    #[error("batch worker: {0}")]
    Worker(String),
    /// The runtime or a socket failed.
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] BiomeError),
}

/// Result with a [`ServeError`].
pub type Result<T> = std::result::Result<T, ServeError>;

/// The loaded model behind an axum [`Router`](axum::Router), without a socket: for embedding
/// the routes in another server or calling them in-process (tests). Dropping it stops the
/// batch worker after the requests it already has.
pub struct App {
    state: Arc<AppState>,
}

impl App {
    /// Load the model (errors here, before any port is bound) and start the batch worker.
    pub fn new(options: &ServeOptions) -> Result<App> {
        check_options(options)?;
        let stats = Arc::new(Stats::default());
        let metrics = Arc::new(Metrics::default());
        let models = Models::load(
            options.model.clone(),
            options.index.clone(),
            options.device.clone(),
            options.batching,
            stats.clone(),
            metrics.clone(),
        )?;
        let state = Arc::new(AppState {
            models: Arc::new(models),
            limits: options.limits,
            batching: options.batching,
            connections: options.connections,
            queue: QueueBudget::new(options.batching.max_queue()),
            slots: Arc::new(Slots::new(options.connections.max_connections)),
            stats,
            metrics,
        });
        Ok(App { state })
    }

    /// The routes, ready for `axum::serve` or `tower::ServiceExt::oneshot`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// What `GET /model` shows (of the model serving now).
    pub fn model_info(&self) -> ModelInfo {
        self.state.models.current().info.clone()
    }

    /// The counters `GET /health` shows.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot()
    }

    /// Stop the batch worker between two batches until the guard drops: requests queue
    /// meanwhile, up to `--max-queue`, and wait.
    pub fn hold_worker(&self) -> Result<WorkerHold> {
        self.state.models.hold()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // The router may outlive the app (it holds the state): stop the worker explicitly.
        self.state.models.stop();
    }
}

/// Refuse options out of range before anything is loaded.
fn check_options(options: &ServeOptions) -> Result<()> {
    let limits = options.limits;
    if limits.max_body_bytes == 0 || limits.max_pairs == 0 || limits.max_text_chars == 0 {
        return Err(ServeError::Option(
            "--max-body-bytes, --max-pairs and --max-text-chars must be at least 1".into(),
        ));
    }
    if options.batching.max_queue() == 0 {
        return Err(ServeError::Option("--max-queue must be at least 1".into()));
    }
    if options.batching.request_timeout == Some(Duration::ZERO) {
        return Err(ServeError::Option(
            "--request-timeout-ms must be at least 1 (leave it out for no deadline)".into(),
        ));
    }
    let c = options.connections;
    if !(1..=MAX_CONNECTIONS).contains(&c.max_connections) {
        return Err(ServeError::Option(format!(
            "--max-connections must be between 1 and {MAX_CONNECTIONS}"
        )));
    }
    if c.header_timeout.is_zero() || c.body_timeout.is_zero() {
        return Err(ServeError::Option(
            "--header-timeout-ms and --body-timeout-ms must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The largest `--max-connections` (each open connection costs a file descriptor and a task).
pub const MAX_CONNECTIONS: usize = 1 << 20;

/// A running server on its own threads (an HTTP runtime and the batch worker).
pub struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
    models: Arc<Models>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Server {
    /// Load the model, bind the address and serve in the background. Returns once the server
    /// accepts connections (and, with `handle_signals`, once signals are caught).
    pub fn start(options: ServeOptions) -> Result<Server> {
        let app = App::new(&options)?;
        let addr_text = format!("{}:{}", options.host, options.port);
        let listener = std::net::TcpListener::bind(&addr_text)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|source| ServeError::Bind {
                addr: addr_text.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(ServeError::Io)?;
        let stats = app.state.stats.clone();
        let models = app.state.models.clone();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("biome-serve".into())
            .spawn(move || serve(app, listener, stop_rx, ready_tx, options))
            .map_err(ServeError::Io)?;
        match ready_rx.recv() {
            Ok(()) => Ok(Server {
                addr,
                stats,
                models,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => ServeError::Worker("the server thread stopped while starting".into()),
            }),
        }
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters `GET /health` shows.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stop the batch worker between two batches until the guard drops (see
    /// [`App::hold_worker`]).
    pub fn hold_worker(&self) -> Result<WorkerHold> {
        self.models.hold()
    }

    /// Load the model folder again and switch to it (what SIGHUP and `POST /admin/reload`
    /// do); on an error the old model goes on serving. Blocks until done.
    pub fn reload(&self) -> Result<Reloaded> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(ServeError::Io)?;
        runtime.block_on(self.models.reload())
    }

    /// Stop gracefully: stop accepting, answer the requests in flight, stop the worker.
    pub fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join()
    }

    /// Block until the server stops (on a signal, with `handle_signals`).
    pub fn wait(mut self) -> Result<()> {
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError::Worker("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.join();
    }
}

/// The server thread: a tokio runtime serving `app` until `stop` (or a signal), then a
/// graceful shutdown bounded by `options.shutdown_timeout`, then the worker's stop.
fn serve(
    app: App,
    listener: std::net::TcpListener,
    stop: oneshot::Receiver<()>,
    ready: std::sync::mpsc::SyncSender<()>,
    options: ServeOptions,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("biome-http")
        .build()
        .map_err(ServeError::Io)?;
    let router = app.router();
    let (models, slots) = (app.state.models.clone(), app.state.slots.clone());
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Io)?;
        let signals = if options.handle_signals {
            Some(Signals::new().map_err(ServeError::Io)?)
        } else {
            None
        };
        let (stopping_tx, stopping_rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = stop => {}
                name = wait_stop_signal(signals, models) => {
                    eprintln!("biome serve: {name}: finishing the requests in flight, then exiting");
                }
            }
            let _ = stopping_tx.send(true);
        });
        let mut grace_rx = stopping_rx.clone();
        let server = connections::serve(listener, router, options.connections, slots, stopping_rx);
        let _ = ready.send(());
        let grace = async move {
            let _ = grace_rx.wait_for(|s| *s).await;
            tokio::time::sleep(options.shutdown_timeout).await;
        };
        tokio::select! {
            _ = server => {}
            _ = grace => eprintln!(
                "biome serve: requests still open after {:?}; exiting anyway",
                options.shutdown_timeout
            ),
        }
        Ok::<_, ServeError>(())
    });
    // Connections cut by a shutdown timeout go with the runtime; then the worker answers
    // whatever is still queued and stops (App's drop).
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(app);
    result
}

/// The OS signals the server handles: SIGTERM and SIGINT (Ctrl-C) stop it, SIGHUP reloads
/// the model. Registered before the server reports ready, so a signal sent right after start
/// is never lost.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }
}

/// Wait for a stop signal, reloading the model on each SIGHUP meanwhile (in the background:
/// a reload takes as long as a model load, and a stop signal must not wait for it).
async fn wait_stop_signal(signals: Option<Signals>, _models: Arc<Models>) -> &'static str {
    let Some(mut _signals) = signals else {
        return std::future::pending().await;
    };
    #[cfg(unix)]
    loop {
        tokio::select! {
            _ = _signals.term.recv() => return "SIGTERM",
            _ = _signals.interrupt.recv() => return "Ctrl-C",
            _ = _signals.hangup.recv() => {
                eprintln!("biome serve: SIGHUP: reloading the model");
                let models = _models.clone();
                // The outcome is logged and kept for /health by the reload itself.
                tokio::spawn(async move { let _ = models.reload().await; });
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// The `biome serve` command: start, print the address, serve until SIGTERM or Ctrl-C.
pub fn run(mut options: ServeOptions) -> Result<()> {
    options.handle_signals = true;
    let (model, device) = (
        options.model.clone(),
        crate::device::device_name(&options.device),
    );
    let server = Server::start(options)?;
    eprintln!(
        "biome serve: model {} on {device}; listening on http://{}",
        model.display(),
        server.addr()
    );
    server.wait()?;
    eprintln!("biome serve: stopped");
    Ok(())
}
