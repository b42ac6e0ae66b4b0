//! Model reload without downtime: under a steady stream of requests, the model folder is
//! swapped between two trained models and reloaded (through `Server::reload`, `POST
//! /admin/reload` and SIGHUP); every answer is a 200 from exactly one of the two models (the
//! one `X-Model-Generation` names), and a folder that fails to load leaves the old model
//! serving with the error in `/health`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use biome::biome_models::Prediction;
use biome::{Device, Pipeline};

use super::overload::start_with;
use super::{Client, assert_same, common, fixture, pair_json};

/// A second model, different from the fixture's (other config, two epochs), and its
/// predictions for the fixture's pairs.
fn other_model() -> &'static (PathBuf, Vec<Prediction>) {
    static OTHER: OnceLock<(PathBuf, Vec<Prediction>)> = OnceLock::new();
    OTHER.get_or_init(|| {
        let f = fixture();
        let dir = tempfile::Builder::new()
            .prefix("serve-model-b")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let [train, valid, _] = common::write_data(&dir);
        let config =
            biome::PipelineConfig::from_file(common::write_config(&dir, 2, false)).unwrap();
        let model = dir.join("model");
        let mut pipeline = Pipeline::from_config(config, Device::flex()).unwrap();
        pipeline.train(&train, Some(&valid), &model, false).unwrap();
        let expected = Pipeline::load(&model, Device::flex())
            .unwrap()
            .predict_batch(&f.pairs)
            .unwrap();
        (model, expected)
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Put a copy of `source` at `serving` (two renames, so a reload never sees half a copy).
fn swap_in(source: &Path, serving: &Path) {
    let next = serving.with_extension("next");
    let _ = std::fs::remove_dir_all(&next);
    copy_dir(source, &next);
    let old = serving.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    std::fs::rename(serving, &old).unwrap();
    std::fs::rename(&next, serving).unwrap();
}

fn differs(a: &[Prediction], b: &[Prediction]) -> bool {
    a.iter().zip(b).any(|(p, q)| {
        p.classes
            .iter()
            .any(|(label, x)| (x - q.classes[label]).abs() > 1e-3)
    })
}

#[test]
fn reloads_under_load_answer_every_request_with_one_model_or_the_other() {
    let f = fixture();
    let (model_b, expected_b) = other_model();
    assert!(
        differs(&f.expected, expected_b),
        "the two models must be told apart"
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let serving = dir.path().join("model");
    copy_dir(&f.model, &serving);
    let server = start_with(|o| o.model = serving.clone());
    let addr = server.addr();

    // Clients: single pairs, each answer checked against the model its generation names
    // (odd: the fixture's, even: the other one).
    let running = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let running = running.clone();
            std::thread::spawn(move || {
                let (f, (_, expected_b)) = (fixture(), other_model());
                let mut client = Client::connect(addr);
                let mut generations = std::collections::BTreeSet::new();
                let mut k = t;
                while running.load(Ordering::Relaxed) {
                    let i = k % f.pairs.len();
                    k += 4;
                    let r = client.post(&pair_json(&f.pairs[i]));
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    let generation: u64 = r.header("x-model-generation").unwrap().parse().unwrap();
                    let want = if generation % 2 == 1 {
                        &f.expected[i]
                    } else {
                        &expected_b[i]
                    };
                    assert_same(&r.json(), want);
                    generations.insert(generation);
                }
                generations
            })
        })
        .collect();

    let sources = [model_b.as_path(), f.model.as_path()];
    for round in 0..4u64 {
        std::thread::sleep(Duration::from_millis(100));
        swap_in(sources[round as usize % 2], &serving);
        let generation = if round % 2 == 0 {
            server.reload().unwrap().generation
        } else {
            // The HTTP route, from loopback.
            let r = Client::connect(addr)
                .request("POST", "/admin/reload", None, b"")
                .unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()["generation"].as_u64().unwrap()
        };
        assert_eq!(generation, round + 2);
    }

    // A folder that does not load: the error is reported, the old model goes on serving.
    std::thread::sleep(Duration::from_millis(100));
    let old = serving.with_extension("broken");
    std::fs::rename(&serving, &old).unwrap();
    std::fs::create_dir(&serving).unwrap();
    let r = Client::connect(addr)
        .request("POST", "/admin/reload", None, b"")
        .unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("still serving"),
        "{}",
        r.json()
    );
    let v = Client::connect(addr).get("/health").json();
    assert_eq!(v["status"], "ok");
    assert_eq!(
        (v["model_generation"].as_u64(), v["reloads"].as_u64()),
        (Some(5), Some(4))
    );
    assert_eq!(v["failed_reloads"], 1);
    assert!(
        v["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("not a biome model folder"),
        "{v}"
    );
    std::thread::sleep(Duration::from_millis(200));
    running.store(false, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        seen.extend(c.join().unwrap());
    }
    // Answers came from both models, and from the last generation after the failed reload.
    assert!(
        seen.contains(&5) && seen.iter().any(|g| g % 2 == 0),
        "{seen:?}"
    );
    let v = Client::connect(addr).get("/health").json();
    assert_eq!(v["server_errors"], 0);
    assert_eq!(v["refused"], 0);
    let metrics = String::from_utf8(Client::connect(addr).get("/metrics").body).unwrap();
    assert!(
        metrics.contains("biome_model_reloads_total{result=\"ok\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("biome_model_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );
    server.shutdown().unwrap();
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_binary_s_model() {
    let f = fixture();
    let (model_b, expected_b) = other_model();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let serving = dir.path().join("model");
    copy_dir(&f.model, &serving);
    let mut server = super::spawn_binary(&serving, &[]);
    let mut client = Client::connect(server.addr);
    let r = client.post(&pair_json(&f.pairs[0]));
    assert_eq!(r.header("x-model-generation"), Some("1"));
    assert_same(&r.json(), &f.expected[0]);
    swap_in(model_b, &serving);
    super::kill(server.child.id(), "-HUP");
    let t0 = Instant::now();
    while client.get("/health").json()["model_generation"] != 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no reload after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = client.post(&pair_json(&f.pairs[0]));
    assert_eq!(r.header("x-model-generation"), Some("2"));
    assert_same(&r.json(), &expected_b[0]);
    drop(client);
    super::kill(server.child.id(), "-TERM");
    let status = super::wait_exit(&mut server.child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
}
