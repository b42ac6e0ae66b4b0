//! `GET /metrics`: the server's metrics in the Prometheus text format (OpenMetrics 1.0, which
//! Prometheus scrapes natively), from the official `prometheus-client` crate.
//!
//! - `biome_predict_requests_total{status}`: `/predict` answers by HTTP status (503: refused by
//!   the queue bound or the request deadline; 408: body too slow).
//! - `biome_predict_duration_seconds`: time from the request head to the answer, all statuses.
//! - `biome_queue_pairs`, `biome_queue_max_pairs`: pairs waiting for the model, and the bound.
//! - `biome_batch_pairs`: pairs per model run. `biome_model_run_seconds`: one model run.
//! - `biome_in_flight_requests`, `biome_open_connections`.
//! - `biome_model_reloads_total{result}`: reloads that switched models (`ok`) or failed (`error`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `status` label of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

/// The `result` label of the reload counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

type IntGauge = Gauge<i64, std::sync::atomic::AtomicI64>;

/// The metrics, shared by the handlers and the batch workers. Gauges of state that lives
/// elsewhere (the queue, the connections) are set when `/metrics` is read.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabel, Counter<u64, AtomicU64>>,
    duration: Histogram,
    queue_pairs: IntGauge,
    queue_max: IntGauge,
    batch_pairs: Histogram,
    model_run: Histogram,
    in_flight: IntGauge,
    connections: IntGauge,
    reloads: Family<ResultLabel, Counter<u64, AtomicU64>>,
}

/// What the gauges show at a scrape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gauges {
    pub queue_pairs: usize,
    pub queue_max: usize,
    pub in_flight: u64,
    pub connections: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("biome");
        let requests = Family::<StatusLabel, Counter<u64, AtomicU64>>::default();
        registry.register(
            "predict_requests",
            "POST /predict answers by HTTP status",
            requests.clone(),
        );
        // 0.5 ms .. 16 s
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "predict_duration_seconds",
            "POST /predict: time from the request head to the answer",
            duration.clone(),
        );
        let queue_pairs = IntGauge::default();
        registry.register(
            "queue_pairs",
            "Pairs accepted and waiting for a model run",
            queue_pairs.clone(),
        );
        let queue_max = IntGauge::default();
        registry.register(
            "queue_max_pairs",
            "The queue bound (--max-queue); requests past it get 503",
            queue_max.clone(),
        );
        // 1 .. 4096 pairs
        let batch_pairs = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register("batch_pairs", "Pairs per model run", batch_pairs.clone());
        // 0.1 ms .. 3.3 s
        let model_run = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "model_run_seconds",
            "Time of one model run (predict_batch)",
            model_run.clone(),
        );
        let in_flight = IntGauge::default();
        registry.register(
            "in_flight_requests",
            "POST /predict requests being read, queued or answered",
            in_flight.clone(),
        );
        let connections = IntGauge::default();
        registry.register(
            "open_connections",
            "Open client connections (at most --max-connections)",
            connections.clone(),
        );
        let reloads = Family::<ResultLabel, Counter<u64, AtomicU64>>::default();
        registry.register(
            "model_reloads",
            "Model reloads (SIGHUP, POST /admin/reload) by result",
            reloads.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            queue_pairs,
            queue_max,
            batch_pairs,
            model_run,
            in_flight,
            connections,
            reloads,
        }
    }
}

impl Metrics {
    /// One `/predict` answer with `status` after `seconds`.
    pub(crate) fn answered(&self, status: u16, seconds: f64) {
        self.requests.get_or_create(&StatusLabel { status }).inc();
        self.duration.observe(seconds);
    }

    /// One model run over `pairs` pairs that took `seconds`.
    pub(crate) fn model_run(&self, pairs: usize, seconds: f64) {
        self.batch_pairs.observe(pairs as f64);
        self.model_run.observe(seconds);
    }

    /// One reload, switched (`ok`) or failed.
    pub(crate) fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// The text of `GET /metrics`, with the gauges set to `gauges`.
    pub(crate) fn render(&self, gauges: Gauges) -> String {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.queue_pairs.set(as_i64(gauges.queue_pairs as u64));
        self.queue_max.set(as_i64(gauges.queue_max as u64));
        self.in_flight.set(as_i64(gauges.in_flight));
        self.connections.set(as_i64(gauges.connections as u64));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The content type of `GET /metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.answered(200, 0.003);
        m.answered(200, 0.004);
        m.answered(503, 0.0001);
        m.model_run(7, 0.002);
        m.reload(false);
        let text = m.render(Gauges {
            queue_pairs: 5,
            queue_max: 512,
            in_flight: 3,
            connections: 2,
        });
        for line in [
            "biome_predict_requests_total{status=\"200\"} 2",
            "biome_predict_requests_total{status=\"503\"} 1",
            "biome_predict_duration_seconds_count 3",
            "biome_queue_pairs 5",
            "biome_queue_max_pairs 512",
            "biome_batch_pairs_bucket{le=\"8.0\"} 1",
            "biome_batch_pairs_bucket{le=\"4.0\"} 0",
            "biome_model_run_seconds_count 1",
            "biome_in_flight_requests 3",
            "biome_open_connections 2",
            "biome_model_reloads_total{result=\"error\"} 1",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
    }
}
