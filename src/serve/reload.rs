//! Model reload without downtime (SIGHUP, `POST /admin/reload`): the new archive is loaded by
//! a new batch worker beside the old one, which keeps serving meanwhile; once it has loaded,
//! new requests go to the new worker and the old one answers what it was sent, then stops.
//! Every request is sent to exactly one worker, so it is answered by exactly one model, and
//! none fails because of the switch. An archive that fails to load leaves the old model
//! serving; the error goes to the log and to `/health` (`last_reload_error`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};

use burn::prelude::Device;
use serde::Serialize;

use super::batcher::{BatchOptions, ModelInfo, Msg, Worker, WorkerHold};
use super::metrics::Metrics;
use super::stats::Stats;
use super::{Result, ServeError};

/// The model answering new requests: where to send them, and what `GET /model` shows.
pub(crate) struct Loaded {
    pub sender: mpsc::Sender<Msg>,
    pub info: ModelInfo,
    /// 1 for the model loaded at start, +1 per successful reload; sent as `X-Model-Generation`.
    pub generation: u64,
}

/// The model being served and its reloads.
pub(crate) struct Models {
    current: RwLock<Arc<Loaded>>,
    worker: Mutex<Option<Worker>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    model: PathBuf,
    /// The record index, loaded (and checked) again with the model on each reload.
    index: Option<PathBuf>,
    device: Device,
    batching: BatchOptions,
    stats: Arc<Stats>,
    metrics: Arc<Metrics>,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// What a successful reload reports (`POST /admin/reload`'s answer).
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    /// The model folder that was loaded.
    pub model: PathBuf,
    /// The new model's generation (see `X-Model-Generation`).
    pub generation: u64,
}

/// The reload counters `GET /health` shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReloadStatus {
    pub model_generation: u64,
    pub reloads: u64,
    pub failed_reloads: u64,
    pub last_reload_error: Option<String>,
}

impl Models {
    /// Load `model` and start its worker.
    pub fn load(
        model: PathBuf,
        index: Option<PathBuf>,
        device: Device,
        batching: BatchOptions,
        stats: Arc<Stats>,
        metrics: Arc<Metrics>,
    ) -> Result<Models> {
        let (worker, info) = Worker::spawn(
            &model,
            index.as_deref(),
            &device,
            batching,
            stats.clone(),
            metrics.clone(),
        )?;
        let loaded = Loaded {
            sender: worker.sender(),
            info,
            generation: 1,
        };
        Ok(Models {
            current: RwLock::new(Arc::new(loaded)),
            worker: Mutex::new(Some(worker)),
            reloading: tokio::sync::Mutex::new(()),
            model,
            index,
            device,
            batching,
            stats,
            metrics,
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The model answering new requests.
    pub fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Load the model folder again (its archive may have been replaced) beside the serving
    /// one, then switch. On an error the serving model stays, and the error is kept for
    /// `/health` and returned.
    pub async fn reload(self: &Arc<Self>) -> Result<Reloaded> {
        let _one_at_a_time = self.reloading.lock().await;
        let this = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            Worker::spawn(
                &this.model,
                this.index.as_deref(),
                &this.device,
                this.batching,
                this.stats.clone(),
                this.metrics.clone(),
            )
        })
        .await
        .map_err(|e| ServeError::Worker(format!("the model loader failed: {e}")))
        .and_then(|r| r);
        let (worker, info) = match loaded {
            Ok(x) => x,
            Err(e) => {
                let message = e.to_string();
                eprintln!(
                    "biome serve: reload of {} failed, still serving generation {}: {message}",
                    self.model.display(),
                    self.current().generation
                );
                *lock(&self.last_error) = Some(message);
                self.failed_reloads.fetch_add(1, Ordering::Relaxed);
                self.metrics.reload(false);
                return Err(e);
            }
        };
        let generation = self.current().generation + 1;
        let next = Arc::new(Loaded {
            sender: worker.sender(),
            info,
            generation,
        });
        // The switch: from here on handlers send to the new worker. The old worker's last
        // sender goes when the handlers that took it before the switch have sent their
        // requests; it answers them and stops.
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
        if let Some(old) = lock(&self.worker).replace(worker) {
            old.retire();
        }
        *lock(&self.last_error) = None;
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.metrics.reload(true);
        eprintln!(
            "biome serve: reloaded {}: now serving generation {generation}",
            self.model.display()
        );
        Ok(Reloaded {
            model: self.model.clone(),
            generation,
        })
    }

    /// The reload counters.
    pub fn status(&self) -> ReloadStatus {
        ReloadStatus {
            model_generation: self.current().generation,
            reloads: self.reloads.load(Ordering::Relaxed),
            failed_reloads: self.failed_reloads.load(Ordering::Relaxed),
            last_reload_error: lock(&self.last_error).clone(),
        }
    }

    /// Stop the serving model's worker between two batches (see [`WorkerHold`]).
    pub fn hold(&self) -> Result<WorkerHold> {
        super::batcher::hold(&self.current().sender)
    }

    /// Stop the serving worker after what it was sent, and wait for it (server shutdown).
    pub fn stop(&self) {
        let worker = lock(&self.worker).take();
        drop(worker);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
