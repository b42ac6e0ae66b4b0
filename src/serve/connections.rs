//! The accept loop: HTTP/1.1 connections served by hyper's connection builder, with the
//! guards against slow and hostile clients that `axum::serve` does not expose.
//!
//! - **Connection cap** (`--max-connections`): a connection is accepted only with a free slot
//!   (a semaphore permit, held until the connection closes); past the cap, new connections wait
//!   in the kernel's listen backlog, and the open ones are never slowed.
//! - **Head timeout** (`--header-timeout-ms`, hyper's `header_read_timeout`): a client must
//!   send a whole request head within it, or the connection is closed. The timer also runs
//!   while a keep-alive connection waits for its next request, so idle connections are closed
//!   after the same time.
//! - **Body timeout** (`--body-timeout-ms`): applied by the `/predict` handler (408).
//!
//! None of this touches the batch worker: a slow client holds a connection task, never the
//! model, and the model sees a request only once its whole body is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Guards on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// Most open client connections (`--max-connections`).
    pub max_connections: usize,
    /// Longest a client may take to send a request head, and longest a keep-alive connection
    /// may stay idle (`--header-timeout-ms`).
    pub header_timeout: Duration,
    /// Longest a client may take to send a request body (`--body-timeout-ms`); 408 past it.
    pub body_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The open-connection slots, shared with `/metrics`.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl Slots {
    pub fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.semaphore.available_permits()
    }
}

/// Accept and serve connections until `stopping` turns true; then stop accepting (the
/// listener closes), let each connection finish its request in flight, and return once all
/// are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    options: ConnectionOptions,
    slots: Arc<Slots>,
    stopping: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    let mut stop = stopping.clone();
    loop {
        let permit = tokio::select! {
            permit = slots.semaphore.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // Who is asking: `/admin/reload` answers loopback clients only.
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(axum::body::Body::new);
            let router = router.clone();
            // The router never fails (`Infallible`): every error is a response.
            async move { router.oneshot(request).await }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut stop = stopping.clone();
        tokio::spawn(async move {
            let _slot = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
            }
            // Shutting down: finish the request in flight, then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    // Every slot back: every connection closed.
    let _ = slots.semaphore.acquire_many(slots.max as u32).await;
}

/// An accept error: a connection that failed before it was accepted is skipped; anything else
/// (out of file descriptors) is waited out, as `axum::serve` does.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if !matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        eprintln!("biome serve: accept failed ({e}); retrying in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether `peer` may use the admin routes: loopback only.
pub(crate) fn is_admin_peer(peer: Option<&ConnectInfo<SocketAddr>>) -> bool {
    peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_may_reload() {
        let peer = |s: &str| ConnectInfo(s.parse::<SocketAddr>().unwrap());
        assert!(is_admin_peer(Some(&peer("127.0.0.1:5000"))));
        assert!(is_admin_peer(Some(&peer("[::1]:5000"))));
        assert!(!is_admin_peer(Some(&peer("192.168.1.20:5000"))));
        assert!(!is_admin_peer(Some(&peer("[2001:db8::1]:5000"))));
        // Called in-process, without a socket: no peer, no admin.
        assert!(!is_admin_peer(None));
    }

    #[test]
    fn slots_count_open_connections() {
        let slots = Slots::new(3);
        let a = slots.semaphore.clone().try_acquire_owned().unwrap();
        let _b = slots.semaphore.clone().try_acquire_owned().unwrap();
        assert_eq!(slots.open(), 2);
        drop(a);
        assert_eq!(slots.open(), 1);
    }
}
