//! `--count`: kernel launches and host reads per phase of a train step and an inference batch.
//!
//! Launches are counted by cubecl's launch observer (`cubecl::logging::LaunchObserver`), which
//! cubecl calls on the issuing thread for every kernel it submits — fused or not, ours or
//! burn's — so it exists only in a build with the `wgpu` feature and counts only on a cubecl
//! device. cubecl has no such hook for reads, so host reads are the library's own counters
//! (`biome_kernels::host_reads`, one per read site). These counts do not depend on the GPU:
//! lavapipe gives the figures an H200 would.
//!
//! The bench's own barrier after each phase (`Device::sync`, so that a fusing backend has run
//! the phase's kernels before they are counted) is not a host read of the model and is not
//! counted.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Counts since the last [`Counter::take`], for one phase.
pub(crate) struct Counter {
    #[cfg(feature = "wgpu-base")]
    launches: Option<launches::Watch>,
    reads: BTreeMap<&'static str, u64>,
}

impl Counter {
    /// Starts counting; kernel launches only where `device_name` is a cubecl device.
    pub(crate) fn start(device_name: &str) -> Self {
        #[cfg(not(feature = "wgpu-base"))]
        let _ = device_name;
        Self {
            #[cfg(feature = "wgpu-base")]
            launches: (device_name == "wgpu").then(launches::Watch::start),
            reads: biome_kernels::host_reads::snapshot(),
        }
    }

    /// `{"launches": n or null, "kernels": {name: n}, "host_reads": n, "reads": {site: n}}`
    /// since the start or the last call.
    pub(crate) fn take(&mut self) -> Value {
        let now = biome_kernels::host_reads::snapshot();
        let reads = biome_kernels::host_reads::since(&self.reads, &now);
        self.reads = now;
        #[cfg(feature = "wgpu-base")]
        let (launches, kernels) = match &self.launches {
            Some(watch) => {
                let by_kernel = watch.take();
                (json!(by_kernel.values().sum::<u64>()), json!(by_kernel))
            }
            None => (Value::Null, json!({})),
        };
        #[cfg(not(feature = "wgpu-base"))]
        let (launches, kernels) = (Value::Null, json!({}));
        json!({
            "launches": launches,
            "kernels": kernels,
            "host_reads": reads.values().sum::<u64>(),
            "reads": reads,
        })
    }
}

/// One line: `fwd 812 / bwd 1530 / opt 96 launches, host reads 2 (rnn: mask lengths 1, ...)`.
pub(crate) fn summary(phases: &[(&str, &Value)]) -> String {
    let launches: Vec<String> = phases
        .iter()
        .map(|(name, c)| match c["launches"].as_u64() {
            Some(n) => format!("{name} {n}"),
            None => format!("{name} -"),
        })
        .collect();
    let mut reads: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in phases {
        if let Some(sites) = c["reads"].as_object() {
            for (site, n) in sites {
                *reads.entry(site.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
    }
    let total: u64 = reads.values().sum();
    let sites: Vec<String> = reads.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!(
        "launches {} | host reads {total}{}",
        launches.join(" / "),
        if sites.is_empty() {
            String::new()
        } else {
            format!(" ({})", sites.join(", "))
        }
    )
}

#[cfg(feature = "wgpu-base")]
mod launches {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use burn::cubecl::config::{TypeNameFormatLevel, type_name_format};
    use burn::cubecl::logging::{LaunchObservation, LaunchObserver};

    /// Launches by kernel name (as the kernel names itself).
    #[derive(Default)]
    struct ByKernel(Mutex<BTreeMap<&'static str, u64>>);

    impl LaunchObserver for ByKernel {
        fn launched(&self, kernel: &'static str) {
            let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
            *counts.entry(kernel).or_default() += 1;
        }
    }

    /// The installed observer; dropping it uninstalls it.
    pub(super) struct Watch {
        counts: Arc<ByKernel>,
        _installed: LaunchObservation,
    }

    impl Watch {
        pub(super) fn start() -> Self {
            let counts = Arc::new(ByKernel::default());
            let installed = LaunchObservation::new(counts.clone());
            Self {
                counts,
                _installed: installed,
            }
        }

        /// Launches since the last call, by short kernel name.
        pub(super) fn take(&self) -> BTreeMap<String, u64> {
            let taken =
                std::mem::take(&mut *self.counts.0.lock().unwrap_or_else(|p| p.into_inner()));
            let mut out = BTreeMap::new();
            for (name, n) in taken {
                *out.entry(type_name_format(name, TypeNameFormatLevel::Balanced))
                    .or_default() += n;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_adds_the_reads_of_all_phases_by_site() {
        let fwd = json!({"launches": 7, "kernels": {}, "host_reads": 2,
                         "reads": {"rnn: mask lengths": 2}});
        let bwd = json!({"launches": 11, "kernels": {}, "host_reads": 0, "reads": {}});
        let read = json!({"launches": null, "kernels": {}, "host_reads": 1,
                          "reads": {"train: loss": 1, "rnn: mask lengths": 1}});
        assert_eq!(
            summary(&[("fwd", &fwd), ("bwd", &bwd), ("read", &read)]),
            "launches fwd 7 / bwd 11 / read - | host reads 4 (rnn: mask lengths 3, train: loss 1)"
        );
    }

    #[test]
    fn a_counter_sees_the_reads_noted_after_it_started_and_not_before() {
        biome_kernels::host_reads::note("counts test: before");
        let mut counter = Counter::start("flex");
        biome_kernels::host_reads::note("counts test: during");
        let c = counter.take();
        assert_eq!(c["reads"]["counts test: during"], json!(1));
        assert!(c["reads"].get("counts test: before").is_none());
        // Not a cubecl device: no launch count, rather than a zero.
        assert!(c["launches"].is_null());
        assert!(counter.take()["reads"].get("counts test: during").is_none());
    }
}
