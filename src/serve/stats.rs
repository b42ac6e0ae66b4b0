//! Counters of `biome serve`, shown by `GET /health`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;

/// Live counters, shared by the request handlers and the batch worker.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    in_flight: AtomicU64,
    requests: AtomicU64,
    pairs: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    refused: AtomicU64,
    batches: AtomicU64,
    batched_requests: AtomicU64,
    batched_pairs: AtomicU64,
    merged_batches: AtomicU64,
    largest_batch_pairs: AtomicU64,
    largest_batch_requests: AtomicU64,
}

/// The counters at one moment (the JSON of `GET /health`, less `status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Seconds since the model was loaded.
    pub uptime_s: f64,
    /// `/predict` requests being received or answered now.
    pub in_flight: u64,
    /// `/predict` requests answered with predictions.
    pub requests: u64,
    /// Pairs predicted for them.
    pub pairs: u64,
    /// `/predict` requests refused with a 4xx status.
    pub client_errors: u64,
    /// `/predict` requests that failed with a 5xx status other than 503.
    pub server_errors: u64,
    /// `/predict` requests refused with 503: the queue was full, the request deadline passed,
    /// or the server was shutting down.
    pub refused: u64,
    /// Model runs (`predict_batch` calls) of the batch worker.
    pub batches: u64,
    /// Batches that merged two or more requests.
    pub merged_batches: u64,
    /// Most pairs in one batch.
    pub largest_batch_pairs: u64,
    /// Most requests in one batch.
    pub largest_batch_requests: u64,
    /// Mean pairs per batch.
    pub average_batch_pairs: f64,
    /// Mean requests per batch.
    pub average_batch_requests: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            pairs: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            batched_requests: AtomicU64::new(0),
            batched_pairs: AtomicU64::new(0),
            merged_batches: AtomicU64::new(0),
            largest_batch_pairs: AtomicU64::new(0),
            largest_batch_requests: AtomicU64::new(0),
        }
    }
}

/// Counts one `/predict` request as in flight while it lives.
pub(crate) struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    /// A `/predict` request started (being read, validated, queued or answered) until the
    /// guard drops, whichever way the handler ends.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    /// `/predict` requests in flight now. The batch worker waits for more requests only while
    /// some are in flight beyond those it holds: a lone client is never kept waiting.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// One request answered with `pairs` predictions.
    pub(crate) fn answered(&self, pairs: usize) {
        self.requests.fetch_add(1, Relaxed);
        self.pairs.fetch_add(pairs as u64, Relaxed);
    }

    /// One request refused (4xx, 503) or failed (other 5xx).
    pub(crate) fn failed(&self, status: u16) {
        if status == 503 {
            self.refused.fetch_add(1, Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Relaxed);
        } else {
            self.client_errors.fetch_add(1, Relaxed);
        }
    }

    /// One model run over `requests` requests holding `pairs` pairs.
    pub(crate) fn batch(&self, requests: usize, pairs: usize) {
        self.batches.fetch_add(1, Relaxed);
        self.batched_requests.fetch_add(requests as u64, Relaxed);
        self.batched_pairs.fetch_add(pairs as u64, Relaxed);
        if requests > 1 {
            self.merged_batches.fetch_add(1, Relaxed);
        }
        self.largest_batch_pairs.fetch_max(pairs as u64, Relaxed);
        self.largest_batch_requests
            .fetch_max(requests as u64, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let batches = self.batches.load(Relaxed);
        let mean = |total: &AtomicU64| {
            if batches == 0 {
                0.0
            } else {
                total.load(Relaxed) as f64 / batches as f64
            }
        };
        StatsSnapshot {
            uptime_s: self.started.elapsed().as_secs_f64(),
            in_flight: self.in_flight(),
            requests: self.requests.load(Relaxed),
            pairs: self.pairs.load(Relaxed),
            client_errors: self.client_errors.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            refused: self.refused.load(Relaxed),
            batches,
            merged_batches: self.merged_batches.load(Relaxed),
            largest_batch_pairs: self.largest_batch_pairs.load(Relaxed),
            largest_batch_requests: self.largest_batch_requests.load(Relaxed),
            average_batch_pairs: mean(&self.batched_pairs),
            average_batch_requests: mean(&self.batched_requests),
        }
    }
}
