//! Every place where model or training code reads a tensor back to the host, counted by site.
//!
//! On a GPU backend each such read is a host synchronisation: the issuing thread waits until
//! the device has run everything queued before it, and the queue runs dry meanwhile. The
//! target for a train step is one (the loss); `biome-bench --count` reports these counters per
//! phase beside the kernel launches. A read site calls [`note`] right where it reads, with a
//! name that says which read it is; the counters are process-wide, since a step may run on
//! several threads.
//!
//! cubecl (0.11) has an observer for launches but none for reads, so this is counted on our
//! side: it sees the reads our crates make, including the ones burn makes on our behalf where
//! we know it does (an op that burn's cube backends run on the host), and nothing else.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Reads so far, by site. A mutex, not atomics: reads are a few per step, and each costs far
/// more than the lock.
static READS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Records one host read at `site` (a short name: "rnn: mask lengths").
pub fn note(site: &'static str) {
    let mut reads = READS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *reads.entry(site).or_default() += 1;
}

/// The counts so far, by site (every site read at least once since the process started).
pub fn snapshot() -> BTreeMap<&'static str, u64> {
    READS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The reads between two snapshots, by site (sites without a read in between left out).
pub fn since(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    after
        .iter()
        .filter_map(|(&site, &n)| {
            let d = n - before.get(site).copied().unwrap_or(0);
            (d > 0).then_some((site, d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_note_by_site_and_diffs_two_snapshots() {
        // Site names unique to this test: other tests of the crate may note reads in parallel.
        let before = snapshot();
        note("test: a");
        note("test: b");
        note("test: a");
        let d = since(&before, &snapshot());
        assert_eq!(d.get("test: a"), Some(&2));
        assert_eq!(d.get("test: b"), Some(&1));
        let again = snapshot();
        assert!(since(&again, &again).is_empty());
    }
}
