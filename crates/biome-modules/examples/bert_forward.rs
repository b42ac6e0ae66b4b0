//! Benchmark driver (not a test): times `Bert::forward` (no autodiff) on a Hugging Face folder
//! for one batch of deterministic word-piece ids, and writes the ids and the last hidden state
//! so `benches/bert_forward.py` can time PyTorch on the same input and compare the values.
//!
//! `cargo run --release -p biome-modules --features flex --example bert_forward -- FOLDER OUT_DIR
//! [BATCH] [TOKENS] [REPS]`; set `RAYON_NUM_THREADS` for the thread count.

use std::path::Path;
use std::time::Instant;

use biome_modules::{linear_rows, load_bert};
use burn::prelude::*;

// The allocator of the `biome` binaries (src/bin/biome.rs), with the same setting, so that this
// times the forward `biome encode` runs: with glibc's malloc the same forward took 1.09–1.14 s
// instead of 0.75–0.83 s (it maps and unmaps the large buffers of every op).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    biome_kernels::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let folder = Path::new(args.get(1).expect("FOLDER"));
    let out = Path::new(args.get(2).expect("OUT_DIR"));
    let arg = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (batch, tokens, reps) = (arg(3, 32), arg(4, 64), arg(5, 20));
    let device = Device::flex();
    let (config, bert) = load_bert(folder, &device).expect("load");

    // Rows of varied length (64 down to 25 word pieces at 32 × 64): [CLS] ids... [SEP], 0-padded.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut ids = vec![0i64; batch * tokens];
    let mut lengths = vec![];
    for b in 0..batch {
        let len = tokens - (b * 7) % (tokens * 5 / 8).max(1);
        lengths.push(len);
        for t in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ids[b * tokens + t] = match t {
                0 => 101,
                _ if t == len - 1 => 102,
                _ => 1000 + (state % (config.vocab_size as u64 - 1000)) as i64,
            };
        }
    }
    let ids_t = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, tokens]), &device);
    let mask = ids_t.clone().not_equal_elem(0);
    let types = ids_t.zeros_like();

    let run = || bert.forward(ids_t.clone(), types.clone(), mask.clone());
    let hidden: Vec<f32> = run().into_data().try_to_vec::<f32>().expect("f32");
    let mut times = vec![];
    for _ in 0..reps {
        let start = Instant::now();
        let h = run();
        let _ = h.into_data(); // the result on the host: the whole forward has run
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    std::fs::create_dir_all(out).expect("out dir");
    let ids_json: Vec<String> = ids.iter().map(|v| v.to_string()).collect();
    std::fs::write(
        out.join("ids.json"),
        format!(
            "{{\"batch\": {batch}, \"tokens\": {tokens}, \"ids\": [{}]}}",
            ids_json.join(",")
        ),
    )
    .expect("write ids");
    let bytes: Vec<u8> = hidden.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out.join("hidden.f32"), bytes).expect("write hidden");
    let parts = profile(&bert, &ids_t, &mask, config.num_hidden_layers, reps);
    println!(
        "{{\"median_ms\": {:.3}, \"min_ms\": {:.3}, \"max_ms\": {:.3}, \"reps\": {reps}, \"parts_ms\": {{{}}}}}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        parts
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Median ms of `f` (its result read back to the host) over `reps` runs.
fn median_ms<const D: usize>(reps: usize, f: impl Fn() -> Tensor<D>) -> f64 {
    let _ = f().into_data();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let _ = f().into_data();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Where a forward's time goes: each kind of step of one layer timed alone on the real shapes
/// and multiplied by how often a forward runs it.
fn profile(
    bert: &biome_modules::Bert,
    ids: &Tensor<2, Int>,
    mask: &Tensor<2, Bool>,
    layers: usize,
    reps: usize,
) -> Vec<(&'static str, f64)> {
    use biome_modules::bert::{key_bias, masked_softmax};
    let layer = &bert.encoder.layer[0];
    let att = &layer.attention;
    let x = bert.embeddings.forward(ids.clone(), ids.zeros_like());
    let [b, t, h] = x.dims();
    let heads = att.heads;
    // The attention's own scale, 1/√(head size).
    let scale = 1.0 / ((h / heads) as f64).sqrt();
    let split = |y: Tensor<3>| y.reshape([b, t, heads, h / heads]).swap_dims(1, 2);
    let q = split(linear_rows(&att.query, x.clone()));
    let k = split(linear_rows(&att.key, x.clone()));
    let bias = key_bias(mask.clone());
    let scores = q.clone().matmul(k.clone().swap_dims(2, 3));
    let inner = linear_rows(&layer.intermediate, x.clone());
    let l = layers as f64;
    vec![
        (
            "embeddings",
            median_ms(reps, || {
                bert.embeddings.forward(ids.clone(), ids.zeros_like())
            }),
        ),
        (
            "qkv_out_linear",
            4.0 * l * median_ms(reps, || linear_rows(&att.query, x.clone())),
        ),
        (
            "ffn_linears",
            l * (median_ms(reps, || linear_rows(&layer.intermediate, x.clone()))
                + median_ms(reps, || linear_rows(&layer.output, inner.clone()))),
        ),
        (
            "heads_reshape",
            4.0 * l * median_ms(reps, || split(x.clone()).swap_dims(1, 2).reshape([b, t, h])),
        ),
        (
            "scores_matmul",
            l * median_ms(reps, || q.clone().matmul(k.clone().swap_dims(2, 3))),
        ),
        (
            "mask_softmax",
            l * median_ms(reps, || masked_softmax(scores.clone(), scale, bias.clone())),
        ),
        (
            "context_matmul",
            l * median_ms(reps, || scores.clone().matmul(q.clone())),
        ),
        (
            "gelu",
            l * median_ms(reps, || biome_modules::activation::gelu_erf(inner.clone())),
        ),
        (
            "layer_norm_residual",
            2.0 * l
                * median_ms(reps, || {
                    biome_modules::bert::normalize(
                        &layer.output_layer_norm,
                        layer.layer_norm_eps,
                        x.clone() + x.clone(),
                    )
                }),
        ),
    ]
}
