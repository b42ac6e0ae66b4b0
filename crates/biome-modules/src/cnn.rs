//! AllenNLP `CnnEncoder` with exact masking.
//!
//! Each n-gram filter is a Linear `[k·D, F]` over the unfolded window `[x_t; ...; x_{t+k-1}]`.
//! The max-pool only considers windows lying wholly on real tokens, so padding never changes the
//! result (AllenNLP pools over padded windows too). A row with no complete window (shorter than
//! the filter, or all padding) gives 0 for that filter. Inputs shorter than the largest filter
//! are padded internally.
//!
//! On flex, one fused op of `biome-kernels` with a hand-written backward pass runs the encoder
//! (`biome_kernels::cnn`); other backends run all filters as one GEMM of tensor ops (see
//! [`CnnEncoder::forward`]). Tests hold the two to each other and to an independent reference.

use biome_kernels::cnn::{NgramFilter, masked_cnn_max};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{ModuleError, check_dim};

fn default_ngrams() -> Vec<usize> {
    vec![2, 3, 4, 5]
}

/// `{"embedding_dim": 50, "num_filters": 100, "ngram_filter_sizes": [2, 3, 4, 5],
/// "conv_layer_activation": "relu", "output_dim": null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnEncoderConfig {
    /// Input size; `None` = taken from the previous module.
    #[serde(default)]
    pub embedding_dim: Option<usize>,
    /// Filters per n-gram size.
    pub num_filters: usize,
    /// Window sizes.
    #[serde(default = "default_ngrams")]
    pub ngram_filter_sizes: Vec<usize>,
    /// Applied to the convolution outputs before pooling.
    #[serde(default)]
    pub conv_layer_activation: Activation,
    /// Optional linear projection of the pooled features.
    #[serde(default)]
    pub output_dim: Option<usize>,
}

impl CnnEncoderConfig {
    /// `num_filters` filters of each default size (2, 3, 4, 5), relu, no projection.
    pub fn new(num_filters: usize) -> Self {
        Self {
            embedding_dim: None,
            num_filters,
            ngram_filter_sizes: default_ngrams(),
            conv_layer_activation: Activation::Relu,
            output_dim: None,
        }
    }

    /// Output size: `output_dim`, else `num_filters · len(ngram_filter_sizes)`.
    pub fn output_dim(&self) -> usize {
        self.output_dim
            .unwrap_or(self.num_filters * self.ngram_filter_sizes.len())
    }

    fn validate(&self) -> Result<(), ModuleError> {
        if self.num_filters == 0
            || self.ngram_filter_sizes.is_empty()
            || self.ngram_filter_sizes.contains(&0)
            || self.output_dim == Some(0)
        {
            return Err(ModuleError::invalid(
                "cnn",
                "num_filters, ngram_filter_sizes (non-empty) and output_dim must be positive",
            ));
        }
        Ok(())
    }

    /// Check/fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        self.validate()?;
        Ok(Self {
            embedding_dim: Some(check_dim(self.embedding_dim, input_dim)?),
            ..self.clone()
        })
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<CnnEncoder, ModuleError> {
        let cfg = self.resolve(input_dim)?;
        // PyTorch Conv1d/Linear default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is
        // burn's Linear default (fan_in = k·D for a filter).
        let convs = cfg
            .ngram_filter_sizes
            .iter()
            .map(|&k| LinearConfig::new(k * input_dim, cfg.num_filters).init(device))
            .collect();
        let projection = cfg.output_dim.map(|o| {
            LinearConfig::new(cfg.num_filters * cfg.ngram_filter_sizes.len(), o).init(device)
        });
        Ok(CnnEncoder {
            convs,
            ngram_filter_sizes: cfg.ngram_filter_sizes.clone(),
            activation: cfg.conv_layer_activation,
            projection,
            input_dim,
        })
    }
}

/// Masked CNN seq2vec encoder. Filter `i` is a [`Linear`] `[k·D, F]` over the window
/// `[x_t; x_{t+1}; ...; x_{t+k-1}]` (position-major, feature-minor).
#[derive(Module, Debug)]
pub struct CnnEncoder {
    /// One `[k·D -> F]` layer per n-gram size.
    pub convs: Vec<Linear>,
    /// The n-gram sizes, parallel to `convs`.
    #[module(skip)]
    pub ngram_filter_sizes: Vec<usize>,
    /// Activation before pooling.
    #[module(skip)]
    pub activation: Activation,
    /// Optional projection.
    pub projection: Option<Linear>,
    /// Input size.
    pub input_dim: usize,
}

impl CnnEncoder {
    /// Output size.
    pub fn output_dim(&self) -> usize {
        match &self.projection {
            Some(p) => p.weight.shape().dims::<2>()[1],
            None => self.convs.len() * self.convs[0].weight.shape().dims::<2>()[1],
        }
    }

    /// - x: `[B, T, D]`, mask: `[B, T]` (read on the host by the fused op only)
    /// - returns `[B, H]`; all-padding rows give zeros.
    ///
    /// Every filter runs in one GEMM: the windows of the largest filter `K` at every start
    /// position, `[x_t; …; x_{t+K-1}]` (`[B·T, K·D]`, zeros at padding and past the end),
    /// times all filters' weights side by side, each zero-padded from `k·D` to `K·D` rows (a
    /// size-`k` window is the first `k·D` values of the size-`K` one). The zero rows cost
    /// `K/k` times a filter's own FLOPs, but one large GEMM and its two backward GEMMs run far
    /// faster than a convolution per filter, whose backward (`conv_transpose`) dominated the
    /// multifield workload's step (BENCHMARKS.md, W3).
    ///
    /// On flex, a fused op with a hand-written backward pass runs instead
    /// (`biome_kernels::cnn`), with the same result.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        if let Some(pooled) = self.fused(&x, &mask) {
            return self.project(pooled);
        }
        let [b, t, d] = x.dims();
        let device = x.device();
        let max_k = self.ngram_filter_sizes.iter().copied().max().unwrap_or(1);
        // Start positions; at least one, so that an empty batch dimension T still gives zeros.
        let tp = t.max(1);
        let pad = tp - t + max_k - 1;
        // The windows as one gather of rows of `x` (padding zeroed) plus a zero row: a window
        // position past the end reads the zero row, so the zero-padded weights below never meet
        // garbage, and the gather's backward is one scatter-add into `x`'s gradient. The index
        // depends on the shapes only: the mask stays on its device (no host read, which on a
        // GPU would stall every forward), and filling the padding with zeros also zeroes its
        // gradient.
        let zero_row = b * t;
        let mut index = Vec::with_capacity(b * tp * max_k);
        for row in 0..b {
            for start in 0..tp {
                for pos in start..start + max_k {
                    index.push(if pos < t { row * t + pos } else { zero_row } as i64);
                }
            }
        }
        let n = index.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n]), &device);
        // A fill, not a product with the float mask: NaN in the padding times 0 stays NaN.
        let padding = mask
            .clone()
            .bool_not()
            .unsqueeze_dim::<3>(2)
            .expand([b, t, d]);
        let real_x = x.mask_fill(padding, 0.0);
        let rows = Tensor::cat(
            vec![real_x.reshape([b * t, d]), Tensor::zeros([1, d], &device)],
            0,
        );
        let windows = rows.select(0, index).reshape([b * tp, max_k * d]);
        let mut maskf = mask.float();
        if pad > 0 {
            maskf = Tensor::cat(vec![maskf, Tensor::zeros([b, pad], &device)], 1);
        }

        let widths: Vec<usize> = self
            .convs
            .iter()
            .map(|c| c.weight.shape().dims::<2>()[1])
            .collect();
        let weight: Vec<Tensor<2>> = self
            .convs
            .iter()
            .zip(&self.ngram_filter_sizes)
            .zip(&widths)
            .map(|((conv, &k), &f)| {
                let w = conv.weight.val();
                if k < max_k {
                    Tensor::cat(vec![w, Tensor::zeros([(max_k - k) * d, f], &device)], 0)
                } else {
                    w
                }
            })
            .collect();
        let bias: Vec<Tensor<1>> = self
            .convs
            .iter()
            .zip(&widths)
            .map(|(conv, &f)| match &conv.bias {
                Some(bias) => bias.val(),
                None => Tensor::zeros([f], &device),
            })
            .collect();
        let out = windows.matmul(Tensor::cat(weight, 1)) + Tensor::cat(bias, 0).unsqueeze();
        let nf: usize = widths.iter().sum();
        let out = self.activation.apply(out).reshape([b, tp, nf]);

        // A window is valid when all of its k positions are real tokens: the running count of
        // real tokens over the first j+1 offsets, read off at j+1 = k for each filter.
        let mut real: Option<Tensor<2>> = None;
        let mut valid_at = Vec::with_capacity(max_k);
        for j in 0..max_k {
            let next = maskf.clone().slice_dim(1, j..j + tp);
            let count = real.map_or(next.clone(), |r| r + next);
            valid_at.push(count.clone().greater_equal_elem(j as f64 + 0.5)); // [B, T']
            real = Some(count);
        }
        let (invalid, none_valid): (Vec<_>, Vec<_>) = self
            .ngram_filter_sizes
            .iter()
            .zip(&widths)
            .map(|(&k, &f)| {
                let valid = valid_at[k - 1].clone();
                let none = valid.clone().any_dim(1).bool_not().expand([b, f]);
                (
                    valid.bool_not().unsqueeze_dim::<3>(2).expand([b, tp, f]),
                    none,
                )
            })
            .unzip();
        let pooled = out
            .mask_fill(Tensor::cat(invalid, 2), f32::MIN)
            .max_dim(1)
            .squeeze_dim::<2>(1)
            // Rows without a complete window: 0.
            .mask_fill(Tensor::cat(none_valid, 1), 0.0);
        self.project(pooled)
    }

    /// The pooled features `[B, n·F]` from the fused op of `biome-kernels`, or `None` where
    /// the composed path must run (another backend, GELU, the op switched off).
    fn fused(&self, x: &Tensor<3>, mask: &Tensor<2, Bool>) -> Option<Tensor<2>> {
        masked_cnn_max(x, mask, self.activation.non_decreasing_scalar(), || {
            // Every weight, then every bias: the order in which the fused op has always first
            // read (and so lazily initialised) them, which keeps runs repeatable across versions.
            let weights: Vec<Tensor<2>> = self.convs.iter().map(|c| c.weight.val()).collect();
            let biases: Vec<Option<Tensor<1>>> = self
                .convs
                .iter()
                .map(|c| c.bias.as_ref().map(|b| b.val()))
                .collect();
            weights
                .into_iter()
                .zip(biases)
                .zip(&self.ngram_filter_sizes)
                .map(|((weight, bias), &ngram)| NgramFilter {
                    weight,
                    bias,
                    ngram,
                })
                .collect()
        })
    }

    /// The optional projection of the pooled features.
    fn project(&self, pooled: Tensor<2>) -> Tensor<2> {
        match &self.projection {
            Some(p) => p.forward(pooled),
            None => pooled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    /// The previous formulation, kept as an independent reference: explicit windows
    /// `[B, W, k·D]` (a cat of k shifted slices) through the Linear, masked max-pool.
    fn reference(enc: &CnnEncoder, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        let device = x.device();
        let max_k = enc.ngram_filter_sizes.iter().copied().max().unwrap();
        let tp = t.max(max_k);
        let mut maskf = mask.float();
        let mut x = x * maskf.clone().unsqueeze_dim::<3>(2);
        if tp > t {
            x = Tensor::cat(vec![x, Tensor::zeros([b, tp - t, d], &device)], 1);
            maskf = Tensor::cat(vec![maskf, Tensor::zeros([b, tp - t], &device)], 1);
        }
        let pooled: Vec<Tensor<2>> = enc
            .convs
            .iter()
            .zip(&enc.ngram_filter_sizes)
            .map(|(conv, &k)| {
                let w = tp - k + 1;
                let windows: Vec<Tensor<3>> =
                    (0..k).map(|j| x.clone().slice_dim(1, j..j + w)).collect();
                let out = enc.activation.apply(conv.forward(Tensor::cat(windows, 2)));
                let real: Tensor<2> = (0..k)
                    .map(|j| maskf.clone().slice_dim(1, j..j + w))
                    .reduce(|a, c| a + c)
                    .unwrap();
                let valid = real.greater_equal_elem(k as f64 - 0.5);
                let f = out.dims()[2];
                let none_valid = valid.clone().any_dim(1).bool_not().expand([b, f]);
                let invalid = valid.bool_not().unsqueeze_dim::<3>(2).expand([b, w, f]);
                out.mask_fill(invalid, f32::MIN)
                    .max_dim(1)
                    .squeeze_dim::<2>(1)
                    .mask_fill(none_valid, 0.0)
            })
            .collect();
        let pooled = Tensor::cat(pooled, 1);
        match &enc.projection {
            Some(p) => p.forward(pooled),
            None => pooled,
        }
    }

    /// Runs `check` on the fused flex op, then on the composed tensor-op path.
    fn on_both_paths(check: impl Fn()) {
        check();
        biome_kernels::composed_only(check);
    }

    fn encoder(json: &str, d: usize, device: &Device) -> CnnEncoder {
        serde_json::from_str::<CnnEncoderConfig>(json)
            .unwrap()
            .init(d, device)
            .unwrap()
    }

    #[test]
    fn one_gemm_path_equals_window_reference_with_padding() {
        on_both_paths(one_gemm_path_equals_window_reference);
    }

    fn one_gemm_path_equals_window_reference() {
        let device = dev();
        for (json, t) in [
            (
                r#"{"num_filters": 5, "ngram_filter_sizes": [1, 2, 3, 5]}"#,
                7,
            ),
            (
                r#"{"num_filters": 4, "ngram_filter_sizes": [2, 4], "output_dim": 3,
                    "conv_layer_activation": "tanh"}"#,
                6,
            ),
            // T shorter than the largest filter.
            (r#"{"num_filters": 3, "ngram_filter_sizes": [2, 3, 4]}"#, 3),
        ] {
            let enc = encoder(json, 6, &device);
            // Garbage in the padding; row 3 is all padding, row 4 has a hole.
            let x = randn([5, t, 6], &device) * 3.0;
            let mut rows: Vec<Vec<bool>> = [t, 1, 2, 0]
                .iter()
                .map(|&l| (0..t).map(|i| i < l).collect())
                .collect();
            rows.push((0..t).map(|i| i != 1).collect());
            let mask = mask2(&rows, &device);
            let got = to_vec(enc.forward(x.clone(), mask.clone()));
            let want = to_vec(reference(&enc, x, mask));
            assert_close(&got, &want, 1e-4);
            let h = enc.output_dim();
            if enc.projection.is_none() {
                assert!(got[3 * h..4 * h].iter().all(|v| *v == 0.0));
            }
        }
    }

    /// Padding is never read: NaN there gives the same (finite) output as zeros there.
    #[test]
    fn nan_in_the_padding_never_reaches_the_output() {
        on_both_paths(nan_in_the_padding_is_never_read);
    }

    fn nan_in_the_padding_is_never_read() {
        let device = dev();
        let enc = encoder(
            r#"{"num_filters": 3, "ngram_filter_sizes": [1, 2, 4]}"#,
            4,
            &device,
        );
        let rows: Vec<Vec<bool>> = [5, 2, 0]
            .iter()
            .map(|&l| (0..5).map(|i| i < l).collect())
            .chain(std::iter::once(vec![true, false, true, true, false]))
            .collect();
        let mask = mask2(&rows, &device);
        let x = randn([4, 5, 4], &device);
        let pad = mask
            .clone()
            .bool_not()
            .unsqueeze_dim::<3>(2)
            .expand([4, 5, 4]);
        let clean = to_vec(enc.forward(x.clone().mask_fill(pad.clone(), 0.0), mask.clone()));
        let dirty = to_vec(enc.forward(x.mask_fill(pad, f32::NAN), mask));
        assert!(clean.iter().all(|v| v.is_finite()));
        assert_eq!(clean, dirty);
    }

    #[test]
    fn one_gemm_path_gradients_equal_window_reference() {
        on_both_paths(gradients_equal_window_reference);
    }

    fn gradients_equal_window_reference() {
        let device = ad_dev();
        let enc = encoder(
            r#"{"num_filters": 4, "ngram_filter_sizes": [1, 2, 3], "output_dim": 3,
                "conv_layer_activation": "tanh"}"#,
            5,
            &device,
        );
        let mask = lengths_mask(&[6, 4, 2, 0], 6, &device);
        let x0 = randn([4, 6, 5], &device);
        let head = randn([4, 3], &device);
        let grads_of = |f: &dyn Fn(Tensor<3>) -> Tensor<2>| {
            let x = x0.clone().detach().require_grad();
            let g = (f(x.clone()) * head.clone()).sum().backward();
            let mut v = to_vec(x.grad(&g).unwrap());
            for c in &enc.convs {
                v.extend(to_vec(c.weight.val().grad(&g).unwrap()));
                v.extend(to_vec(c.bias.as_ref().unwrap().val().grad(&g).unwrap()));
            }
            v.extend(to_vec(
                enc.projection
                    .as_ref()
                    .unwrap()
                    .weight
                    .val()
                    .grad(&g)
                    .unwrap(),
            ));
            v
        };
        let got = grads_of(&|x| enc.forward(x, mask.clone()));
        let want = grads_of(&|x| reference(&enc, x, mask.clone()));
        assert!(got.iter().any(|v| *v != 0.0));
        assert_close(&got, &want, 1e-4);
    }

    #[test]
    fn one_gemm_path_weight_gradient_matches_finite_differences() {
        on_both_paths(weight_gradient_matches_finite_differences);
    }

    fn weight_gradient_matches_finite_differences() {
        // Two bigram filters over D = 2, tanh, fixed inputs (no RNG: the argmax windows are
        // well separated, so the max-pool is locally smooth); central differences in f32.
        let device = ad_dev();
        let mut enc = encoder(
            r#"{"num_filters": 2, "ngram_filter_sizes": [2], "conv_layer_activation": "tanh"}"#,
            2,
            &device,
        );
        let xs: Vec<f32> = (0..30).map(|i| (i as f32 * 0.7).sin() * 0.8).collect();
        let x = Tensor::<3>::from_data(TensorData::new(xs, [3, 5, 2]), &device);
        let mask = lengths_mask(&[5, 3, 1], 5, &device);
        let w0: Vec<f32> = (0..8).map(|i| (i as f32 * 1.3).cos() * 0.6).collect();
        enc.convs[0].weight =
            burn::module::Param::from_data(TensorData::new(w0.clone(), [4, 2]), &device);
        let loss = |enc: &CnnEncoder| enc.forward(x.clone(), mask.clone()).sum();
        let g = loss(&enc).backward();
        let analytic = to_vec(enc.convs[0].weight.val().grad(&g).unwrap());
        let eps = 1e-3f32;
        for i in 0..w0.len() {
            let mut at = |delta: f32| {
                let mut w = w0.clone();
                w[i] += delta;
                enc.convs[0].weight =
                    burn::module::Param::from_data(TensorData::new(w, [4, 2]), &device);
                to_vec(loss(&enc))[0]
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 5e-3,
                "weight {i}: numeric {numeric} vs analytic {}",
                analytic[i]
            );
        }
    }

    /// A batch large enough for several fused tasks, relu, no projection, random lengths with
    /// holes: the fused op's outputs and all gradients equal the composed path's.
    #[test]
    fn fused_op_equals_composed_path_on_a_large_batch() {
        let device = ad_dev();
        let enc = encoder(
            r#"{"num_filters": 6, "ngram_filter_sizes": [2, 3, 5]}"#,
            7,
            &device,
        );
        let (b, t) = (70, 9);
        let rows: Vec<Vec<bool>> = (0..b)
            .map(|r| {
                (0..t)
                    .map(|i| i < (r * 7) % (t + 1) && (r % 5 != 0 || i != 2))
                    .collect()
            })
            .collect();
        let mask = mask2(&rows, &device);
        let x0 = randn([b, t, 7], &device);
        let head = randn([b, 18], &device);
        let run = || {
            let x = x0.clone().detach().require_grad();
            let out = enc.forward(x.clone(), mask.clone());
            let g = (out.clone() * head.clone()).sum().backward();
            let mut v = to_vec(out);
            v.extend(to_vec(x.grad(&g).unwrap()));
            for c in &enc.convs {
                v.extend(to_vec(c.weight.val().grad(&g).unwrap()));
                v.extend(to_vec(c.bias.as_ref().unwrap().val().grad(&g).unwrap()));
            }
            v
        };
        assert!(enc.fused(&x0, &mask).is_some(), "the fused op runs on flex");
        let fused = run();
        let composed = biome_kernels::composed_only(run);
        assert!(biome_kernels::composed_only(|| enc.fused(&x0, &mask)).is_none());
        assert!(fused.iter().all(|v| v.is_finite()));
        assert!(fused[b * 18..].iter().filter(|v| **v != 0.0).count() > 100);
        assert_close(&fused, &composed, 1e-4);
    }
}
