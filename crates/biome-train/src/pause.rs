//! Named pause points for fault tests.
//!
//! A crash can only be tested at an exact moment (between two renames of a checkpoint, between
//! the weights and the manifest of an archive) if the process can be stopped there on purpose:
//! a timer-based `kill -9` hits those microsecond windows almost never. With
//! `BIOME_TEST_PAUSE_AT=<name>` (or `<name>@<n>` for the n-th time the point is reached) the
//! process prints `biome: paused at <name>` on stderr and sleeps until it is killed, so a test
//! can send the real SIGKILL at that point. Without the variable a point costs one atomic load.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the point to pause at.
pub const ENV: &str = "BIOME_TEST_PAUSE_AT";

static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
static HITS: AtomicUsize = AtomicUsize::new(0);

fn target() -> &'static Option<(String, usize)> {
    TARGET.get_or_init(|| {
        let spec = std::env::var(ENV).ok()?;
        Some(match spec.split_once('@') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        })
    })
}

/// Pause forever here if `BIOME_TEST_PAUSE_AT` names this point (and this is its n-th hit).
pub(crate) fn point(name: &str) {
    let Some((wanted, nth)) = target() else {
        return;
    };
    if wanted != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "biome: paused at {name}");
    let _ = err.flush();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
