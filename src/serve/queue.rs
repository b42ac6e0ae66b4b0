//! Backpressure: the bound on pairs waiting for the model. A request handler reserves room for
//! its pairs before it queues them ([`QueueBudget::try_reserve`]); the reservation (a
//! [`Ticket`]) is given back when the pairs enter a model run, or when a queued request is
//! dropped. A request that finds no room is refused at once with 503 (see `routes`), so the
//! queue, its memory and the wait of the requests it holds stay bounded under any load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Pairs accepted and not yet in a model run, and their bound (`--max-queue`).
#[derive(Debug)]
pub struct QueueBudget {
    max_pairs: usize,
    queued: AtomicUsize,
}

/// No room in the queue for a request (answered with 503 and `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server is overloaded: {queued} pairs are waiting for the model, max_queue = {max}; \
     retry later"
)]
pub struct QueueFull {
    /// The bound, `--max-queue`.
    pub max: usize,
    /// Pairs waiting when the request came.
    pub queued: usize,
    /// Pairs in the refused request (0 when refused before its body was parsed).
    pub pairs: usize,
}

impl QueueBudget {
    /// A queue that holds at most `max_pairs` pairs (at least one request, whatever its size).
    pub fn new(max_pairs: usize) -> Arc<Self> {
        Arc::new(Self {
            max_pairs,
            queued: AtomicUsize::new(0),
        })
    }

    /// Reserve room for `pairs` pairs. An empty queue takes any request (one larger than the
    /// bound would otherwise never be served: `--max-pairs` bounds requests, this bounds the
    /// wait); a non-empty one takes it only if the total stays within the bound.
    pub fn try_reserve(self: &Arc<Self>, pairs: usize) -> Result<Ticket, QueueFull> {
        let mut queued = self.queued.load(Ordering::Relaxed);
        loop {
            if queued > 0 && queued + pairs > self.max_pairs {
                return Err(QueueFull {
                    max: self.max_pairs,
                    queued,
                    pairs,
                });
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + pairs,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(Ticket {
                        budget: self.clone(),
                        pairs,
                    });
                }
                Err(now) => queued = now,
            }
        }
    }

    /// Pairs waiting now.
    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max_pairs
    }

    /// The refusal of a request of unknown size while the queue is at its bound.
    pub fn full(&self) -> QueueFull {
        QueueFull {
            max: self.max_pairs,
            queued: self.depth(),
            pairs: 0,
        }
    }

    /// Whether the queue is at its bound (`/health` says `overloaded`).
    pub fn is_full(&self) -> bool {
        self.depth() >= self.max_pairs
    }
}

/// Room reserved for one request's pairs; dropping it gives the room back.
#[derive(Debug)]
pub struct Ticket {
    budget: Arc<QueueBudget>,
    pairs: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.budget.queued.fetch_sub(self.pairs, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_and_tickets_give_room_back() {
        let q = QueueBudget::new(10);
        let a = q.try_reserve(6).unwrap();
        let b = q.try_reserve(4).unwrap();
        assert_eq!((q.depth(), q.is_full()), (10, true));
        let e = q.try_reserve(1).unwrap_err();
        assert_eq!(
            e,
            QueueFull {
                max: 10,
                queued: 10,
                pairs: 1
            }
        );
        assert!(e.to_string().contains("max_queue = 10"), "{e}");
        drop(a);
        assert_eq!(q.depth(), 4);
        assert!(q.try_reserve(7).is_err());
        let c = q.try_reserve(6).unwrap();
        drop((b, c));
        assert_eq!(q.depth(), 0);
        // An empty queue takes a request over the bound, and then nothing else.
        let big = q.try_reserve(25).unwrap();
        assert!(q.try_reserve(1).is_err());
        drop(big);
        assert_eq!(q.depth(), 0);
    }

    #[test]
    fn concurrent_reservations_never_pass_the_bound() {
        let q = QueueBudget::new(64);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut held = vec![];
                    for i in 0..2000 {
                        if let Ok(t) = q.try_reserve(1 + i % 3) {
                            held.push(t);
                        }
                        assert!(q.depth() <= 64, "{}", q.depth());
                        if held.len() > 8 {
                            held.remove(0);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(q.depth(), 0);
    }
}
