//! The fused recurrence cells of the cube backends (`biome_kernels::cube::{lstm_cell,
//! gru_cell}`, one CubeCL launch per step and direction, hand-written backward) on wgpu
//! (lavapipe in CI): each cell against a scalar f64 reference, and the masked LSTM and GRU with
//! them against the composed step loop
//! (`BIOME_FUSED_CUBE_RNN`'s scoped override), forward and every gradient, with rows of
//! different lengths (one empty) and both directions.
//!
//! Tolerances: both sides are f32 on the same device and differ only in rounding (the kernel
//! adds `xp + hp` and evaluates sigmoid/tanh through `exp` in its own order; the composed path
//! uses burn's kernels and WGSL's builtins), a few ulps per op; the gates are contractions, so
//! over these ≤ 6 steps the error stays near 1e-6 on values of order 1. 1e-5 absolute plus 1e-4
//! relative is ten times that, and far below any real mistake (a wrong gate or a missed carry
//! moves values by 1e-2 or more).

use biome::Device;
use biome::biome_kernels::{FusedOp, composed_only, cube, with_fused_ops};
use biome::biome_modules::rnn::{MaskedRnn, RnnCell, RnnConfig};
use biome::burn::prelude::*;
use biome::burn::tensor::TensorData;

fn wgpu() -> Device {
    biome::device_from_name("wgpu").expect("the wgpu device")
}

/// xorshift64*, uniform in `[-scale, scale)`.
fn random(seed: u64, n: usize, scale: f64) -> Vec<f64> {
    let mut state = seed.max(1);
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            ((v as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensor<const D: usize>(data: &[f64], dims: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, dims), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn assert_close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-5 + 1e-4 * e.abs(),
            "{what}[{i}]: {a} vs expected {e}"
        );
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Rows 0 and 2 real, row 1 padded; pre-activations up to ±6 so the gates leave their linear
/// range, and one large one (40) where a naive tanh overflows.
#[test]
fn the_cell_matches_a_scalar_reference_and_carries_padded_rows() {
    let device = wgpu();
    let (batch, hidden) = (3, 2);
    let gates = 4 * hidden;
    let mut xp = random(11, batch * gates, 3.0);
    xp[2 * hidden] = 40.0; // row 0, the g gate of unit 0
    let hp = random(12, batch * gates, 3.0);
    let state = random(13, batch * 2 * hidden, 1.0);
    let real = [1.0, 0.0, 1.0];
    // The step's rows at an offset in a longer mask (the previous step's rows, all real, first).
    let mask = [1.0, 1.0, 1.0, real[0], real[1], real[2]];

    let fused = cube::lstm_cell(
        &tensor(&xp, [batch, gates], &device),
        &tensor(&hp, [batch, gates], &device),
        &tensor(&state, [batch, 2 * hidden], &device),
        &tensor(&mask, [2 * batch], &device),
        batch,
    )
    .expect("the cube cell runs on wgpu");

    let mut expected = vec![0.0; batch * 2 * hidden];
    for b in 0..batch {
        for j in 0..hidden {
            let pre = |k: usize| xp[b * gates + k * hidden + j] + hp[b * gates + k * hidden + j];
            let (h_prev, c_prev) = (
                state[b * 2 * hidden + j],
                state[b * 2 * hidden + hidden + j],
            );
            let (h, c) = if real[b] == 1.0 {
                let c = sigmoid(pre(1)) * c_prev + sigmoid(pre(0)) * pre(2).tanh();
                (sigmoid(pre(3)) * c.tanh(), c)
            } else {
                (h_prev, c_prev)
            };
            expected[b * 2 * hidden + j] = h;
            expected[b * 2 * hidden + hidden + j] = c;
        }
    }
    assert_close(&values(fused), &expected, "cell state");
}

/// The GRU cell on the same kind of inputs: rows 0 and 2 real, row 1 padded.
#[test]
fn the_gru_cell_matches_a_scalar_reference_and_carries_padded_rows() {
    let device = wgpu();
    let (batch, hidden) = (3, 2);
    let gates = 3 * hidden;
    let mut xp = random(31, batch * gates, 3.0);
    xp[2 * hidden] = 40.0; // row 0, the n gate of unit 0
    let hp = random(32, batch * gates, 3.0);
    let state = random(33, batch * hidden, 1.0);
    let bias_hn = random(34, hidden, 1.0);
    let real = [1.0, 0.0, 1.0];

    let fused = cube::gru_cell(
        &tensor(&xp, [batch, gates], &device),
        &tensor(&hp, [batch, gates], &device),
        &tensor(&state, [batch, hidden], &device),
        &tensor(&bias_hn, [hidden], &device),
        &tensor(&real, [batch], &device),
        0,
    )
    .expect("the cube cell runs on wgpu");

    let mut expected = vec![0.0; batch * hidden];
    for b in 0..batch {
        for j in 0..hidden {
            let x = |k: usize| xp[b * gates + k * hidden + j];
            let h = |k: usize| hp[b * gates + k * hidden + j];
            let h_prev = state[b * hidden + j];
            expected[b * hidden + j] = if real[b] == 1.0 {
                let r = sigmoid(x(0) + h(0));
                let z = sigmoid(x(1) + h(1));
                let n = (x(2) + r * (h(2) + bias_hn[j])).tanh();
                (1.0 - z) * n + z * h_prev
            } else {
                h_prev
            };
        }
    }
    assert_close(&values(fused), &expected, "gru cell state");
}

#[test]
fn the_cell_answers_none_where_the_composed_path_must_run() {
    let x = |device: &Device| Tensor::<2>::zeros([2, 8], device);
    let (state, real) = (
        Tensor::<2>::zeros([2, 4], &wgpu()),
        Tensor::<1>::zeros([2], &wgpu()),
    );
    let on_wgpu = || cube::lstm_cell(&x(&wgpu()), &x(&wgpu()), &state, &real, 0);
    assert!(on_wgpu().is_some());
    assert!(with_fused_ops(&[FusedOp::CubeRecurrence], on_wgpu).is_some());
    assert!(composed_only(on_wgpu).is_none());
    // The masked LSTM asks `runs_on` with its (autodiff) input: the fused loop runs in training.
    assert!(cube::runs_on(&Tensor::<3>::zeros(
        [1, 1, 1],
        &wgpu().autodiff()
    )));
    assert!(!composed_only(|| cube::runs_on(&x(&wgpu()))));
    // Off the cube backends.
    let flex = Device::flex();
    let flex_state = Tensor::<2>::zeros([2, 4], &flex);
    let flex_real = Tensor::<1>::zeros([2], &flex);
    assert!(cube::lstm_cell(&x(&flex), &x(&flex), &flex_state, &flex_real, 0).is_none());
    // Shapes that do not fit: the state must be [B, 2H].
    let wrong = Tensor::<2>::zeros([2, 6], &wgpu());
    assert!(cube::lstm_cell(&x(&wgpu()), &x(&wgpu()), &wrong, &real, 0).is_none());
    // A mask too short for the step's rows at its offset.
    assert!(cube::lstm_cell(&x(&wgpu()), &x(&wgpu()), &state, &real, 1).is_none());
    // The GRU: 8 gate columns are not 3 blocks.
    let bias = Tensor::<1>::zeros([2], &wgpu());
    let h = Tensor::<2>::zeros([2, 2], &wgpu());
    assert!(cube::gru_cell(&x(&wgpu()), &x(&wgpu()), &h, &bias, &real, 0).is_none());
    let x6 = Tensor::<2>::zeros([2, 6], &wgpu());
    assert!(cube::gru_cell(&x6, &x6, &h, &bias, &real, 0).is_some());
    assert!(composed_only(|| cube::gru_cell(&x6, &x6, &h, &bias, &real, 0)).is_none());
}

/// Rows of lengths 5, 2, 0 and 4 in 6 steps: padding inside the computed steps, an empty row,
/// and a padded tail past the longest row.
const LENGTHS: [usize; 4] = [5, 2, 0, 4];
const STEPS: usize = 6;
const DIM: usize = 3;

fn mask(device: &Device) -> Tensor<2, Bool> {
    let data: Vec<bool> = LENGTHS
        .iter()
        .flat_map(|&len| (0..STEPS).map(move |t| t < len))
        .collect();
    Tensor::from_data(TensorData::new(data, [LENGTHS.len(), STEPS]), device)
}

/// The loss `Σ w_seq·sequence + Σ w_fin·final` and every gradient: the input's, then each
/// parameter's in layer order.
fn loss_and_gradients(rnn: &MaskedRnn, device: &Device) -> (f64, Vec<Vec<f64>>) {
    let batch = LENGTHS.len();
    let out = rnn.output_dim();
    let x = tensor(
        &random(21, batch * STEPS * DIM, 1.0),
        [batch, STEPS, DIM],
        device,
    )
    .require_grad();
    let m = mask(device);
    let seq = rnn.forward_sequence(x.clone(), m.clone());
    let fin = rnn.forward_final(x.clone(), m);
    let w_seq = tensor(
        &random(22, batch * STEPS * out, 1.0),
        [batch, STEPS, out],
        device,
    );
    let w_fin = tensor(&random(23, batch * out, 1.0), [batch, out], device);
    let loss = (seq * w_seq).sum() + (fin * w_fin).sum();
    let value = values(loss.clone())[0];
    let grads = loss.backward();
    let mut all = vec![values(x.grad(&grads).expect("input gradient"))];
    for layer in &rnn.layers {
        for d in std::iter::once(&layer.forward).chain(layer.backward.as_ref()) {
            all.push(values(d.weight_ih.grad(&grads).expect("w_ih gradient")));
            all.push(values(d.weight_hh.grad(&grads).expect("w_hh gradient")));
            all.push(values(d.bias_ih.grad(&grads).expect("b_ih gradient")));
            all.push(values(d.bias_hh.grad(&grads).expect("b_hh gradient")));
        }
    }
    (value, all)
}

#[test]
fn the_fused_cells_equal_the_composed_path_forward_and_backward() {
    let variants = [
        (RnnCell::Lstm, 1, false),
        (RnnCell::Lstm, 1, true),
        (RnnCell::Lstm, 2, true),
        (RnnCell::Gru, 1, true),
        (RnnCell::Gru, 2, true),
    ];
    for (cell, layers, bidirectional) in variants {
        let what = format!("{cell:?} layers={layers} bidirectional={bidirectional}");
        let device = wgpu().autodiff();
        let config = RnnConfig {
            input_size: None,
            hidden_size: 4,
            num_layers: layers,
            bidirectional,
            dropout: 0.0,
        };
        let rnn = config.init(cell, DIM, &device);

        let (fused_loss, fused) = with_fused_ops(&[FusedOp::CubeRecurrence], || {
            loss_and_gradients(&rnn, &device)
        });
        let (plain_loss, plain) = composed_only(|| loss_and_gradients(&rnn, &device));
        assert_close(&[fused_loss], &[plain_loss], &format!("{what} loss"));
        assert_eq!(fused.len(), plain.len());
        for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
            assert_close(a, b, &format!("{what} gradient {i}"));
        }

        // Inference (no autodiff): the untracked kernel.
        let rnn = rnn.valid();
        let plain_device = wgpu();
        let x = tensor(
            &random(24, LENGTHS.len() * STEPS * DIM, 1.0),
            [LENGTHS.len(), STEPS, DIM],
            &plain_device,
        );
        let m = mask(&plain_device);
        let run = |final_only: bool| {
            if final_only {
                values(rnn.forward_final(x.clone(), m.clone()))
            } else {
                values(rnn.forward_sequence(x.clone(), m.clone()))
            }
        };
        for final_only in [false, true] {
            let fused = with_fused_ops(&[FusedOp::CubeRecurrence], || run(final_only));
            let plain = composed_only(|| run(final_only));
            assert_close(
                &fused,
                &plain,
                &format!("{what} inference final_only={final_only}"),
            );
        }
    }
}
