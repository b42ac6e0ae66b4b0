//! `biome serve`: an HTTP/1.1 JSON server for a trained model, with dynamic batching.
//!
//! - `POST /predict`: one pair `{"record1": ..., "record2": ...}` or an array of pairs (the
//!   input of `biome predict`); answers one prediction or an array of them, in order.
//! - `GET /health`: `{"status": "ok", ...}` with request and batch counters.
//! - `GET /model`: labels, configuration, archive format version and biome versions.
//!
//! One worker thread owns the model ([`batcher`]); request handlers validate their pairs
//! ([`body`], [`limits`]) and queue them, and the worker runs whatever has gathered as one
//! batch. Errors are JSON with a 4xx/5xx status ([`response`]). SIGTERM or Ctrl-C stops
//! accepting connections, answers the requests in flight, then returns.
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
pub mod limits;
pub mod response;
mod routes;
pub mod stats;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub use batcher::{BatchOptions, ModelInfo};
pub use body::{BodyError, PredictRequest, parse_body};
pub use limits::{LimitError, Limits};
pub use stats::StatsSnapshot;

use burn::prelude::Device;

use crate::error::BiomeError;
use batcher::Worker;
use routes::AppState;
use stats::Stats;

/// Everything `biome serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The model folder.
    pub model: PathBuf,
    /// The (plain) device the model runs on; [`crate::device_from_name`] reads a name.
    pub device: Device,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port; see [`Server::addr`]).
    pub port: u16,
    /// Request limits.
    pub limits: Limits,
    /// Batch forming.
    pub batching: BatchOptions,
    /// After a shutdown signal, how long requests in flight may take before the server stops
    /// anyway.
    pub shutdown_timeout: Duration,
    /// Stop on SIGTERM and Ctrl-C (the CLI); off for servers embedded in tests.
    pub handle_signals: bool,
}

impl ServeOptions {
    /// Defaults for `model`: the default device, 127.0.0.1:8000, default limits and batching,
    /// 30 s shutdown timeout, no signal handling.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            device: crate::device::device_from_name(crate::device::default_device_name())
                .expect("the default device is compiled in"),
            host: "127.0.0.1".into(),
            port: 8000,
            limits: Limits::default(),
            batching: BatchOptions::default(),
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
    // Dropped after `state`'s last use: stops and joins the worker.
    _worker: Worker,
}

impl App {
    /// Load the model (errors here, before any port is bound) and start the batch worker.
    pub fn new(options: &ServeOptions) -> Result<App> {
        let limits = options.limits;
        if limits.max_body_bytes == 0 || limits.max_pairs == 0 || limits.max_text_chars == 0 {
            return Err(ServeError::Option(
                "--max-body-bytes, --max-pairs and --max-text-chars must be at least 1".into(),
            ));
        }
        let stats = Arc::new(Stats::default());
        let (worker, info) = Worker::spawn(
            &options.model,
            &options.device,
            options.batching,
            stats.clone(),
        )?;
        let state = Arc::new(AppState {
            worker: worker.sender(),
            info,
            limits,
            stats,
        });
        Ok(App {
            state,
            _worker: worker,
        })
    }

    /// The routes, ready for `axum::serve` or `tower::ServiceExt::oneshot`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// What `GET /model` shows.
    pub fn model_info(&self) -> &ModelInfo {
        &self.state.info
    }

    /// The counters `GET /health` shows.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot()
    }
}

/// A running server on its own threads (an HTTP runtime and the batch worker).
pub struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
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
                name = wait_signal(signals) => {
                    eprintln!("biome serve: {name}: finishing the requests in flight, then exiting");
                }
            }
            let _ = stopping_tx.send(true);
        });
        let mut grace_rx = stopping_rx.clone();
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(stopped(stopping_rx))
            .into_future();
        let _ = ready.send(());
        let grace = async move {
            let _ = grace_rx.wait_for(|s| *s).await;
            tokio::time::sleep(options.shutdown_timeout).await;
        };
        tokio::select! {
            r = server => r.map_err(ServeError::Io)?,
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

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The OS signals that stop the server: SIGTERM and SIGINT (Ctrl-C). Registered before the
/// server reports ready, so a signal sent right after start is never lost.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }
}

async fn wait_signal(signals: Option<Signals>) -> &'static str {
    let Some(mut _signals) = signals else {
        return std::future::pending().await;
    };
    #[cfg(unix)]
    {
        tokio::select! {
            _ = _signals.term.recv() => "SIGTERM",
            _ = _signals.interrupt.recv() => "Ctrl-C",
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
