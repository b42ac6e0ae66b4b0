//! Tests of the masked recurrences against an independent scalar reference (plain `f64` loops
//! over each row's unpadded sequence, the packed-sequence semantics of PyTorch), finite
//! differences, padding invariance, and the bidirectional construction.

use super::*;
use burn::tensor::TensorData;

fn dev() -> Device {
    Device::default()
}

fn ad() -> Device {
    Device::default().autodiff()
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

    fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn config(hidden: usize, layers: usize, bidirectional: bool) -> RnnConfig {
    RnnConfig {
        input_size: None,
        hidden_size: hidden,
        num_layers: layers,
        bidirectional,
        dropout: 0.0,
    }
}

fn tensor<const D: usize>(data: &[f64], dims: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, dims), device)
}

fn mask(lengths: &[usize], steps: usize, device: &Device) -> Tensor<2, Bool> {
    let data: Vec<bool> = lengths
        .iter()
        .flat_map(|&len| (0..steps).map(move |t| t < len))
        .collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), steps]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn assert_close(actual: &[f64], expected: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= atol + rtol * e.abs(),
            "{what}[{i}]: {a} vs expected {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar reference
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct RefDir {
    d_in: usize,
    /// `[w_ih [d_in·GH], w_hh [H·GH], b_ih [GH], b_hh [GH]]`, row-major like the module.
    params: [Vec<f64>; 4],
}

#[derive(Clone)]
struct RefRnn {
    cell: RnnCell,
    hidden: usize,
    layers: Vec<Vec<RefDir>>,
}

/// The module's directions in reference order: layer by layer, forward then backward.
fn directions(rnn: &MaskedRnn) -> Vec<&RnnDirection> {
    rnn.layers
        .iter()
        .flat_map(|l| std::iter::once(&l.forward).chain(l.backward.as_ref()))
        .collect()
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl RefRnn {
    fn from_module(rnn: &MaskedRnn) -> Self {
        let layers = rnn
            .layers
            .iter()
            .map(|l| {
                std::iter::once(&l.forward)
                    .chain(l.backward.as_ref())
                    .map(|d| RefDir {
                        d_in: d.weight_ih.dims()[0],
                        params: [
                            values(d.weight_ih.val()),
                            values(d.weight_hh.val()),
                            values(d.bias_ih.val()),
                            values(d.bias_hh.val()),
                        ],
                    })
                    .collect()
            })
            .collect();
        Self {
            cell: rnn.cell,
            hidden: rnn.hidden_size,
            layers,
        }
    }

    fn param_mut(&mut self, index: usize) -> &mut Vec<f64> {
        let dir = index / 4;
        let dirs = self.layers[0].len();
        &mut self.layers[dir / dirs][dir % dirs].params[index % 4]
    }

    fn num_param_tensors(&self) -> usize {
        self.layers.len() * self.layers[0].len() * 4
    }

    /// Hidden states of one direction over `xs` (`[len][d_in]`).
    fn run_dir(&self, dir: &RefDir, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let h_size = self.hidden;
        let g_size = self.cell.num_gates() * h_size;
        let [w_ih, w_hh, b_ih, b_hh] = &dir.params;
        let mut h = vec![0.0; h_size];
        let mut c = vec![0.0; h_size];
        let mut out = Vec::new();
        for x in xs {
            let mut xi = b_ih.clone();
            let mut hh = b_hh.clone();
            for j in 0..g_size {
                for k in 0..dir.d_in {
                    xi[j] += x[k] * w_ih[k * g_size + j];
                }
                for k in 0..h_size {
                    hh[j] += h[k] * w_hh[k * g_size + j];
                }
            }
            match self.cell {
                RnnCell::Lstm => {
                    for j in 0..h_size {
                        let i = sigmoid64(xi[j] + hh[j]);
                        let f = sigmoid64(xi[h_size + j] + hh[h_size + j]);
                        let g = (xi[2 * h_size + j] + hh[2 * h_size + j]).tanh();
                        let o = sigmoid64(xi[3 * h_size + j] + hh[3 * h_size + j]);
                        c[j] = f * c[j] + i * g;
                        h[j] = o * c[j].tanh();
                    }
                }
                RnnCell::Gru => {
                    for j in 0..h_size {
                        let r = sigmoid64(xi[j] + hh[j]);
                        let z = sigmoid64(xi[h_size + j] + hh[h_size + j]);
                        let n = (xi[2 * h_size + j] + r * hh[2 * h_size + j]).tanh();
                        h[j] = (1.0 - z) * n + z * h[j];
                    }
                }
            }
            out.push(h.clone());
        }
        out
    }

    /// One unpadded row `[len][D]`: outputs `[len][H·dirs]` and final state `[H·dirs]`.
    fn run_row(&self, xs: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut input = xs.to_vec();
        let mut finals = Vec::new();
        for layer in &self.layers {
            let mut outs = vec![Vec::new(); input.len()];
            finals.clear();
            for (d, dir) in layer.iter().enumerate() {
                let hs = if d == 0 {
                    self.run_dir(dir, &input)
                } else {
                    let rev: Vec<_> = input.iter().rev().cloned().collect();
                    let mut hs = self.run_dir(dir, &rev);
                    let fin = hs.last().cloned();
                    hs.reverse();
                    finals.push(fin.unwrap_or_else(|| vec![0.0; self.hidden]));
                    for (o, h) in outs.iter_mut().zip(&hs) {
                        o.extend_from_slice(h);
                    }
                    continue;
                };
                finals.push(hs.last().cloned().unwrap_or_else(|| vec![0.0; self.hidden]));
                for (o, h) in outs.iter_mut().zip(&hs) {
                    o.extend_from_slice(h);
                }
            }
            input = outs;
        }
        (input, finals.concat())
    }

    /// Padded `[B, T, H·dirs]` outputs and `[B, H·dirs]` finals for a padded `[B, T, D]` input.
    fn run_batch(
        &self,
        x: &[f64],
        lengths: &[usize],
        steps: usize,
        dim: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let out_dim = self.hidden * self.layers[0].len();
        let mut seq = vec![0.0; lengths.len() * steps * out_dim];
        let mut fin = Vec::new();
        for (b, &len) in lengths.iter().enumerate() {
            let xs: Vec<Vec<f64>> = (0..len)
                .map(|t| x[(b * steps + t) * dim..(b * steps + t + 1) * dim].to_vec())
                .collect();
            let (outs, f) = self.run_row(&xs);
            for (t, o) in outs.iter().enumerate() {
                let start = (b * steps + t) * out_dim;
                seq[start..start + out_dim].copy_from_slice(o);
            }
            fin.extend(f);
        }
        (seq, fin)
    }
}

// ---------------------------------------------------------------------------------------------
// A fixed problem: padded inputs, lengths and a scalar loss
// ---------------------------------------------------------------------------------------------

struct Problem {
    lengths: Vec<usize>,
    steps: usize,
    dim: usize,
    x: Vec<f64>,
    /// Loss weights on the sequence outputs `[B, T, H·dirs]` and the finals `[B, H·dirs]`.
    w_seq: Vec<f64>,
    w_fin: Vec<f64>,
}

impl Problem {
    fn new(seed: u64, lengths: &[usize], steps: usize, dim: usize, out_dim: usize) -> Self {
        let mut rng = Rng(seed);
        let b = lengths.len();
        Self {
            lengths: lengths.to_vec(),
            steps,
            dim,
            x: rng.vec(b * steps * dim, 1.0),
            w_seq: rng.vec(b * steps * out_dim, 1.0),
            w_fin: rng.vec(b * out_dim, 1.0),
        }
    }

    fn batch(&self) -> usize {
        self.lengths.len()
    }

    fn x_tensor(&self, x: &[f64], device: &Device) -> Tensor<3> {
        tensor(x, [self.batch(), self.steps, self.dim], device)
    }

    /// The module's loss as a tensor (for autodiff).
    fn module_loss(&self, rnn: &MaskedRnn, x: Tensor<3>) -> Tensor<1> {
        let device = x.device();
        let m = mask(&self.lengths, self.steps, &device);
        let out_dim = rnn.output_dim();
        let seq = rnn.forward_sequence(x.clone(), m.clone());
        let fin = rnn.forward_final(x, m);
        let w_seq = tensor(&self.w_seq, [self.batch(), self.steps, out_dim], &device);
        let w_fin = tensor(&self.w_fin, [self.batch(), out_dim], &device);
        (seq * w_seq).sum() + (fin * w_fin).sum()
    }

    fn module_loss_value(&self, rnn: &MaskedRnn, x: &[f64], device: &Device) -> f64 {
        values(self.module_loss(rnn, self.x_tensor(x, device)))[0]
    }

    fn reference_loss(&self, reference: &RefRnn, x: &[f64]) -> f64 {
        let (seq, fin) = reference.run_batch(x, &self.lengths, self.steps, self.dim);
        let a: f64 = seq.iter().zip(&self.w_seq).map(|(a, b)| a * b).sum();
        let b: f64 = fin.iter().zip(&self.w_fin).map(|(a, b)| a * b).sum();
        a + b
    }
}

/// The configurations every property is checked on.
fn variants() -> Vec<(RnnCell, usize, bool)> {
    let mut v = Vec::new();
    for cell in [RnnCell::Lstm, RnnCell::Gru] {
        for (layers, bi) in [(1, false), (1, true), (2, false), (2, true)] {
            v.push((cell, layers, bi));
        }
    }
    v
}

const LENGTHS: [usize; 5] = [5, 2, 0, 3, 5];
const STEPS: usize = 6;
const DIM: usize = 3;
const HIDDEN: usize = 4;

// ---------------------------------------------------------------------------------------------
// 1. Against the scalar reference: forward, input and weight gradients
// ---------------------------------------------------------------------------------------------

#[test]
fn forward_matches_scalar_reference() {
    for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
        let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &dev());
        let reference = RefRnn::from_module(&rnn);
        let p = Problem::new(seed as u64 + 1, &LENGTHS, STEPS, DIM, rnn.output_dim());
        let x = p.x_tensor(&p.x, &dev());
        let m = mask(&p.lengths, p.steps, &dev());
        let seq = values(rnn.forward_sequence(x.clone(), m.clone()));
        let fin = values(rnn.forward_final(x, m));
        let (ref_seq, ref_fin) = reference.run_batch(&p.x, &p.lengths, p.steps, p.dim);
        let what = format!("{cell:?} layers={layers} bi={bi}");
        assert_close(&seq, &ref_seq, 1e-5, 1e-5, &format!("{what} sequence"));
        assert_close(&fin, &ref_fin, 1e-5, 1e-5, &format!("{what} final"));
    }
}

#[test]
fn gradients_match_scalar_reference_finite_differences() {
    let eps = 1e-6;
    for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
        let what = format!("{cell:?} layers={layers} bi={bi}");
        let device = ad();
        let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &device);
        let reference = RefRnn::from_module(&rnn);
        let p = Problem::new(seed as u64 + 100, &LENGTHS, STEPS, DIM, rnn.output_dim());

        let x = p.x_tensor(&p.x, &device).require_grad();
        let grads = p.module_loss(&rnn, x.clone()).backward();

        // Inputs.
        let gx = values(x.grad(&grads).expect("input gradient"));
        let fd_x: Vec<f64> = (0..p.x.len())
            .map(|i| {
                let mut plus = p.x.clone();
                let mut minus = p.x.clone();
                plus[i] += eps;
                minus[i] -= eps;
                (p.reference_loss(&reference, &plus) - p.reference_loss(&reference, &minus))
                    / (2.0 * eps)
            })
            .collect();
        assert_close(&gx, &fd_x, 1e-4, 1e-3, &format!("{what} d/dx"));
        // Padded positions get exactly zero gradient.
        for (b, &len) in p.lengths.iter().enumerate() {
            for t in len..p.steps {
                for k in 0..p.dim {
                    assert_eq!(gx[(b * p.steps + t) * p.dim + k], 0.0, "{what} padded grad");
                }
            }
        }

        // Weights and biases.
        let module_grads: Vec<Vec<f64>> = directions(&rnn)
            .into_iter()
            .flat_map(|d| {
                [
                    values(d.weight_ih.grad(&grads).expect("w_ih grad")),
                    values(d.weight_hh.grad(&grads).expect("w_hh grad")),
                    values(d.bias_ih.grad(&grads).expect("b_ih grad")),
                    values(d.bias_hh.grad(&grads).expect("b_hh grad")),
                ]
            })
            .collect();
        assert_eq!(module_grads.len(), reference.num_param_tensors());
        for (index, grad) in module_grads.iter().enumerate() {
            let fd: Vec<f64> = (0..grad.len())
                .map(|i| {
                    let mut plus = reference.clone();
                    plus.param_mut(index)[i] += eps;
                    let mut minus = reference.clone();
                    minus.param_mut(index)[i] -= eps;
                    (p.reference_loss(&plus, &p.x) - p.reference_loss(&minus, &p.x)) / (2.0 * eps)
                })
                .collect();
            assert_close(grad, &fd, 1e-4, 1e-3, &format!("{what} d/dparam{index}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Finite differences of the module itself (f32)
// ---------------------------------------------------------------------------------------------

#[test]
fn gradients_match_module_finite_differences() {
    let eps = 1e-2;
    for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
        let what = format!("{cell:?} layers={layers} bi={bi}");
        let device = ad();
        let mut rnn = config(HIDDEN, layers, bi).init(cell, DIM, &device);
        let p = Problem::new(seed as u64 + 200, &LENGTHS, STEPS, DIM, rnn.output_dim());

        let x = p.x_tensor(&p.x, &device).require_grad();
        let grads = p.module_loss(&rnn, x.clone()).backward();
        let gx = values(x.grad(&grads).expect("input gradient"));
        let g_hh = values(
            rnn.layers[0]
                .forward
                .weight_hh
                .grad(&grads)
                .expect("w_hh grad"),
        );
        let g_bias = values(
            rnn.layers[layers - 1]
                .backward
                .as_ref()
                .unwrap_or(&rnn.layers[layers - 1].forward)
                .bias_hh
                .grad(&grads)
                .expect("b_hh grad"),
        );

        let fd_x: Vec<f64> = (0..p.x.len())
            .map(|i| {
                let mut plus = p.x.clone();
                let mut minus = p.x.clone();
                plus[i] += eps;
                minus[i] -= eps;
                (p.module_loss_value(&rnn, &plus, &device)
                    - p.module_loss_value(&rnn, &minus, &device))
                    / (2.0 * eps)
            })
            .collect();
        assert_close(&gx, &fd_x, 5e-3, 1e-2, &format!("{what} d/dx (f32 FD)"));

        // A recurrent weight of the bottom layer and a bias of the top layer's last direction.
        let w_hh = values(rnn.layers[0].forward.weight_hh.val());
        let w_dims = rnn.layers[0].forward.weight_hh.dims();
        let mut fd_w = Vec::new();
        for i in 0..w_hh.len() {
            let mut loss_at = |delta: f64| {
                let mut w = w_hh.clone();
                w[i] += delta;
                rnn.layers[0].forward.weight_hh = Param::from_tensor(tensor(&w, w_dims, &device));
                p.module_loss_value(&rnn, &p.x, &device)
            };
            fd_w.push((loss_at(eps) - loss_at(-eps)) / (2.0 * eps));
        }
        rnn.layers[0].forward.weight_hh = Param::from_tensor(tensor(&w_hh, w_dims, &device));
        assert_close(
            &g_hh,
            &fd_w,
            5e-3,
            1e-2,
            &format!("{what} d/dw_hh (f32 FD)"),
        );

        let top = rnn.layers.len() - 1;
        let bias = {
            let d = rnn.layers[top]
                .backward
                .as_ref()
                .unwrap_or(&rnn.layers[top].forward);
            values(d.bias_hh.val())
        };
        let mut fd_b = Vec::new();
        for i in 0..bias.len() {
            let mut loss_at = |delta: f64| {
                let mut b = bias.clone();
                b[i] += delta;
                let layer = &mut rnn.layers[top];
                let d = layer.backward.as_mut().unwrap_or(&mut layer.forward);
                d.bias_hh = Param::from_tensor(tensor(&b, [b.len()], &device));
                p.module_loss_value(&rnn, &p.x, &device)
            };
            fd_b.push((loss_at(eps) - loss_at(-eps)) / (2.0 * eps));
        }
        assert_close(
            &g_bias,
            &fd_b,
            5e-3,
            1e-2,
            &format!("{what} d/db_hh (f32 FD)"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Padding invariance
// ---------------------------------------------------------------------------------------------

#[test]
fn padded_rows_equal_unpadded_rows() {
    for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
        let what = format!("{cell:?} layers={layers} bi={bi}");
        let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &dev());
        let out_dim = rnn.output_dim();
        let p = Problem::new(seed as u64 + 300, &LENGTHS, STEPS, DIM, out_dim);
        let x = p.x_tensor(&p.x, &dev());
        let m = mask(&p.lengths, p.steps, &dev());
        let seq = values(rnn.forward_sequence(x.clone(), m.clone()));
        let fin = values(rnn.forward_final(x, m));
        for (b, &len) in p.lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let row = &p.x[b * p.steps * p.dim..(b * p.steps + len) * p.dim];
            let alone = tensor(row, [1, len, p.dim], &dev());
            let full = mask(&[len], len, &dev());
            let seq_alone = values(rnn.forward_sequence(alone.clone(), full.clone()));
            let fin_alone = values(rnn.forward_final(alone, full));
            let start = b * p.steps * out_dim;
            assert_close(
                &seq[start..start + len * out_dim],
                &seq_alone,
                1e-5,
                0.0,
                &format!("{what} row {b} sequence"),
            );
            assert!(
                seq[start + len * out_dim..start + p.steps * out_dim]
                    .iter()
                    .all(|&v| v == 0.0),
                "{what} row {b}: padded outputs are not zero"
            );
            assert_close(
                &fin[b * out_dim..(b + 1) * out_dim],
                &fin_alone,
                1e-5,
                0.0,
                &format!("{what} row {b} final"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. All-padding rows, empty batches, batch order
// ---------------------------------------------------------------------------------------------

#[test]
fn all_padding_rows_give_zeros() {
    for (cell, layers, bi) in variants() {
        let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &dev());
        let out_dim = rnn.output_dim();
        // One empty row among others, and a batch of only empty rows.
        for lengths in [vec![3, 0, 1], vec![0, 0]] {
            let p = Problem::new(7, &lengths, 4, DIM, out_dim);
            let x = p.x_tensor(&p.x, &dev());
            let m = mask(&lengths, 4, &dev());
            let seq = rnn.forward_sequence(x.clone(), m.clone());
            let fin = rnn.forward_final(x, m);
            assert_eq!(seq.dims(), [lengths.len(), 4, out_dim]);
            assert_eq!(fin.dims(), [lengths.len(), out_dim]);
            let seq = values(seq);
            let fin = values(fin);
            for (b, &len) in lengths.iter().enumerate() {
                if len == 0 {
                    let s = &seq[b * 4 * out_dim..(b + 1) * 4 * out_dim];
                    assert!(s.iter().all(|&v| v == 0.0), "{cell:?}: empty row sequence");
                    let f = &fin[b * out_dim..(b + 1) * out_dim];
                    assert!(f.iter().all(|&v| v == 0.0), "{cell:?}: empty row final");
                } else {
                    let f = &fin[b * out_dim..(b + 1) * out_dim];
                    assert!(f.iter().any(|&v| v != 0.0), "{cell:?}: real row final");
                }
            }
        }
        // Empty batch and zero steps.
        let empty = rnn.forward_final(Tensor::zeros([0, 3, DIM], &dev()), mask(&[], 3, &dev()));
        assert_eq!(empty.dims(), [0, out_dim]);
        let no_steps = rnn.forward_sequence(
            Tensor::zeros([2, 0, DIM], &dev()),
            Tensor::<2, Bool>::from_data(TensorData::new(Vec::<bool>::new(), [2, 0]), &dev()),
        );
        assert_eq!(no_steps.dims(), [2, 0, out_dim]);
    }
}

#[test]
fn permuting_rows_permutes_outputs() {
    let perm = [3usize, 0, 4, 2, 1];
    for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
        let what = format!("{cell:?} layers={layers} bi={bi}");
        let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &dev());
        let out_dim = rnn.output_dim();
        let p = Problem::new(seed as u64 + 400, &LENGTHS, STEPS, DIM, out_dim);
        let row = STEPS * DIM;
        let x_perm: Vec<f64> = perm
            .iter()
            .flat_map(|&b| p.x[b * row..(b + 1) * row].to_vec())
            .collect();
        let len_perm: Vec<usize> = perm.iter().map(|&b| LENGTHS[b]).collect();

        let run = |x: &[f64], lengths: &[usize]| {
            let xt = tensor(x, [lengths.len(), STEPS, DIM], &dev());
            let m = mask(lengths, STEPS, &dev());
            (
                values(rnn.forward_sequence(xt.clone(), m.clone())),
                values(rnn.forward_final(xt, m)),
            )
        };
        let (seq, fin) = run(&p.x, &LENGTHS);
        let (seq_p, fin_p) = run(&x_perm, &len_perm);
        let orow = STEPS * out_dim;
        for (i, &b) in perm.iter().enumerate() {
            assert_close(
                &seq_p[i * orow..(i + 1) * orow],
                &seq[b * orow..(b + 1) * orow],
                1e-6,
                0.0,
                &format!("{what} permuted sequence row {i}"),
            );
            assert_close(
                &fin_p[i * out_dim..(i + 1) * out_dim],
                &fin[b * out_dim..(b + 1) * out_dim],
                1e-6,
                0.0,
                &format!("{what} permuted final row {i}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Bidirectional = forward + (unidirectional with the backward weights on reversed rows)
// ---------------------------------------------------------------------------------------------

#[test]
fn backward_direction_is_a_forward_layer_on_reversed_rows() {
    for cell in [RnnCell::Lstm, RnnCell::Gru] {
        let bi = config(HIDDEN, 1, true).init(cell, DIM, &dev());
        let mut fwd_only = config(HIDDEN, 1, false).init(cell, DIM, &dev());
        let mut bwd_only = config(HIDDEN, 1, false).init(cell, DIM, &dev());
        let copy = |from: &RnnDirection, to: &mut RnnDirection| {
            to.weight_ih = Param::from_tensor(from.weight_ih.val());
            to.weight_hh = Param::from_tensor(from.weight_hh.val());
            to.bias_ih = Param::from_tensor(from.bias_ih.val());
            to.bias_hh = Param::from_tensor(from.bias_hh.val());
        };
        copy(&bi.layers[0].forward, &mut fwd_only.layers[0].forward);
        let Some(backward) = bi.layers[0].backward.as_ref() else {
            panic!("bidirectional layer without a backward direction");
        };
        copy(backward, &mut bwd_only.layers[0].forward);

        let p = Problem::new(500, &LENGTHS, STEPS, DIM, 2 * HIDDEN);
        // Reverse each row within its true length.
        let mut x_rev = p.x.clone();
        for (b, &len) in LENGTHS.iter().enumerate() {
            for t in 0..len {
                let src = (b * STEPS + len - 1 - t) * DIM;
                let dst = (b * STEPS + t) * DIM;
                x_rev[dst..dst + DIM].copy_from_slice(&p.x[src..src + DIM]);
            }
        }
        let m = mask(&LENGTHS, STEPS, &dev());
        let x = p.x_tensor(&p.x, &dev());
        let xr = p.x_tensor(&x_rev, &dev());
        let seq = values(bi.forward_sequence(x.clone(), m.clone()));
        let fin = values(bi.forward_final(x.clone(), m.clone()));
        let seq_f = values(fwd_only.forward_sequence(x, m.clone()));
        let seq_r = values(bwd_only.forward_sequence(xr.clone(), m.clone()));
        let fin_r = values(bwd_only.forward_final(xr, m));

        let h = HIDDEN;
        for (b, &len) in LENGTHS.iter().enumerate() {
            for t in 0..STEPS {
                let at = (b * STEPS + t) * 2 * h;
                let fwd_at = (b * STEPS + t) * h;
                // The reversed run's step `len-1-t` is the backward output at `t`.
                let rt = if t < len { len - 1 - t } else { t };
                let bwd_at = (b * STEPS + rt) * h;
                assert_close(
                    &seq[at..at + h],
                    &seq_f[fwd_at..fwd_at + h],
                    1e-6,
                    0.0,
                    "forward half",
                );
                assert_close(
                    &seq[at + h..at + 2 * h],
                    &seq_r[bwd_at..bwd_at + h],
                    1e-6,
                    0.0,
                    &format!("{cell:?} backward half, row {b} step {t}"),
                );
            }
            assert_close(
                &fin[(2 * b + 1) * h..(2 * b + 2) * h],
                &fin_r[b * h..(b + 1) * h],
                1e-6,
                0.0,
                &format!("{cell:?} backward final, row {b}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config, init and dropout
// ---------------------------------------------------------------------------------------------

#[test]
fn config_validation_and_shapes() {
    let ok = config(5, 2, true);
    assert_eq!(ok.output_dim(), 10);
    assert_eq!(ok.validate(3), Ok(()));
    let rnn = ok.init(RnnCell::Gru, 3, &dev());
    assert_eq!(rnn.output_dim(), 10);
    assert_eq!(rnn.layers.len(), 2);
    assert_eq!(rnn.layers[0].forward.weight_ih.dims(), [3, 15]);
    assert_eq!(rnn.layers[1].forward.weight_ih.dims(), [10, 15]);
    assert_eq!(rnn.layers[1].forward.weight_hh.dims(), [5, 15]);
    let lstm = config(5, 1, false).init(RnnCell::Lstm, 3, &dev());
    assert_eq!(lstm.layers[0].forward.bias_hh.dims(), [20]);
    assert!(lstm.layers[0].backward.is_none());
    // PyTorch init range.
    let bound = 1.0 / 5f64.sqrt();
    for v in values(lstm.layers[0].forward.weight_hh.val()) {
        assert!(v.abs() <= bound + 1e-6);
    }

    let with = |f: &dyn Fn(&mut RnnConfig)| {
        let mut c = config(5, 1, false);
        f(&mut c);
        c
    };
    assert_eq!(
        with(&|c| c.input_size = Some(4)).validate(3),
        Err(RnnConfigError::InputSizeMismatch {
            configured: 4,
            actual: 3
        })
    );
    assert_eq!(with(&|c| c.input_size = Some(3)).validate(3), Ok(()));
    assert_eq!(
        with(&|c| c.hidden_size = 0).validate(3),
        Err(RnnConfigError::ZeroHiddenSize)
    );
    assert_eq!(
        with(&|c| c.num_layers = 0).validate(3),
        Err(RnnConfigError::ZeroLayers)
    );
    assert_eq!(ok.validate(0), Err(RnnConfigError::ZeroInputDim));
    assert!(matches!(
        with(&|c| c.dropout = 1.0).try_init(RnnCell::Lstm, 3, &dev()),
        Err(RnnConfigError::InvalidDropout(_))
    ));
    assert!(with(&|c| c.dropout = f64::NAN).validate(3).is_err());
}

#[test]
#[should_panic(expected = "input_size 4")]
fn init_panics_on_mismatched_input_size() {
    let mut c = config(5, 1, false);
    c.input_size = Some(4);
    let _ = c.init(RnnCell::Lstm, 3, &dev());
}

#[test]
fn dropout_only_between_layers_and_only_when_training() {
    let mut c = config(HIDDEN, 2, true);
    c.dropout = 0.5;
    let rnn = c.init(RnnCell::Lstm, DIM, &dev());
    let p = Problem::new(600, &LENGTHS, STEPS, DIM, rnn.output_dim());
    let m = mask(&LENGTHS, STEPS, &dev());
    let x = p.x_tensor(&p.x, &dev());
    // Inference device: deterministic, equal to the dropout-free module.
    let a = values(rnn.forward_sequence(x.clone(), m.clone()));
    let b = values(rnn.forward_sequence(x.clone(), m.clone()));
    assert_eq!(a, b);

    // Training (autodiff) device: the lower layer's outputs are dropped at random, so two runs
    // differ, but padded positions stay zero.
    let trained = rnn.clone().to_device(&ad());
    let xa = p.x_tensor(&p.x, &ad());
    let ma = mask(&LENGTHS, STEPS, &ad());
    let c1 = values(trained.forward_sequence(xa.clone(), ma.clone()));
    let c2 = values(trained.forward_sequence(xa, ma));
    assert_ne!(c1, c2);
    let out_dim = rnn.output_dim();
    for (b, &len) in LENGTHS.iter().enumerate() {
        for t in len..STEPS {
            let at = (b * STEPS + t) * out_dim;
            assert!(c1[at..at + out_dim].iter().all(|&v| v == 0.0));
        }
    }
    // A single layer has no dropout at all.
    let mut one = config(HIDDEN, 1, true);
    one.dropout = 0.5;
    let single = one.init(RnnCell::Gru, DIM, &ad());
    let xa = p.x_tensor(&p.x, &ad());
    let ma = mask(&LENGTHS, STEPS, &ad());
    assert_eq!(
        values(single.forward_final(xa.clone(), ma.clone())),
        values(single.forward_final(xa, ma))
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The fused flex kernels against the composed tensor-op path
// ---------------------------------------------------------------------------------------------

/// Every gradient of the module's loss: the input's, then each parameter's in layer order.
fn all_gradients(p: &Problem, rnn: &MaskedRnn, device: &Device) -> (f64, Vec<Vec<f64>>) {
    let x = p.x_tensor(&p.x, device).require_grad();
    let loss = p.module_loss(rnn, x.clone());
    let value = values(loss.clone())[0];
    let grads = loss.backward();
    let mut out = vec![values(x.grad(&grads).expect("input gradient"))];
    for layer in &rnn.layers {
        for d in std::iter::once(&layer.forward).chain(layer.backward.as_ref()) {
            out.push(values(d.weight_ih.grad(&grads).expect("w_ih grad")));
            out.push(values(d.weight_hh.grad(&grads).expect("w_hh grad")));
            out.push(values(d.bias_ih.grad(&grads).expect("b_ih grad")));
            out.push(values(d.bias_hh.grad(&grads).expect("b_hh grad")));
        }
    }
    (value, out)
}

#[test]
fn fused_kernels_equal_the_composed_path_forward_and_backward() {
    // The fused ops are compiled into the tests and run on flex: the comparison is not empty.
    {
        use biome_kernels::recurrence::{Cell, CellWeights, Rows, hidden_states};
        let d = dev();
        let weights = CellWeights {
            weight_ih: &Tensor::zeros([3, 8], &d),
            bias: &Tensor::zeros([8], &d),
            weight_hh: &Tensor::zeros([2, 8], &d),
            cell: Cell::Lstm,
        };
        let rows = Rows {
            lengths: vec![1, 1],
            reversed: false,
            final_only: false,
        };
        let x = Tensor::<2>::zeros([2, 3], &d);
        assert!(hidden_states(&x, weights.clone(), rows.clone()).is_some());
        assert!(biome_kernels::composed_only(|| hidden_states(
            &x, weights, rows
        )
        .is_none()));
    }
    // The small problem, and one wide enough (B·H >= 8192) for the kernels' threaded row loops.
    let wide: Vec<usize> = (0..33).map(|i| [7, 3, 0, 5, 7, 1][i % 6]).collect();
    let problems: [(&[usize], usize, usize, usize); 2] =
        [(&LENGTHS, STEPS, DIM, HIDDEN), (&wide, 7, 5, 256)];
    for (pi, (lengths, steps, dim, hidden)) in problems.into_iter().enumerate() {
        for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
            if pi == 1 && layers > 1 {
                continue;
            }
            let what = format!("{cell:?} layers={layers} bi={bi} hidden={hidden}");
            let device = ad();
            let rnn = config(hidden, layers, bi).init(cell, dim, &device);
            let p = Problem::new(seed as u64 + 900, lengths, steps, dim, rnn.output_dim());
            let (fused_loss, fused) = all_gradients(&p, &rnn, &device);
            let (plain_loss, plain) =
                biome_kernels::composed_only(|| all_gradients(&p, &rnn, &device));
            assert_close(
                &[fused_loss],
                &[plain_loss],
                1e-4,
                1e-5,
                &format!("{what} loss"),
            );
            for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
                assert_close(a, b, 1e-4, 1e-4, &format!("{what} gradient {i}"));
            }
            // Inference (no autodiff) runs the untracked kernels.
            let plain_dev = dev();
            let rnn = rnn.valid();
            let x = p.x_tensor(&p.x, &plain_dev);
            let m = mask(&p.lengths, p.steps, &plain_dev);
            let fused_seq = values(rnn.forward_sequence(x.clone(), m.clone()));
            let plain_seq =
                biome_kernels::composed_only(|| values(rnn.forward_sequence(x.clone(), m.clone())));
            assert_close(
                &fused_seq,
                &plain_seq,
                1e-5,
                1e-5,
                &format!("{what} inference"),
            );
            let fused_final = values(rnn.forward_final(x.clone(), m.clone()));
            let plain_final =
                biome_kernels::composed_only(|| values(rnn.forward_final(x.clone(), m.clone())));
            assert_close(
                &fused_final,
                &plain_final,
                1e-5,
                1e-5,
                &format!("{what} inference, final states"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Step masks built on the device (the GPU path, no host read) against lengths read on the host
// ---------------------------------------------------------------------------------------------

#[test]
fn device_step_masks_equal_host_lengths_forward_and_backward() {
    use super::tests_force_device_masks::with as device_masks;
    // The GPU path computes every step, padding tail included: check it on the usual rows, on
    // rows whose longest length leaves three all-padding steps, and on an all-padding batch.
    let problems: [(&[usize], usize); 3] = [(&LENGTHS, STEPS), (&[3, 1, 0, 2], 6), (&[0, 0], 4)];
    for (pi, (lengths, steps)) in problems.into_iter().enumerate() {
        for (seed, (cell, layers, bi)) in variants().into_iter().enumerate() {
            let what = format!("{cell:?} layers={layers} bi={bi} lengths={lengths:?}");
            let device = ad();
            let rnn = config(HIDDEN, layers, bi).init(cell, DIM, &device);
            let p = Problem::new(seed as u64 + 1000, lengths, steps, DIM, rnn.output_dim());
            if pi < 2 {
                let (host_loss, host) =
                    biome_kernels::composed_only(|| all_gradients(&p, &rnn, &device));
                let (dev_loss, on_device) = device_masks(|| {
                    biome_kernels::composed_only(|| all_gradients(&p, &rnn, &device))
                });
                // And both against the scalar reference's loss.
                let reference = RefRnn::from_module(&rnn);
                let ref_loss = p.reference_loss(&reference, &p.x);
                assert_close(
                    &[dev_loss],
                    &[ref_loss],
                    1e-4,
                    1e-5,
                    &format!("{what} loss"),
                );
                assert_close(
                    &[host_loss],
                    &[ref_loss],
                    1e-4,
                    1e-5,
                    &format!("{what} loss"),
                );
                assert_eq!(host.len(), on_device.len());
                for (i, (a, b)) in on_device.iter().zip(&host).enumerate() {
                    assert_close(a, b, 1e-5, 1e-5, &format!("{what} gradient {i}"));
                }
            }
            // Inference: the sequence outputs (zero in the padding) and the final states.
            let plain_dev = dev();
            let rnn = rnn.valid();
            let x = p.x_tensor(&p.x, &plain_dev);
            let m = mask(&p.lengths, p.steps, &plain_dev);
            let both = || {
                (
                    values(rnn.forward_sequence(x.clone(), m.clone())),
                    values(rnn.forward_final(x.clone(), m.clone())),
                )
            };
            let (host_seq, host_fin) = biome_kernels::composed_only(both);
            let (dev_seq, dev_fin) = device_masks(|| biome_kernels::composed_only(both));
            assert_close(&dev_seq, &host_seq, 1e-6, 1e-6, &format!("{what} sequence"));
            assert_close(&dev_fin, &host_fin, 1e-6, 1e-6, &format!("{what} finals"));
            if pi == 2 {
                assert!(dev_seq.iter().chain(&dev_fin).all(|&v| v == 0.0), "{what}");
            }
        }
    }
}
