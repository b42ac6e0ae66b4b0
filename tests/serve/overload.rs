//! Overload and hostile clients, on a small scale: the 503 of a full queue and of a passed
//! deadline, the head, body and idle timeouts, the connection cap, and `/metrics`.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use biome::Device;
use biome::serve::{Limits, ServeOptions, Server};
use serde_json::{Value, json};

use super::{Client, Response, assert_same, fixture, pair_json};

/// A server on the shared model with `edit` applied to the default options.
pub(crate) fn start_with(edit: impl FnOnce(&mut ServeOptions)) -> Server {
    let mut options = ServeOptions::new(&fixture().model);
    options.device = Device::flex();
    options.port = 0;
    options.limits = Limits::default();
    edit(&mut options);
    Server::start(options).unwrap()
}

fn health(addr: SocketAddr) -> Value {
    Client::connect(addr).get("/health").json()
}

/// Poll `/health` until `done` holds (at most 10 s).
fn wait_health(addr: SocketAddr, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let v = health(addr);
        if done(&v) {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}: {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Post `body` on a thread of its own; join for the answer.
fn post_in_background(addr: SocketAddr, body: Value) -> std::thread::JoinHandle<Response> {
    std::thread::spawn(move || Client::connect(addr).post(&body))
}

#[test]
fn a_full_queue_answers_503_with_retry_after_at_once() {
    let f = fixture();
    let server = start_with(|o| o.batching.max_queue = Some(3));
    let addr = server.addr();
    assert_eq!(health(addr)["max_queue"], 3);
    let hold = server.hold_worker().unwrap();
    // 1 + 2 pairs fill the queue while the worker is held.
    let one = post_in_background(addr, pair_json(&f.pairs[0]));
    wait_health(addr, "one pair queued", |v| v["queue_pairs"] == 1);
    assert_eq!(health(addr)["status"], "ok");
    let two = post_in_background(
        addr,
        json!([pair_json(&f.pairs[1]), pair_json(&f.pairs[2])]),
    );
    let v = wait_health(addr, "three pairs queued", |v| v["queue_pairs"] == 3);
    assert_eq!(v["status"], "overloaded");

    // Full: refused at once, with Retry-After and the limit named.
    let t0 = Instant::now();
    let r = Client::connect(addr).post(&pair_json(&f.pairs[3]));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    let v = r.json();
    assert_eq!(
        (v["limit"].as_str(), v["max"].as_u64()),
        (Some("max_queue"), Some(3))
    );
    assert_eq!(v["queued"], 3);
    assert!(
        v["error"].as_str().unwrap().contains("max_queue = 3"),
        "{v}"
    );

    // Released, the queued requests are answered in full and correctly.
    drop(hold);
    let r = one.join().unwrap();
    assert_eq!(r.status, 200);
    assert_same(&r.json(), &f.expected[0]);
    let r = two.join().unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_same(&v[0], &f.expected[1]);
    assert_same(&v[1], &f.expected[2]);
    let v = wait_health(addr, "queue drained", |v| v["queue_pairs"] == 0);
    assert_eq!(v["status"], "ok");
    assert_eq!(
        (v["refused"].as_u64(), v["server_errors"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(v["requests"], 2);

    // The metrics saw the same.
    let r = Client::connect(addr).get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "biome_predict_requests_total{status=\"200\"} 2",
        "biome_predict_requests_total{status=\"503\"} 1",
        "biome_predict_duration_seconds_count 3",
        "biome_queue_pairs 0",
        "biome_queue_max_pairs 3",
        "biome_batch_pairs_sum 3.0",
        "# EOF",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
    assert!(text.contains("biome_model_run_seconds_count"), "{text}");
    server.shutdown().unwrap();
}

#[test]
fn a_request_past_its_deadline_answers_503_and_never_runs() {
    let f = fixture();
    let server = start_with(|o| o.batching.request_timeout = Some(Duration::from_millis(300)));
    let addr = server.addr();
    let hold = server.hold_worker().unwrap();
    let t0 = Instant::now();
    let r = Client::connect(addr).post(&pair_json(&f.pairs[0]));
    let waited = t0.elapsed();
    assert_eq!(r.status, 503);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let v = r.json();
    assert_eq!(
        (v["limit"].as_str(), v["max"].as_u64()),
        (Some("request_timeout_ms"), Some(300))
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(hold);
    // Nobody waits for it any more: the worker skips it.
    let r = Client::connect(addr).post(&pair_json(&f.pairs[1]));
    assert_eq!(r.status, 200);
    assert_same(&r.json(), &f.expected[1]);
    let v = health(addr);
    assert_eq!(
        (v["batches"].as_u64(), v["pairs"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["refused"], 1);
    server.shutdown().unwrap();
}

/// Read until the server closes the connection; how long that took.
fn time_to_close(stream: &mut TcpStream, within: Duration) -> Duration {
    stream.set_read_timeout(Some(within)).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t0.elapsed(),
            Err(e) => panic!("not closed within {within:?}: {e}"),
        }
    }
}

#[test]
fn slow_and_idle_clients_are_cut_by_the_head_body_and_idle_timeouts() {
    let f = fixture();
    let server = start_with(|o| {
        o.connections.header_timeout = Duration::from_millis(300);
        o.connections.body_timeout = Duration::from_millis(300);
    });
    let addr = server.addr();
    // A slowloris: a few head bytes, then one byte every 100 ms, never the end of the head.
    let mut slow = Client::connect(addr);
    slow.send_raw(b"POST /predict HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let writer = {
        let mut stream = slow.reader.get_ref().try_clone().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            for _ in 0..50 {
                if stream.write_all(b"X").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // A normal client meanwhile is served.
    let r = Client::connect(addr).post(&pair_json(&f.pairs[0]));
    assert_eq!(r.status, 200);
    let closed = time_to_close(slow.reader.get_mut(), Duration::from_secs(5));
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    writer.join().unwrap();

    // A body that never ends: 408 naming the limit, and the connection closes.
    let mut c = Client::connect(addr);
    c.send_raw(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"record1\"")
        .unwrap();
    let t0 = Instant::now();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let v = r.json();
    assert_eq!(
        (v["limit"].as_str(), v["max"].as_u64()),
        (Some("body_timeout_ms"), Some(300))
    );
    time_to_close(c.reader.get_mut(), Duration::from_secs(5));

    // An idle keep-alive connection is closed after the head timeout too.
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/health").status, 200);
    let closed = time_to_close(c.reader.get_mut(), Duration::from_secs(5));
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    let v = health(addr);
    assert_eq!(v["client_errors"], 1, "{v}");
    server.shutdown().unwrap();
}

#[test]
fn the_connection_cap_holds_new_connections_until_one_closes() {
    let f = fixture();
    let server = start_with(|o| o.connections.max_connections = 2);
    let addr = server.addr();
    let mut a = Client::connect(addr);
    let mut b = Client::connect(addr);
    assert_eq!(a.post(&pair_json(&f.pairs[0])).status, 200);
    assert_eq!(b.get("/health").json()["open_connections"], 2);
    // A third connection waits in the backlog: no answer while both slots are taken.
    let mut c = Client::connect(addr);
    c.send_raw(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    c.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut byte = [0u8; 1];
    let e = c.reader.get_mut().read(&mut byte).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    // One closes: the third is served.
    drop(a);
    c.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["open_connections"].as_u64().unwrap() <= 2);
    assert_eq!(b.get("/health").status, 200);
    server.shutdown().unwrap();
}
