//! `biome serve` end to end, on loopback only: predictions equal the library's, limits and bad
//! requests give JSON errors, concurrent requests are batched, a bounded load test, graceful
//! shutdown of the real binary on SIGTERM / Ctrl-C, fuzzing of the body parser and the
//! router, overload and slow clients ([`overload`]), model reloads ([`reload`]) and online
//! matching against a record index ([`matching`]). One tiny
//! model is trained once per test process (and a second one for the reloads).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use biome::biome_core::PairExample;
use biome::biome_models::Prediction;
use biome::serve::{App, Limits, ServeOptions, Server, parse_body};
use biome::{Device, Pipeline};
use proptest::prelude::*;
use serde_json::{Value, json};

mod common;
#[path = "serve/matching.rs"]
mod matching;
#[path = "serve/overload.rs"]
mod overload;
#[path = "serve/reload.rs"]
mod reload;

// ---------------------------------------------------------------------------------------------
// The shared model and expected answers

struct Fixture {
    model: PathBuf,
    /// Test pairs with the library's predictions for them.
    pairs: Vec<PairExample>,
    expected: Vec<Prediction>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Inside the target dir, so `cargo clean` removes it; kept for the whole process.
        let dir = tempfile::Builder::new()
            .prefix("serve-model")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let [train, valid, test] = common::write_data(&dir);
        let config = biome::PipelineConfig::from_file(common::write_config(&dir, 1, true)).unwrap();
        let model = dir.join("model");
        let mut pipeline = Pipeline::from_config(config, Device::flex()).unwrap();
        pipeline.train(&train, Some(&valid), &model, false).unwrap();
        let loaded = Pipeline::load(&model, Device::flex()).unwrap();
        let pairs: Vec<PairExample> = loaded
            .read(&test)
            .unwrap()
            .examples
            .into_iter()
            .map(|e| PairExample::unlabelled(e.record1, e.record2))
            .collect();
        let expected = loaded.predict_batch(&pairs).unwrap();
        Fixture {
            model,
            pairs,
            expected,
        }
    })
}

fn pair_json(p: &PairExample) -> Value {
    json!({"record1": p.record1, "record2": p.record2})
}

fn assert_same(got: &Value, want: &Prediction) {
    let got: Prediction = serde_json::from_value(got.clone()).expect("a prediction");
    assert_eq!(got.max_class, want.max_class);
    assert_eq!(got.classes.len(), want.classes.len());
    for (label, p) in &want.classes {
        let q = got.classes[label];
        assert!((p - q).abs() < 1e-4, "{label}: {q} vs {p}");
    }
}

fn start(limits: Limits, batch_wait_ms: u64) -> Server {
    let mut options = ServeOptions::new(&fixture().model);
    options.device = Device::flex();
    options.port = 0;
    options.limits = limits;
    options.batching.batch_wait = Duration::from_millis(batch_wait_ms);
    Server::start(options).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client (keep-alive, Content-Length or chunked answers)

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(ct) = content_type {
            head += &format!("Content-Type: {ct}\r\n");
        }
        head += "\r\n";
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes)?;
        self.read_response()
    }

    fn post(&mut self, body: &Value) -> Response {
        self.request(
            "POST",
            "/predict",
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .unwrap()
    }

    fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None, b"").unwrap()
    }

    fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = vec![];
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("a header");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: vec![],
        };
        if let Some(n) = response.header("content-length") {
            let mut body = vec![0; n.parse().unwrap()];
            self.reader.read_exact(&mut body)?;
            response.body = body;
        } else if response.header("transfer-encoding") == Some("chunked") {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                response.body.extend_from_slice(&chunk[..n]);
            }
        }
        Ok(response)
    }
}

fn post(addr: SocketAddr, body: &Value) -> Response {
    Client::connect(addr).post(body)
}

// ---------------------------------------------------------------------------------------------
// Routes

#[test]
fn single_pairs_and_arrays_answer_like_predict_batch() {
    let f = fixture();
    let server = start(Limits::default(), 2);
    let mut client = Client::connect(server.addr());
    // One pair → one object.
    for i in [0, 5, 17] {
        let r = client.post(&pair_json(&f.pairs[i]));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        assert!(v.is_object(), "{v}");
        assert!(v.get("logits").is_none(), "same JSON as `biome predict`");
        assert_same(&v, &f.expected[i]);
    }
    // An array → an array in order, on the same keep-alive connection.
    let all: Vec<Value> = f.pairs.iter().map(pair_json).collect();
    let v = client.post(&Value::Array(all)).json();
    let got = v.as_array().unwrap();
    assert_eq!(got.len(), f.expected.len());
    for (g, want) in got.iter().zip(&f.expected) {
        assert_same(g, want);
    }
    // The three record forms of `biome predict`, and an empty array.
    let forms = json!([
        {"record1": "mike Farrys", "record2": "Mike Farris"},
        {"record1": ["anna", "smith"], "record2": {"given_name": "anna", "surname": "smyth"}},
        {"record1": {"given_name": "bob", "postcode": 3220}, "record2": ["bob", 3220]}
    ]);
    let v = client.post(&forms).json();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(client.post(&json!([])).json(), json!([]));
    server.shutdown().unwrap();
}

#[test]
fn limits_answer_json_naming_the_limit() {
    let _ = fixture(); // trained before any server starts
    let limits = Limits {
        max_body_bytes: 4000,
        max_pairs: 3,
        max_text_chars: 40,
    };
    let server = start(limits, 2);
    let addr = server.addr();
    let short = json!({"record1": "anna smith", "record2": "anna smyth"});

    // Body size, with Content-Length known up front...
    let big = json!({"record1": "a ".repeat(2500), "record2": "b"});
    let r = post(addr, &big);
    assert_eq!(r.status, 413);
    let v = r.json();
    assert_eq!(v["limit"], "max_body_bytes");
    assert_eq!(v["max"], 4000);
    assert!(
        v["error"].as_str().unwrap().contains("max_body_bytes"),
        "{v}"
    );
    // ... and chunked, where only reading tells.
    let mut c = Client::connect(addr);
    let chunk = "x".repeat(1500);
    let mut raw = String::from(
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..3 {
        raw += &format!("{:x}\r\n{chunk}\r\n", chunk.len());
    }
    raw += "0\r\n\r\n";
    c.send_raw(raw.as_bytes()).unwrap();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["limit"], "max_body_bytes");

    // Pairs per request.
    let four = Value::Array(vec![short.clone(); 4]);
    let r = post(addr, &four);
    assert_eq!(r.status, 413);
    let v = r.json();
    assert_eq!(
        (v["limit"].as_str(), v["max"].as_u64()),
        (Some("max_pairs"), Some(3))
    );
    assert_eq!(v["actual"], 4);
    assert_eq!(
        post(addr, &Value::Array(vec![short.clone(); 3])).status,
        200
    );

    // Text per record (all fields together).
    let long = json!([short, {"record1": "ok", "record2": ["x".repeat(30), "y".repeat(11)]}]);
    let r = post(addr, &long);
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["limit"], "max_text_chars");
    assert_eq!(
        (v["max"].as_u64(), v["actual"].as_u64()),
        (Some(40), Some(41))
    );
    assert_eq!(
        (v["index"].as_u64(), v["field"].as_str()),
        (Some(1), Some("record2"))
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("pair 1: record2: 41 characters"),
        "{v}"
    );

    // Refused requests are counted, and never reach the model.
    let v = Client::connect(addr).get("/health").json();
    assert_eq!(v["client_errors"], 4);
    assert_eq!(v["pairs"], 3);
    server.shutdown().unwrap();
}

#[test]
fn bad_requests_answer_400_json_naming_the_field() {
    let server = start(Limits::default(), 2);
    let addr = server.addr();
    let ok = json!({"record1": "a", "record2": "b"});
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"record1\": \"a\", ".to_vec(), "invalid JSON"),
        (b"\xff\xfe".to_vec(), "invalid JSON"),
        (b"".to_vec(), "invalid JSON"),
        (b"42".to_vec(), "found a number"),
        (
            json!([ok, ok, ok, {"record1": "a"}])
                .to_string()
                .into_bytes(),
            "pair 3: record2: missing",
        ),
        (
            json!({"record2": "a"}).to_string().into_bytes(),
            "record1: missing",
        ),
        (
            json!({"record1": true, "record2": "a"})
                .to_string()
                .into_bytes(),
            "record1: expected a text, a list of texts or an object of texts, found a boolean",
        ),
        (
            json!({"record1": "a", "record2": [["nested"]]})
                .to_string()
                .into_bytes(),
            "record2: expected a text, a list of texts or an object of texts, found an array at field 0",
        ),
        (
            json!([ok, {"record1": "a", "record2": "  "}])
                .to_string()
                .into_bytes(),
            "pair 1: record2: empty",
        ),
        (
            json!([ok, "just text"]).to_string().into_bytes(),
            "pair 1: expected a JSON object with record1 and record2, found a string",
        ),
    ];
    let mut client = Client::connect(addr);
    for (body, want) in &cases {
        let r = client
            .request("POST", "/predict", Some("application/json"), body)
            .unwrap();
        assert_eq!(r.status, 400, "{want}");
        let v = r.json();
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(want), "{error:?} should contain {want:?}");
    }
    let v = client
        .request(
            "POST",
            "/predict",
            None,
            json!([ok, {"record1": "a"}]).to_string().as_bytes(),
        )
        .unwrap()
        .json();
    assert_eq!(
        (v["index"].as_u64(), v["field"].as_str()),
        (Some(1), Some("record2"))
    );

    // Wrong content type, method, path: JSON too.
    let r = client
        .request(
            "POST",
            "/predict",
            Some("text/plain"),
            ok.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 415);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let r = client
        .request(
            "POST",
            "/predict",
            Some("application/json; charset=utf-8"),
            ok.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client.get("/predict");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(r.json()["error"].as_str().unwrap().contains("POST"));
    let r = client.request("DELETE", "/health", None, b"").unwrap();
    assert_eq!(r.status, 405);
    r.json();
    let r = client.get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("/predict"));
    server.shutdown().unwrap();
}

#[test]
fn health_and_model_describe_the_server() {
    let f = fixture();
    let server = start(Limits::default(), 2);
    let mut client = Client::connect(server.addr());
    let v = client.get("/health").json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["requests"], 0);
    client.post(&pair_json(&f.pairs[0]));
    let v = client.get("/health").json();
    assert_eq!(
        (v["requests"].as_u64(), v["batches"].as_u64()),
        (Some(1), Some(1))
    );
    for key in [
        "merged_batches",
        "largest_batch_pairs",
        "average_batch_pairs",
        "uptime_s",
    ] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    let v = client.get("/model").json();
    let labels = Pipeline::load(&f.model, Device::flex()).unwrap().labels();
    assert_eq!(v["labels"], json!(labels));
    // a trained model's threshold is under the manifest's checksums since format 3 (a word
    // model saved without one stays format 1, which older builds read)
    assert_eq!(v["format_version"], 3);
    assert_eq!(v["biome_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["model_biome_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["device"], "flex");
    assert!(
        v["config"]["model"].is_object() && v["config"]["data"].is_object(),
        "{v}"
    );
    server.shutdown().unwrap();
}

#[test]
fn model_load_errors_come_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::new(dir.path());
    options.port = 0;
    let err = Server::start(options).err().unwrap().to_string();
    assert!(err.contains("not a biome model folder"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Concurrency and load

#[test]
fn concurrent_clients_get_their_own_answers_in_merged_batches() {
    let _ = fixture(); // trained before any server starts
    // A longer window makes merging certain even on a busy machine.
    let server = start(Limits::default(), 20);
    let addr = server.addr();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let f = fixture();
                let mut client = Client::connect(addr);
                for k in 0..8 {
                    let i = (t * 8 + k) % f.pairs.len();
                    if k == 3 {
                        // A bad request in the mix must not disturb the others.
                        let r = client.post(&json!({"record1": "x"}));
                        assert_eq!(r.status, 400);
                        continue;
                    }
                    if k % 2 == 0 {
                        let r = client.post(&pair_json(&f.pairs[i]));
                        assert_eq!(r.status, 200);
                        assert_same(&r.json(), &f.expected[i]);
                    } else {
                        let j = (i + 1) % f.pairs.len();
                        let r =
                            client.post(&json!([pair_json(&f.pairs[i]), pair_json(&f.pairs[j])]));
                        assert_eq!(r.status, 200);
                        let v = r.json();
                        assert_same(&v[0], &f.expected[i]);
                        assert_same(&v[1], &f.expected[j]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = Client::connect(addr).get("/health").json();
    assert_eq!(v["requests"], 16 * 7);
    assert_eq!(v["client_errors"], 16);
    assert_eq!(v["server_errors"], 0);
    assert!(v["merged_batches"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["largest_batch_requests"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["batches"].as_u64().unwrap() < 16 * 7, "{v}");
    server.shutdown().unwrap();
}

#[test]
fn bounded_load_test_has_no_errors() {
    let _ = fixture(); // trained before any server starts
    let server = start(Limits::default(), 2);
    let addr = server.addr();
    let clients = 24;
    let duration = Duration::from_millis(2500);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            std::thread::spawn(move || {
                let f = fixture();
                let mut client = Client::connect(addr);
                let (mut latencies, mut errors) = (vec![], 0usize);
                let mut k = t;
                while started.elapsed() < duration {
                    let i = k % f.pairs.len();
                    k += clients;
                    let t0 = Instant::now();
                    let r = client.post(&pair_json(&f.pairs[i]));
                    latencies.push(t0.elapsed());
                    if r.status != 200 || r.json()["max_class"] != f.expected[i].max_class {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (vec![], 0);
    for t in threads {
        let (l, e) = t.join().unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let health = Client::connect(addr).get("/health").json();
    println!(
        "load test: {clients} clients, {:.1}s: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, \
         {errors} errors; {} batches, average batch {:.1} pairs (largest {})",
        elapsed,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        health["batches"],
        health["average_batch_pairs"].as_f64().unwrap(),
        health["largest_batch_pairs"],
    );
    assert_eq!(errors, 0);
    assert!(latencies.len() >= clients);
    assert_eq!(health["server_errors"], 0);
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown of the real binary

struct Child {
    child: std::process::Child,
    addr: SocketAddr,
}

fn spawn_binary(model: &Path, extra: &[&str]) -> Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_biome"))
        .args([
            "serve",
            "--device",
            "flex",
            "--port",
            "0",
            "--max-pairs",
            "100000",
        ])
        .args(["--max-body-bytes", "100000000", "--model"])
        .arg(model)
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut line, mut seen) = (String::new(), String::new());
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early: {seen}"
        );
        seen += &line;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    Child { child, addr }
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t0.elapsed() > within {
            let _ = child.kill();
            panic!("the server did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[cfg(unix)]
#[test]
fn sigterm_and_ctrl_c_finish_requests_in_flight_then_exit_0() {
    let f = fixture();
    for signal in ["-TERM", "-INT"] {
        let mut server = spawn_binary(&f.model, &[]);
        // A big request, half sent when the signal arrives: the server must read the rest,
        // answer it in full, and only then exit.
        let pairs: Vec<Value> = (0..3000)
            .map(|i| pair_json(&f.pairs[i % f.pairs.len()]))
            .collect();
        let body = Value::Array(pairs).to_string().into_bytes();
        let mut client = Client::connect(server.addr);
        let head = format!(
            "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        client.send_raw(head.as_bytes()).unwrap();
        client.send_raw(first).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        kill(server.child.id(), signal);
        std::thread::sleep(Duration::from_millis(300));
        // No new connections once shutting down (polled: a busy machine may be slow to
        // deliver the signal).
        let t0 = Instant::now();
        while TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_ok() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "still accepting 10 s after {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        client.send_raw(rest).unwrap();
        let r = client.read_response().unwrap();
        assert_eq!(r.status, 200);
        let v = r.json();
        let got = v.as_array().unwrap();
        assert_eq!(got.len(), 3000);
        assert_same(&got[2999], &f.expected[2999 % f.pairs.len()]);
        let status = wait_exit(&mut server.child, Duration::from_secs(20));
        assert_eq!(status.code(), Some(0), "exit status after {signal}");
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing: the body parser never panics; the router never answers 5xx or non-JSON

fn fuzz_cases(divisor: u32) -> u32 {
    let n: u32 = std::env::var("BIOME_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    (n / divisor).max(10)
}

/// JSON-ish values: scalars, nested arrays and objects, and pairs with or without their keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        "[ a-zA-Z]{0,20}".prop_map(Value::String),
    ];
    let nested = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("record1".to_string()),
                        Just("record2".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    // Records of the accepted forms (text, list of texts, object of texts) most of the time.
    let text = prop_oneof!["[ a-zA-Z]{0,40}", ".{0,8}"];
    let record = prop_oneof![
        text.clone().prop_map(Value::String),
        prop::collection::vec(text.clone(), 0..4)
            .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect())),
        prop::collection::vec(("[a-z]{1,6}", text), 0..4).prop_map(|kv| {
            Value::Object(kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
        }),
        nested.clone(),
    ];
    let pair = (
        prop::option::weighted(0.9, record.clone()),
        prop::option::weighted(0.9, record),
        prop::option::of(nested.clone()),
    )
        .prop_map(|(a, b, extra)| {
            let mut m = serde_json::Map::new();
            if let Some(a) = a {
                m.insert("record1".into(), a);
            }
            if let Some(b) = b {
                m.insert("record2".into(), b);
            }
            if let Some(x) = extra {
                m.insert("label".into(), x);
            }
            Value::Object(m)
        });
    prop_oneof![
        nested,
        pair.clone(),
        prop::collection::vec(pair, 0..5).prop_map(Value::Array),
    ]
}

/// Bodies: raw bytes, JSON values, and JSON values with a few bytes changed.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            json_value(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
        )
            .prop_map(|(v, edits)| {
                let mut b = v.to_string().into_bytes();
                for (i, byte) in edits {
                    if !b.is_empty() {
                        let i = i.index(b.len());
                        b[i] = byte;
                    }
                }
                b
            }),
    ]
}

#[test]
fn fuzz_body_parser_returns_ok_or_a_typed_error() {
    let limits = Limits {
        max_body_bytes: 2000,
        max_pairs: 4,
        max_text_chars: 100,
    };
    let cases = fuzz_cases(1);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let (ok, err) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner
        .run(&body(), |bytes| {
            match parse_body(&bytes, &limits) {
                Ok(request) => {
                    ok.set(ok.get() + 1);
                    prop_assert!(request.pairs.len() <= limits.max_pairs);
                    prop_assert!(!request.single || request.pairs.len() == 1);
                    for p in &request.pairs {
                        prop_assert!(p.validate().is_ok());
                    }
                }
                Err(e) => {
                    err.set(err.get() + 1);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "parser fuzz: {cases} cases, {} accepted, {} refused",
        ok.get(),
        err.get()
    );
}

#[test]
fn fuzz_router_answers_json_below_500() {
    use tower::ServiceExt;
    let f = fixture();
    let mut options = ServeOptions::new(&f.model);
    options.device = Device::flex();
    options.limits = Limits {
        max_body_bytes: 2000,
        max_pairs: 3,
        max_text_chars: 30,
    };
    let app = App::new(&options).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = fuzz_cases(5);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let content_types = prop_oneof![
        2 => Just(None),
        6 => Just(Some("application/json")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("application/problem+json; charset=utf-8")),
    ];
    let methods = prop_oneof![8 => Just("POST"), 1 => Just("GET"), 1 => Just("PUT")];
    let paths = prop_oneof![8 => Just("/predict"), 1 => Just("/health"), 1 => Just("/x")];
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(
            &(body(), content_types, methods, paths),
            |(bytes, ct, method, path)| {
                let mut request = axum::http::Request::builder().method(method).uri(path);
                if let Some(ct) = ct {
                    request = request.header("content-type", ct);
                }
                let request = request.body(axum::body::Body::from(bytes)).unwrap();
                let (status, body) = runtime.block_on(async {
                    let response = app.router().oneshot(request).await.unwrap();
                    let status = response.status().as_u16();
                    (
                        status,
                        axum::body::to_bytes(response.into_body(), usize::MAX)
                            .await
                            .unwrap(),
                    )
                });
                *statuses.borrow_mut().entry(status).or_default() += 1;
                prop_assert!(
                    status < 500,
                    "status {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                let v: Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if status >= 400 {
                    prop_assert!(v["error"].is_string(), "{v}");
                }
                Ok(())
            },
        )
        .unwrap();
    println!(
        "router fuzz: {cases} cases, statuses {:?}",
        statuses.borrow()
    );
    assert_eq!(app.stats().server_errors, 0);
}

#[cfg(unix)]
#[test]
fn a_stalled_client_cannot_hold_shutdown_past_the_timeout() {
    let f = fixture();
    let mut server = spawn_binary(&f.model, &["--shutdown-timeout-s", "1"]);
    // Half a request head, never finished.
    let mut client = Client::connect(server.addr);
    client
        .send_raw(b"POST /predict HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    kill(server.child.id(), "-TERM");
    let status = wait_exit(&mut server.child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}
