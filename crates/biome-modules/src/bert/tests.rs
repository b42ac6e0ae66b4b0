//! Tests of the BERT encoder: a tiny model (2 layers, hidden 8, 2 heads, intermediate 16, 30
//! word pieces) written by the test as a Hugging Face folder (`config.json` + `model.safetensors`
//! with Hugging Face's names and `[out, in]` layout), loaded by `load_bert`, and held against an
//! independent scalar reference (plain `f64` loops over each row's unpadded sequence); the
//! reference's finite differences against burn's gradients; padding invariance; the poolers; the
//! errors of every bad folder; the frozen embedder.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::Dtype;

use super::*;
use crate::error::ModuleError;
use crate::test_util::{ad_dev, dev, ints2, lengths_mask, to_vec};

const V: usize = 30;
const H: usize = 8;
const HEADS: usize = 2;
const I: usize = 16;
const LAYERS: usize = 2;
const P: usize = 16;
const TYPES: usize = 2;
const EPS: f64 = 1e-12;

fn config_json() -> String {
    format!(
        r#"{{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": {V},
            "hidden_size": {H}, "num_hidden_layers": {LAYERS}, "num_attention_heads": {HEADS},
            "intermediate_size": {I}, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0, "max_position_embeddings": {P},
            "type_vocab_size": {TYPES}, "layer_norm_eps": {EPS}, "pad_token_id": 0,
            "position_embedding_type": "absolute", "torch_dtype": "float32",
            "transformers_version": "4.40.0"}}"#
    )
}

/// xorshift64*, uniform in `[-1, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (v as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Hugging Face name → (shape, values as stored: rounded to f32).
type Weights = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

fn tiny_weights(seed: u64) -> Weights {
    let mut rng = Rng(seed);
    let mut w = Weights::new();
    let mut add = |name: &str, shape: Vec<usize>, scale: f64, offset: f64| {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| (offset + scale * rng.next()) as f32 as f64)
            .collect();
        w.insert(name.to_string(), (shape, values));
    };
    add("embeddings.word_embeddings.weight", vec![V, H], 1.0, 0.0);
    add(
        "embeddings.position_embeddings.weight",
        vec![P, H],
        0.5,
        0.0,
    );
    add(
        "embeddings.token_type_embeddings.weight",
        vec![TYPES, H],
        0.5,
        0.0,
    );
    add("embeddings.LayerNorm.weight", vec![H], 0.3, 1.0);
    add("embeddings.LayerNorm.bias", vec![H], 0.2, 0.0);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        for m in ["query", "key", "value"] {
            add(
                &format!("{p}attention.self.{m}.weight"),
                vec![H, H],
                0.6,
                0.0,
            );
            add(&format!("{p}attention.self.{m}.bias"), vec![H], 0.2, 0.0);
        }
        add(
            &format!("{p}attention.output.dense.weight"),
            vec![H, H],
            0.5,
            0.0,
        );
        add(
            &format!("{p}attention.output.dense.bias"),
            vec![H],
            0.2,
            0.0,
        );
        add(
            &format!("{p}attention.output.LayerNorm.weight"),
            vec![H],
            0.3,
            1.0,
        );
        add(
            &format!("{p}attention.output.LayerNorm.bias"),
            vec![H],
            0.2,
            0.0,
        );
        add(
            &format!("{p}intermediate.dense.weight"),
            vec![I, H],
            0.6,
            0.0,
        );
        add(&format!("{p}intermediate.dense.bias"), vec![I], 0.3, 0.0);
        add(&format!("{p}output.dense.weight"), vec![H, I], 0.4, 0.0);
        add(&format!("{p}output.dense.bias"), vec![H], 0.2, 0.0);
        add(&format!("{p}output.LayerNorm.weight"), vec![H], 0.3, 1.0);
        add(&format!("{p}output.LayerNorm.bias"), vec![H], 0.2, 0.0);
    }
    // What a real checkpoint also holds and the model ignores.
    add("pooler.dense.weight", vec![H, H], 0.5, 0.0);
    add("pooler.dense.bias", vec![H], 0.5, 0.0);
    w
}

/// The little-endian bytes of `values` as `dtype`.
fn encode(values: &[f64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|&v| burn::tensor::f16::from_f64(v).to_le_bytes())
            .collect(),
        Dtype::I64 => values
            .iter()
            .flat_map(|&v| (v as i64).to_le_bytes())
            .collect(),
        other => panic!("test encodes no {other:?}"),
    }
}

/// Write `weights` as `folder/model.safetensors` (names prefixed by `prefix`; every tensor as
/// `dtype` except those named in `dtype_of`), plus `embeddings.position_ids` as a real
/// checkpoint has it.
fn write_weights(
    folder: &Path,
    weights: &Weights,
    prefix: &str,
    dtype: Dtype,
    dtype_of: &[(&str, Dtype)],
) {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = weights
        .iter()
        .map(|(name, (shape, values))| {
            let d = dtype_of
                .iter()
                .find(|(n, _)| n == name)
                .map_or(dtype, |(_, d)| *d);
            (
                format!("{prefix}{name}"),
                d,
                shape.clone(),
                encode(values, d),
            )
        })
        .collect();
    let positions: Vec<f64> = (0..P).map(|p| p as f64).collect();
    owned.push((
        format!("{prefix}embeddings.position_ids"),
        Dtype::I64,
        vec![1, P],
        encode(&positions, Dtype::I64),
    ));
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(name, d, shape, bytes)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(*d, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(folder.join(WEIGHTS_FILE), bytes).unwrap();
}

/// A temporary Hugging Face folder with the tiny model.
fn tiny_folder(weights: &Weights) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CONFIG_FILE), config_json()).unwrap();
    write_weights(dir.path(), weights, "", Dtype::F32, &[]);
    dir
}

// ---------------------------------------------------------------------------------------------
// Scalar reference (one row, no padding)
// ---------------------------------------------------------------------------------------------

/// erf by its Maclaurin series for |x| < 3 (terms peak near 1e3: ~1e-13 absolute error) and by
/// the continued fraction of erfc beyond (Lentz's method).
fn erf(x: f64) -> f64 {
    if x.abs() < 3.0 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let a = x.abs();
        // erfc(a) = exp(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
        let mut f = a;
        let mut c = a;
        let mut d = 0.0;
        for n in 1..200 {
            let an = n as f64 / 2.0;
            d = 1.0 / (a + an * d);
            c = a + an / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
        (1.0 - erfc) * x.signum()
    }
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn w<'a>(weights: &'a Weights, name: &str) -> &'a [f64] {
    &weights[name].1
}

/// `y[o] = Σ_i W[o][i] x[i] + b[o]` for every row of `x` (`W` in Hugging Face's `[out, in]`).
fn linear(weights: &Weights, name: &str, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let wt = w(weights, &format!("{name}.weight"));
    let b = w(weights, &format!("{name}.bias"));
    let d_out = b.len();
    x.iter()
        .map(|row| {
            (0..d_out)
                .map(|o| {
                    b[o] + row
                        .iter()
                        .enumerate()
                        .map(|(i, v)| wt[o * row.len() + i] * v)
                        .sum::<f64>()
                })
                .collect()
        })
        .collect()
}

fn layer_norm(weights: &Weights, name: &str, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let g = w(weights, &format!("{name}.weight"));
    let b = w(weights, &format!("{name}.bias"));
    x.iter()
        .map(|row| {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            row.iter()
                .enumerate()
                .map(|(i, v)| (v - mean) / (var + EPS).sqrt() * g[i] + b[i])
                .collect()
        })
        .collect()
}

fn add(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(u, v)| u + v).collect())
        .collect()
}

/// The last hidden state `[n][H]` of one unpadded row.
fn reference(weights: &Weights, ids: &[usize], types: &[usize]) -> Vec<Vec<f64>> {
    let word = w(weights, "embeddings.word_embeddings.weight");
    let pos = w(weights, "embeddings.position_embeddings.weight");
    let typ = w(weights, "embeddings.token_type_embeddings.weight");
    let n = ids.len();
    let x: Vec<Vec<f64>> = (0..n)
        .map(|t| {
            (0..H)
                .map(|j| word[ids[t] * H + j] + pos[t * H + j] + typ[types[t] * H + j])
                .collect()
        })
        .collect();
    let mut x = layer_norm(weights, "embeddings.LayerNorm", &x);
    let dh = H / HEADS;
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        let q = linear(weights, &format!("{p}attention.self.query"), &x);
        let k = linear(weights, &format!("{p}attention.self.key"), &x);
        let v = linear(weights, &format!("{p}attention.self.value"), &x);
        let mut context = vec![vec![0.0; H]; n];
        for h in 0..HEADS {
            let cols = h * dh..(h + 1) * dh;
            for t in 0..n {
                let scores: Vec<f64> = (0..n)
                    .map(|u| {
                        cols.clone().map(|c| q[t][c] * k[u][c]).sum::<f64>() / (dh as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = exps.iter().sum();
                for c in cols.clone() {
                    context[t][c] = (0..n).map(|u| exps[u] / z * v[u][c]).sum();
                }
            }
        }
        let projected = linear(weights, &format!("{p}attention.output.dense"), &context);
        let a = layer_norm(
            weights,
            &format!("{p}attention.output.LayerNorm"),
            &add(&projected, &x),
        );
        let inner: Vec<Vec<f64>> = linear(weights, &format!("{p}intermediate.dense"), &a)
            .into_iter()
            .map(|row| row.into_iter().map(gelu).collect())
            .collect();
        let out = linear(weights, &format!("{p}output.dense"), &inner);
        x = layer_norm(weights, &format!("{p}output.LayerNorm"), &add(&out, &a));
    }
    x
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Rows of ids (each row its real tokens) padded with 0 to `t`, with their types and mask.
fn batch(
    rows: &[(Vec<usize>, Vec<usize>)],
    t: usize,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Bool>) {
    let pad =
        |r: &[usize]| -> Vec<i64> { (0..t).map(|i| r.get(i).map_or(0, |&v| v as i64)).collect() };
    let ids: Vec<Vec<i64>> = rows.iter().map(|(ids, _)| pad(ids)).collect();
    let types: Vec<Vec<i64>> = rows.iter().map(|(_, ty)| pad(ty)).collect();
    let lengths: Vec<usize> = rows.iter().map(|(ids, _)| ids.len()).collect();
    (
        ints2(&ids, device),
        ints2(&types, device),
        lengths_mask(&lengths, t, device),
    )
}

fn sample_rows() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![2, 17, 5, 29, 11], vec![0, 0, 0, 1, 1]),
        (vec![3, 8, 21], vec![0, 0, 0]),
        (vec![26], vec![1]),
    ]
}

fn load(folder: &Path, device: &Device) -> Bert {
    load_bert(folder, device).unwrap().1
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

#[test]
fn erf_reference_matches_known_values() {
    // Values of erf to 16 digits (e.g. Abramowitz & Stegun table 7.1, or mpmath).
    for (x, want) in [
        (0.0, 0.0),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (2.9, 0.999_958_902_121_900_2),
        (3.5, 0.999_999_256_901_627_7),
        (-1.0, -0.842_700_792_949_714_9),
        (-4.0, -0.999_999_984_582_742_1),
    ] {
        assert!(
            (erf(x) - want).abs() < 1e-13,
            "erf({x}) = {} vs {want}",
            erf(x)
        );
    }
}

#[test]
fn forward_matches_the_scalar_reference() {
    let weights = tiny_weights(11);
    let dir = tiny_folder(&weights);
    let device = dev();
    let (config, bert) = load_bert(dir.path(), &device).unwrap();
    assert_eq!((config.hidden_size, config.num_hidden_layers), (H, LAYERS));
    assert_eq!(bert.output_dim(), H);
    let rows = sample_rows();
    let t = 7;
    let (ids, types, mask) = batch(&rows, t, &device);
    let out = to_vec(bert.forward(ids, types, mask));
    let mut max_err = 0f64;
    for (b, (row_ids, row_types)) in rows.iter().enumerate() {
        let want = reference(&weights, row_ids, row_types);
        for pos in 0..t {
            for j in 0..H {
                let got = out[(b * t + pos) * H + j] as f64;
                if pos < row_ids.len() {
                    max_err = max_err.max((got - want[pos][j]).abs());
                } else {
                    assert_eq!(got, 0.0, "padded output [{b}, {pos}, {j}] is not zero");
                }
            }
        }
    }
    assert!(max_err <= 1e-5, "max |burn - f64 reference| = {max_err}");
    // The outputs are not trivially equal (e.g. all zeros): rows differ.
    assert!((out[0] - out[t * H]).abs() > 1e-3);
}

#[test]
fn prefixed_names_and_f16_weights_load() {
    let weights = tiny_weights(12);
    let device = dev();
    let plain = tiny_folder(&weights);
    let want = to_vec(
        load(plain.path(), &device)
            .embeddings
            .word_embeddings
            .weight
            .val(),
    );

    // `bert.`-prefixed names (BertForMaskedLM-style checkpoints) plus an MLM head tensor.
    let prefixed = tempfile::tempdir().unwrap();
    std::fs::write(prefixed.path().join(CONFIG_FILE), config_json()).unwrap();
    let mut with_head = weights.clone();
    with_head.insert("cls.predictions.bias".into(), (vec![V], vec![0.5; V]));
    write_weights(prefixed.path(), &with_head, "bert.", Dtype::F32, &[]);
    let rows = sample_rows();
    let (ids, types, mask) = batch(&rows, 5, &device);
    let a = to_vec(load(plain.path(), &device).forward(ids.clone(), types.clone(), mask.clone()));
    let b = to_vec(load(prefixed.path(), &device).forward(ids, types, mask));
    assert_eq!(a, b);

    // f16 weights: converted to f32 exactly (every f16 is an f32).
    let half = tempfile::tempdir().unwrap();
    std::fs::write(half.path().join(CONFIG_FILE), config_json()).unwrap();
    write_weights(half.path(), &weights, "", Dtype::F16, &[]);
    let got = to_vec(
        load(half.path(), &device)
            .embeddings
            .word_embeddings
            .weight
            .val(),
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(*g, burn::tensor::f16::from_f32(*w).to_f32());
    }
    assert!(
        got.iter().zip(&want).any(|(g, w)| g != w),
        "f16 rounding is visible"
    );
}

#[test]
fn linear_weights_are_transposed_on_load() {
    let weights = tiny_weights(13);
    let dir = tiny_folder(&weights);
    let bert = load(dir.path(), &dev());
    let got = to_vec(bert.encoder.layer[1].intermediate.weight.val()); // burn [in = H, out = I]
    let hf = w(&weights, "encoder.layer.1.intermediate.dense.weight"); // HF [out = I, in = H]
    for i in 0..H {
        for o in 0..I {
            assert_eq!(got[i * I + o] as f64, hf[o * H + i]);
        }
    }
}

#[test]
fn padding_never_changes_a_result() {
    let weights = tiny_weights(14);
    let dir = tiny_folder(&weights);
    let device = dev();
    let bert = load(dir.path(), &device);
    let rows = sample_rows();
    let padded_to = |t: usize| {
        let (ids, types, mask) = batch(&rows, t, &device);
        to_vec(bert.forward(ids, types, mask))
    };
    let (short, long) = (padded_to(5), padded_to(12));
    for (b, row) in rows.iter().enumerate() {
        let n = row.0.len();
        let (ids, types, mask) = batch(std::slice::from_ref(row), n, &device);
        let alone = to_vec(bert.forward(ids, types, mask));
        for pos in 0..n {
            for j in 0..H {
                let a = alone[pos * H + j];
                let s = short[(b * 5 + pos) * H + j];
                let l = long[(b * 12 + pos) * H + j];
                assert!(
                    (a - s).abs() <= 1e-6,
                    "[{b},{pos},{j}] T=5: {s} vs alone {a}"
                );
                assert!(
                    (a - l).abs() <= 1e-6,
                    "[{b},{pos},{j}] T=12: {l} vs alone {a}"
                );
            }
        }
    }
    // What padded positions hold does not matter either: other ids behind the mask.
    let (ids, types, mask) = batch(&rows, 5, &device);
    let noise = ints2(&vec![vec![7; 5]; rows.len()], &device);
    let ids = ids.mask_where(mask.clone().bool_not(), noise);
    let masked_noise = to_vec(bert.forward(ids, types, mask));
    crate::test_util::assert_close(&masked_noise, &short, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Gradients: burn's backward against finite differences of the f64 reference
// ---------------------------------------------------------------------------------------------

/// `Σ_rows Σ_real positions Σ_j c[b][t][j] · out[b][t][j]` by the reference.
fn reference_objective(
    weights: &Weights,
    rows: &[(Vec<usize>, Vec<usize>)],
    coef: &[f64],
    t: usize,
) -> f64 {
    rows.iter()
        .enumerate()
        .map(|(b, (ids, types))| {
            let out = reference(weights, ids, types);
            out.iter()
                .enumerate()
                .map(|(pos, v)| {
                    v.iter()
                        .enumerate()
                        .map(|(j, x)| coef[(b * t + pos) * H + j] * x)
                        .sum::<f64>()
                })
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn gradients_match_finite_differences_of_the_reference() {
    let weights = tiny_weights(15);
    let dir = tiny_folder(&weights);
    let device = ad_dev();
    let bert = load(dir.path(), &device);
    let rows = sample_rows();
    let t = 6;
    let mut rng = Rng(99);
    let coef: Vec<f64> = (0..rows.len() * t * H).map(|_| rng.next()).collect();
    let (ids, types, mask) = batch(&rows, t, &device);
    let c = Tensor::<3>::from_data(
        TensorData::new(
            coef.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            [rows.len(), t, H],
        ),
        &device,
    );
    let grads = (bert.forward(ids, types, mask) * c).sum().backward();

    // (HF name, burn gradient in HF layout, entries to check)
    let transposed = |g: Vec<f32>, d_in: usize, d_out: usize| -> Vec<f32> {
        let mut out = vec![0.0; g.len()];
        for i in 0..d_in {
            for o in 0..d_out {
                out[o * d_in + i] = g[i * d_out + o];
            }
        }
        out
    };
    let l0 = &bert.encoder.layer[0];
    let l1 = &bert.encoder.layer[1];
    let grad = |p: &burn::module::Param<Tensor<2>>| to_vec(p.val().grad(&grads).unwrap());
    let grad1 = |p: &burn::module::Param<Tensor<1>>| to_vec(p.val().grad(&grads).unwrap());
    let checks: Vec<(&str, Vec<f32>, Vec<usize>)> = vec![
        // Input embeddings: rows of ids in the batch (2, 17, 26), and one not in it (4).
        (
            "embeddings.word_embeddings.weight",
            grad(&bert.embeddings.word_embeddings.weight),
            vec![2 * H, 17 * H + 3, 26 * H + 7, 4 * H + 1],
        ),
        (
            "embeddings.position_embeddings.weight",
            grad(&bert.embeddings.position_embeddings.weight),
            vec![0, 4 * H + 2, 6 * H],
        ),
        (
            "embeddings.token_type_embeddings.weight",
            grad(&bert.embeddings.token_type_embeddings.weight),
            vec![1, H + 5],
        ),
        (
            "embeddings.LayerNorm.weight",
            grad1(&bert.embeddings.layer_norm.gamma),
            vec![0, 5],
        ),
        (
            "encoder.layer.0.attention.self.query.weight",
            transposed(grad(&l0.attention.query.weight), H, H),
            vec![0, 3 * H + 6, 7 * H + 1],
        ),
        (
            "encoder.layer.0.attention.self.key.bias",
            grad1(l0.attention.key.bias.as_ref().unwrap()),
            vec![1, 6],
        ),
        (
            "encoder.layer.0.attention.self.value.weight",
            transposed(grad(&l0.attention.value.weight), H, H),
            vec![2 * H + 2, 5 * H + 7],
        ),
        (
            "encoder.layer.1.intermediate.dense.weight",
            transposed(grad(&l1.intermediate.weight), H, I),
            vec![0, 9 * H + 4, 15 * H + 7],
        ),
        (
            "encoder.layer.1.output.dense.weight",
            transposed(grad(&l1.output.weight), I, H),
            vec![3, 4 * I + 11],
        ),
        (
            "encoder.layer.1.output.LayerNorm.bias",
            grad1(l1.output_layer_norm.beta.as_ref().unwrap()),
            vec![0, 7],
        ),
    ];
    let eps = 1e-5;
    for (name, got, entries) in checks {
        for k in entries {
            let mut plus = weights.clone();
            plus.get_mut(name).unwrap().1[k] += eps;
            let mut minus = weights.clone();
            minus.get_mut(name).unwrap().1[k] -= eps;
            let fd = (reference_objective(&plus, &rows, &coef, t)
                - reference_objective(&minus, &rows, &coef, t))
                / (2.0 * eps);
            let g = got[k] as f64;
            assert!(
                (g - fd).abs() <= 1e-3 * (1.0 + fd.abs()),
                "d/d {name}[{k}]: burn {g} vs finite difference {fd}"
            );
        }
    }
    // Id 4 is not in the batch: its row gets exactly zero gradient (no leak through padding).
    let word = grad(&bert.embeddings.word_embeddings.weight);
    assert!(word[4 * H..5 * H].iter().all(|v| *v == 0.0));
    assert!(
        word[0..H].iter().all(|v| *v == 0.0),
        "padding id 0 gets no gradient"
    );
}

// ---------------------------------------------------------------------------------------------
// Poolers on top
// ---------------------------------------------------------------------------------------------

#[test]
fn cls_pooler_takes_the_first_token_and_boe_mean_is_the_masked_mean() {
    let weights = tiny_weights(16);
    let dir = tiny_folder(&weights);
    let device = dev();
    let bert = load(dir.path(), &device);
    let mut rows = sample_rows();
    rows.push((vec![], vec![])); // an all-padding row (an empty field)
    let t = 6;
    let (ids, types, mask) = batch(&rows, t, &device);
    let hidden = bert.forward(ids, types, mask.clone());
    let h = to_vec(hidden.clone());

    let cls: crate::Seq2VecEncoderConfig = serde_json::from_str(r#"{"cls_pooler": {}}"#).unwrap();
    let cls = cls.init(H, &device).unwrap();
    assert_eq!(cls.output_dim(), H);
    let pooled = to_vec(cls.forward(hidden.clone(), mask.clone()));
    let mean: crate::Seq2VecEncoderConfig =
        serde_json::from_str(r#"{"boe": {"averaged": true}}"#).unwrap();
    let mean = to_vec(mean.init(H, &device).unwrap().forward(hidden, mask));
    for (b, (ids, _)) in rows.iter().enumerate() {
        let n = ids.len();
        for j in 0..H {
            let first = if n > 0 { h[(b * t) * H + j] } else { 0.0 };
            assert_eq!(pooled[b * H + j], first, "cls [{b}, {j}]");
            // sentence-transformers' mean pooling: Σ real token vectors / number of real tokens.
            let want = if n == 0 {
                0.0
            } else {
                (0..n).map(|p| h[(b * t + p) * H + j] as f64).sum::<f64>() / n as f64
            };
            assert!(
                (mean[b * H + j] as f64 - want).abs() <= 1e-6,
                "mean [{b}, {j}]: {} vs {want}",
                mean[b * H + j]
            );
        }
    }
    assert!(
        serde_json::from_str::<crate::Seq2VecEncoderConfig>(r#"{"cls_pooler": {"x": 1}}"#).is_err()
    );
    let wrong: crate::Seq2VecEncoderConfig =
        serde_json::from_str(r#"{"cls_pooler": {"embedding_dim": 5}}"#).unwrap();
    assert!(matches!(
        wrong.init(H, &device),
        Err(ModuleError::DimMismatch { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Bad folders
// ---------------------------------------------------------------------------------------------

fn load_err(folder: &Path) -> ModuleError {
    match load_bert(folder, &dev()) {
        Ok(_) => panic!("{} loaded", folder.display()),
        Err(e) => e,
    }
}

fn folder_with(config: &str, weights: Option<(&Weights, &[(&str, Dtype)])>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CONFIG_FILE), config).unwrap();
    if let Some((w, dtypes)) = weights {
        write_weights(dir.path(), w, "", Dtype::F32, dtypes);
    }
    dir
}

#[test]
fn every_bad_folder_gives_its_error() {
    let weights = tiny_weights(17);
    let good = config_json();

    let missing = Path::new("/nonexistent/model/folder");
    let e = load_err(missing);
    assert!(
        matches!(&e, ModuleError::ModelFile { path, .. } if path == missing),
        "{e}"
    );
    assert!(e.to_string().contains("/nonexistent/model/folder"), "{e}");

    let no_config = tempfile::tempdir().unwrap();
    let e = load_err(no_config.path());
    assert!(
        matches!(&e, ModuleError::ModelFile { path, .. } if path.ends_with(CONFIG_FILE)),
        "{e}"
    );
    assert!(e.to_string().contains("config.json"), "{e}");

    let no_weights = folder_with(&good, None);
    let e = load_err(no_weights.path());
    assert!(
        matches!(&e, ModuleError::ModelFile { path, .. } if path.ends_with(WEIGHTS_FILE)),
        "{e}"
    );
    assert!(e.to_string().contains("model.safetensors"), "{e}");

    let bad_json = folder_with("{\"hidden_size\": 8,", Some((&weights, &[])));
    let e = load_err(bad_json.path());
    assert!(matches!(&e, ModuleError::ModelConfig { .. }), "{e}");
    assert!(e.to_string().contains("config.json"), "{e}");

    let wrong_type = folder_with("{\"hidden_size\": \"eight\"}", None);
    let e = load_err(wrong_type.path());
    assert!(matches!(&e, ModuleError::ModelConfig { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("config.json: hidden_size: invalid type"),
        "{e}"
    );

    for (key, from, to) in [
        ("model_type", "\"bert\"", "\"roberta\""),
        ("hidden_act", "\"gelu\"", "\"swish\""),
        (
            "position_embedding_type",
            "\"absolute\"",
            "\"relative_key\"",
        ),
    ] {
        let text = good.replace(&format!("\"{key}\": {from}"), &format!("\"{key}\": {to}"));
        assert_ne!(text, good);
        let dir = folder_with(&text, Some((&weights, &[])));
        let e = load_err(dir.path());
        assert!(
            matches!(&e, ModuleError::Unsupported { key: k, .. } if k == key),
            "{key}: {e}"
        );
        assert!(e.to_string().contains("config.json"), "{e}");
        assert!(e.to_string().contains(to.trim_matches('"')), "{e}");
    }

    let heads = folder_with(
        &good.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"),
        Some((&weights, &[])),
    );
    let e = load_err(heads.path());
    assert!(matches!(&e, ModuleError::ModelConfig { .. }), "{e}");
    assert!(e.to_string().contains("num_attention_heads"), "{e}");

    let name = "encoder.layer.1.attention.self.key.weight";
    let mut without = weights.clone();
    without.remove(name);
    let dir = folder_with(&good, Some((&without, &[])));
    let e = load_err(dir.path());
    assert!(
        matches!(&e, ModuleError::MissingWeight { tensor, path } if tensor == name && path.ends_with(WEIGHTS_FILE)),
        "{e}"
    );
    assert!(e.to_string().contains(name), "{e}");

    let mut misshapen = weights.clone();
    misshapen.insert(
        "encoder.layer.0.intermediate.dense.weight".into(),
        (vec![H, I], vec![0.0; H * I]), // [in, out] instead of [out, in]
    );
    let dir = folder_with(&good, Some((&misshapen, &[])));
    let e = load_err(dir.path());
    match &e {
        ModuleError::WeightShape {
            tensor,
            expected,
            found,
            ..
        } => {
            assert_eq!(tensor, "encoder.layer.0.intermediate.dense.weight");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[I, H][..], &[H, I][..])
            );
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("expected [16, 8]"), "{e}");

    let bigger_vocab = folder_with(
        &good.replace("\"vocab_size\": 30", "\"vocab_size\": 31"),
        Some((&weights, &[])),
    );
    let e = load_err(bigger_vocab.path());
    assert!(
        matches!(&e, ModuleError::WeightShape { tensor, .. } if tensor == "embeddings.word_embeddings.weight"),
        "{e}"
    );

    let int_weight = "embeddings.LayerNorm.bias";
    let dir = folder_with(&good, Some((&weights, &[(int_weight, Dtype::I64)])));
    let e = load_err(dir.path());
    assert!(
        matches!(&e, ModuleError::WeightDtype { tensor, dtype, .. } if tensor == int_weight && dtype == "I64"),
        "{e}"
    );

    let garbage = folder_with(&good, None);
    std::fs::write(garbage.path().join(WEIGHTS_FILE), b"not a safetensors file").unwrap();
    let e = load_err(garbage.path());
    assert!(matches!(&e, ModuleError::Safetensors { .. }), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// The embedder
// ---------------------------------------------------------------------------------------------

fn embedder_config(folder: &Path, extra: &str) -> crate::TextFieldEmbedderConfig {
    serde_json::from_str(&format!(
        r#"{{"transformer": {{"model_name": {:?}{extra}}}}}"#,
        folder.to_str().unwrap()
    ))
    .unwrap()
}

#[test]
fn embedder_config_checks() {
    let weights = tiny_weights(18);
    let dir = tiny_folder(&weights);
    let device = dev();

    let cfg = embedder_config(dir.path(), r#", "max_length": 10"#);
    let t = cfg.transformer.as_ref().unwrap();
    assert_eq!((t.max_length, t.trainable), (10, true));
    assert_eq!(cfg.output_dim().unwrap(), H);

    let too_long = embedder_config(dir.path(), r#", "max_length": 17"#);
    let e = too_long.output_dim().unwrap_err();
    assert!(
        matches!(&e, ModuleError::Invalid { what, .. } if what == "text_field_embedder.transformer"),
        "{e}"
    );
    assert!(e.to_string().contains("max_position_embeddings"), "{e}");
    assert!(too_long.init_with_vocab(&[], &[], 0, &device).is_err());

    let both: crate::TextFieldEmbedderConfig = serde_json::from_str(&format!(
        r#"{{"tokens": {{"embedding": {{"embedding_dim": 5}}}},
             "transformer": {{"model_name": {:?}}}}}"#,
        dir.path().to_str().unwrap()
    ))
    .unwrap();
    let e = both.output_dim().unwrap_err();
    assert!(
        matches!(&e, ModuleError::Invalid { what, .. } if what == "text_field_embedder"),
        "{e}"
    );

    assert!(
        serde_json::from_str::<crate::TextFieldEmbedderConfig>(
            r#"{"transformer": {"model_name": "x", "pooling": "mean"}}"#
        )
        .unwrap_err()
        .to_string()
        .contains("unknown field")
    );

    // The pretrained build equals `load_bert`; the random build needs only the config (here
    // attached, with the folder gone: an archive's case) and has the same parameter shapes.
    let (emb, reports) = cfg.init_with_vocab(&[], &[], 0, &device).unwrap();
    assert!(reports.is_empty());
    assert_eq!(emb.output_dim(), H);
    let (ids, types, mask) = batch(&sample_rows(), 5, &device);
    let via_embedder = to_vec(emb.forward(ids.clone(), None, mask.clone()));
    let direct =
        to_vec(load(dir.path(), &device).forward(ids.clone(), types.zeros_like(), mask.clone()));
    assert_eq!(via_embedder, direct);

    let bert_config = BertConfig::from_file(&dir.path().join(CONFIG_FILE)).unwrap();
    let mut detached = embedder_config(Path::new("/nonexistent/folder"), r#", "max_length": 10"#);
    detached.transformer = detached
        .transformer
        .map(|t| t.with_bert_config(bert_config));
    assert_eq!(detached.output_dim().unwrap(), H);
    let random = detached.init((0, 0), &device).unwrap();
    assert_eq!(random.output_dim(), H);
    assert_eq!(random.num_params(), emb.num_params());
    let out = random.forward(ids, None, mask);
    assert_eq!(out.dims(), [3, 5, H]);
    assert!(to_vec(out).iter().all(|v| v.is_finite()));
    assert!(
        embedder_config(Path::new("/nonexistent/folder"), "")
            .output_dim()
            .is_err()
    );
}

/// The embedder and a head that trains.
#[derive(burn::module::Module, Debug)]
struct Probe {
    embedder: crate::TextFieldEmbedder,
    head: burn::nn::Linear,
}

#[test]
fn trainable_false_freezes_the_transformer() {
    let weights = tiny_weights(19);
    let dir = tiny_folder(&weights);
    let device = ad_dev();
    let (ids, _, mask) = batch(&sample_rows(), 5, &device);
    let step = |trainable: bool| -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let cfg = embedder_config(
            dir.path(),
            &format!(r#", "max_length": 16, "trainable": {trainable}"#),
        );
        let (embedder, _) = cfg.init_with_vocab(&[], &[], 0, &device).unwrap();
        let probe = Probe {
            embedder,
            head: burn::nn::LinearConfig::new(H, 1).init(&device),
        };
        let bert_before = to_vec(
            probe
                .embedder
                .transformer
                .as_ref()
                .unwrap()
                .transformer
                .encoder
                .layer[0]
                .attention
                .query
                .weight
                .val(),
        );
        let head_before = to_vec(probe.head.weight.val());
        let loss = probe
            .head
            .forward(probe.embedder.forward(ids.clone(), None, mask.clone()))
            .powi_scalar(2)
            .sum();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &probe);
        let mut optim = burn::optim::SgdConfig::new().init();
        let probe = optim.step(0.1, probe, grads);
        let bert_after = to_vec(
            probe
                .embedder
                .transformer
                .as_ref()
                .unwrap()
                .transformer
                .encoder
                .layer[0]
                .attention
                .query
                .weight
                .val(),
        );
        (
            bert_before,
            bert_after,
            head_before,
            to_vec(probe.head.weight.val()),
        )
    };
    let (b0, b1, h0, h1) = step(false);
    assert_eq!(b0, b1, "a frozen transformer's weights changed");
    assert_ne!(h0, h1, "the head did not train");
    let (b0, b1, h0, h1) = step(true);
    assert_ne!(b0, b1, "a trainable transformer did not train");
    assert_ne!(h0, h1);
}

#[test]
fn parameter_paths_contain_transformer() {
    let weights = tiny_weights(20);
    let dir = tiny_folder(&weights);
    let (emb, _) = embedder_config(dir.path(), r#", "max_length": 16"#)
        .init_with_vocab(&[], &[], 0, &dev())
        .unwrap();
    let probe = Probe {
        embedder: emb,
        head: burn::nn::LinearConfig::new(H, 1).init(&dev()),
    };
    let paths = crate::test_util::param_paths(&probe);
    assert!(
        paths.contains(
            &"embedder.transformer.transformer.encoder.layer.0.attention.query.weight".to_string()
        ),
        "{paths:?}"
    );
    let in_transformer = paths.iter().filter(|p| p.contains("transformer")).count();
    // 5 embedding tensors + 16 per layer; everything but the head's 2.
    assert_eq!(in_transformer, 5 + 16 * LAYERS, "{paths:?}");
    assert_eq!(paths.len(), in_transformer + 2);
}
