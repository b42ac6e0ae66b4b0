//! Word (or character) embedding with a zero, untrainable padding row.

use std::path::PathBuf;

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, module::embedding};
use serde::{Deserialize, Serialize};

use crate::error::ModuleError;
use crate::pretrained::{PretrainedReport, load_pretrained};

fn yes() -> bool {
    true
}

/// AllenNLP `embedding` token embedder: `{"embedding_dim": 300, "trainable": true,
/// "projection_dim": null, "pretrained_file": null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordEmbeddingConfig {
    /// Size of each vector.
    pub embedding_dim: usize,
    /// `false` freezes the table (no gradient ever reaches it).
    #[serde(default = "yes")]
    pub trainable: bool,
    /// Optional linear projection of the vectors to this size.
    #[serde(default)]
    pub projection_dim: Option<usize>,
    /// GloVe / word2vec / fastText text file (optionally `.gz`) to initialise the table from,
    /// see [`crate::pretrained`]. Used by [`WordEmbeddingConfig::init_with_vocab`].
    #[serde(default)]
    pub pretrained_file: Option<PathBuf>,
    /// Row-wise gradient (AllenNLP's / PyTorch's `sparse=True`): in training only the rows the
    /// batch looks up get a gradient, and the trainer updates just those rows with a lazy
    /// (row-wise) Adam, see [`crate::sparse`]. Saves the dense `[vocab, dim]` gradient and
    /// the optimizer's passes over the whole table; the moments of rows absent from a batch
    /// are not decayed that step (as `torch.optim.SparseAdam`).
    #[serde(default)]
    pub sparse: bool,
}

impl WordEmbeddingConfig {
    /// A trainable embedding of `embedding_dim` without projection or pretrained file.
    pub fn new(embedding_dim: usize) -> Self {
        Self {
            embedding_dim,
            trainable: true,
            projection_dim: None,
            pretrained_file: None,
            sparse: false,
        }
    }

    /// Size of the output vectors (`projection_dim` if set, else `embedding_dim`).
    pub fn output_dim(&self) -> usize {
        self.projection_dim.unwrap_or(self.embedding_dim)
    }

    fn validate(&self) -> Result<(), ModuleError> {
        if self.embedding_dim == 0 || self.projection_dim == Some(0) {
            return Err(ModuleError::invalid(
                "embedding",
                "embedding_dim and projection_dim must be positive",
            ));
        }
        Ok(())
    }

    /// Build a randomly initialised table of `num_embeddings` rows (Xavier-uniform, as AllenNLP;
    /// row 0, the padding row, is zero). Ignores `pretrained_file`.
    pub fn init(&self, num_embeddings: usize, device: &Device) -> WordEmbedding {
        let bound = (6.0 / (num_embeddings + self.embedding_dim) as f64).sqrt();
        let weight = Tensor::<2>::random(
            [num_embeddings, self.embedding_dim],
            Distribution::Uniform(-bound, bound),
            device,
        );
        let weight = if num_embeddings > 0 {
            weight.slice_fill([0..1, 0..self.embedding_dim], 0.0)
        } else {
            weight
        };
        self.build(weight, device)
    }

    /// Build the table from given weights `[num_embeddings, embedding_dim]` (row 0 is zeroed).
    pub fn init_with_weights(
        &self,
        weights: TensorData,
        device: &Device,
    ) -> Result<WordEmbedding, ModuleError> {
        self.validate()?;
        let shape = weights.shape().to_vec();
        if shape.len() != 2 || shape[1] != self.embedding_dim {
            return Err(ModuleError::invalid(
                "embedding",
                format!(
                    "weights of shape {:?} do not have embedding_dim {} columns",
                    shape, self.embedding_dim
                ),
            ));
        }
        let weight = Tensor::<2>::from_data(weights, device);
        let weight = if shape[0] > 0 {
            weight.slice_fill([0..1, 0..self.embedding_dim], 0.0)
        } else {
            weight
        };
        Ok(self.build(weight, device))
    }

    /// Build the table for a vocabulary (`vocab[i]` = token of index `i`, 0 padding, 1 OOV),
    /// loading `pretrained_file` when set (missing words drawn with `seed`), else random.
    pub fn init_with_vocab(
        &self,
        vocab: &[String],
        seed: u64,
        device: &Device,
    ) -> Result<(WordEmbedding, Option<PretrainedReport>), ModuleError> {
        self.validate()?;
        match &self.pretrained_file {
            None => Ok((self.init(vocab.len(), device), None)),
            Some(path) => {
                let pretrained = load_pretrained(path, vocab, self.embedding_dim, seed)?;
                let report = pretrained.report;
                let module = self.init_with_weights(pretrained.into_tensor_data(), device)?;
                Ok((module, Some(report)))
            }
        }
    }

    fn build(&self, weight: Tensor<2>, device: &Device) -> WordEmbedding {
        let weight = Param::from_tensor(weight).set_require_grad(self.trainable);
        let projection = self
            .projection_dim
            .map(|p| LinearConfig::new(self.embedding_dim, p).init(device));
        WordEmbedding {
            weight,
            projection,
            trainable: self.trainable,
            sparse: self.sparse,
        }
    }
}

/// Lookup table whose padding row (index 0) always yields zeros and never receives gradient.
#[derive(Module, Debug)]
pub struct WordEmbedding {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Param<Tensor<2>>,
    /// Optional projection `embedding_dim -> projection_dim`.
    pub projection: Option<Linear>,
    /// `false`: the table is detached in the forward pass (frozen).
    pub trainable: bool,
    /// Row-wise gradients in training (see [`WordEmbeddingConfig::sparse`]).
    #[module(skip)]
    pub sparse: bool,
}

impl WordEmbedding {
    /// Output vector size.
    pub fn output_dim(&self) -> usize {
        match &self.projection {
            Some(p) => p.weight.shape().dims::<2>()[1],
            None => self.weight.shape().dims::<2>()[1],
        }
    }

    /// Number of rows in the table.
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape().dims::<2>()[0]
    }

    /// Look up ids.
    ///
    /// - ids: `[B, T]` (0 = padding)
    /// - returns `[B, T, D]`, zero where `id == 0`
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let weight = self.weight.val();
        if self.projection.is_none()
            && let Some(x) = biome_kernels::lookup::padded_lookup(&weight, &ids)
        {
            return x;
        }
        let mask = ids.clone().not_equal_elem(0).float().unsqueeze_dim::<3>(2);
        let x = if !self.trainable {
            embedding(weight.detach(), ids)
        } else if self.sparse && weight.is_autodiff() {
            self.sparse_lookup(weight, ids)
        } else {
            embedding(weight, ids)
        };
        // Multiplying by the mask zeroes the padding output and the gradient of row 0.
        let x = x * mask.clone();
        match &self.projection {
            // Projection bias must not leak into padding positions.
            Some(p) => p.forward(x) * mask,
            None => x,
        }
    }

    /// Embed from a gradient leaf holding only the rows `ids` use (recorded for the trainer).
    fn sparse_lookup(&self, weight: Tensor<2>, ids: Tensor<2, Int>) -> Tensor<3> {
        let shape = ids.dims();
        let device = ids.device();
        biome_kernels::host_reads::note("sparse embedding: ids");
        let host: Vec<i64> = ids
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int ids");
        let (unique, local) = crate::sparse::unique_ids(&host);
        let n = unique.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(unique.clone(), [n]), &device);
        // Gather on the plain backend: the table takes no part in the graph.
        let rows = weight
            .inner()
            .select(0, index.inner())
            .autodiff()
            .require_grad();
        crate::sparse::record(crate::sparse::SparseLookup {
            param: self.weight.id,
            ids: unique,
            rows: rows.clone(),
        });
        let local = Tensor::<2, Int>::from_data(TensorData::new(local, shape), &device);
        embedding(rows, local)
    }

    /// Look up ids of rank 3 (e.g. characters `[B, T, C]`) -> `[B, T, C, D]`.
    pub fn forward3(&self, ids: Tensor<3, Int>) -> Tensor<4> {
        let [b, t, c] = ids.dims();
        let x = self.forward(ids.reshape([b * t, c]));
        let d = x.dims()[2];
        x.reshape([b, t, c, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    #[test]
    fn padding_output_is_zero_and_row_zero_initially() {
        let device = dev();
        let emb = WordEmbeddingConfig::new(4).init(10, &device);
        let w = to_vec(emb.weight.val());
        assert!(w[..4].iter().all(|v| *v == 0.0));
        assert!(w[4..].iter().any(|v| *v != 0.0));
        let bound = (6.0f32 / 14.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        let ids = ints2(&[vec![3, 0, 5]], &device);
        let out = to_vec(emb.forward(ids));
        assert!(out[4..8].iter().all(|v| *v == 0.0));
    }

    /// Without autodiff the fused lookup runs; it equals the composed path, and padding gives
    /// zeros even where row 0 of the table is not zero.
    #[test]
    fn fused_lookup_equals_composed_path_and_zeroes_padding() {
        let device = dev();
        let mut emb = WordEmbeddingConfig::new(5).init(40, &device);
        let mut table = to_vec(emb.weight.val());
        table[..5].fill(7.0);
        emb.weight = Param::from_data(TensorData::new(table.clone(), [40, 5]), &device);
        let rows: Vec<Vec<i64>> = (0..300)
            .map(|r| {
                (0..4)
                    .map(|i| {
                        if (r + i) % 3 == 0 {
                            0
                        } else {
                            ((r * 7 + i) % 40) as i64
                        }
                    })
                    .collect()
            })
            .collect();
        let ids = ints2(&rows, &device);
        assert!(biome_kernels::lookup::padded_lookup(&emb.weight.val(), &ids).is_some());
        let fused = to_vec(emb.forward(ids.clone()));
        let composed = to_vec(biome_kernels::composed_only(|| emb.forward(ids)));
        assert_eq!(fused, composed);
        for (position, &id) in rows.iter().flatten().enumerate() {
            let got = &fused[position * 5..(position + 1) * 5];
            if id == 0 {
                assert!(got.iter().all(|v| *v == 0.0));
            } else {
                assert_eq!(got, &table[id as usize * 5..(id as usize + 1) * 5]);
            }
        }
    }

    #[test]
    fn projection_output_zero_at_padding() {
        let device = dev();
        let mut cfg = WordEmbeddingConfig::new(4);
        cfg.projection_dim = Some(3);
        let emb = cfg.init(10, &device);
        assert_eq!(emb.output_dim(), 3);
        let out = emb.forward(ints2(&[vec![0, 2]], &device));
        assert_eq!(out.dims(), [1, 2, 3]);
        let v = to_vec(out);
        assert!(v[..3].iter().all(|x| *x == 0.0));
        assert!(v[3..].iter().any(|x| *x != 0.0));
    }

    #[test]
    fn padding_row_gets_no_gradient_and_stays_zero() {
        let device = ad_dev();
        let emb = WordEmbeddingConfig::new(3).init(5, &device);
        let ids = ints2(&[vec![1, 2, 0, 0], vec![0, 4, 3, 0]], &device);
        let loss = emb.forward(ids).sum();
        let grads = loss.backward();
        let g = to_vec(emb.weight.val().grad(&grads).expect("gradient"));
        assert!(g[..3].iter().all(|v| *v == 0.0), "{g:?}");
        assert!(g[3..].iter().all(|v| *v == 1.0), "{g:?}");
    }

    #[test]
    fn frozen_embedding_gets_no_gradient() {
        let device = ad_dev();
        let mut cfg = WordEmbeddingConfig::new(3);
        cfg.trainable = false;
        cfg.projection_dim = Some(2);
        let emb = cfg.init(5, &device);
        let ids = ints2(&[vec![1, 2, 3]], &device);
        let grads = emb.forward(ids).sum().backward();
        let g = emb.weight.val().grad(&grads);
        assert!(
            g.is_none_or(|g| to_vec(g).iter().all(|v| *v == 0.0)),
            "frozen table got a gradient"
        );
        let proj = emb.projection.as_ref().unwrap();
        assert!(proj.weight.val().grad(&grads).is_some());
    }

    #[test]
    fn with_weights_and_rank3() {
        let device = dev();
        let data = TensorData::new((0..12).map(|v| v as f32).collect::<Vec<_>>(), [4, 3]);
        let emb = WordEmbeddingConfig::new(3)
            .init_with_weights(data, &device)
            .unwrap();
        let ids =
            Tensor::<3, Int>::from_data(TensorData::new(vec![2i64, 0, 3, 1], [1, 2, 2]), &device);
        let out = emb.forward3(ids);
        assert_eq!(out.dims(), [1, 2, 2, 3]);
        assert_eq!(
            to_vec(out),
            vec![6., 7., 8., 0., 0., 0., 9., 10., 11., 3., 4., 5.]
        );
        let bad = TensorData::new(vec![0f32; 8], [4, 2]);
        assert!(
            WordEmbeddingConfig::new(3)
                .init_with_weights(bad, &device)
                .is_err()
        );
    }

    #[test]
    fn serde() {
        let cfg: WordEmbeddingConfig = serde_json::from_str(r#"{"embedding_dim": 8}"#).unwrap();
        assert_eq!(cfg, WordEmbeddingConfig::new(8));
        let back: WordEmbeddingConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        let err = serde_json::from_str::<WordEmbeddingConfig>(r#"{"embedding_dim": 8, "x": 1}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"));
    }
}

#[cfg(test)]
mod sparse_tests {
    use super::*;
    use crate::sparse::take_lookups;
    use crate::test_util::*;

    #[test]
    fn sparse_row_gradients_equal_the_dense_gradient_rows() {
        let device = ad_dev();
        let dense = WordEmbeddingConfig::new(3).init(9, &device);
        let mut sparse = dense.clone();
        sparse.sparse = true;
        let ids1 = ints2(&[vec![4, 2, 0, 4], vec![7, 0, 0, 0]], &device);
        let ids2 = ints2(&[vec![2, 8, 1], vec![0, 0, 0]], &device);
        let head = randn([2, 4, 3], &device);
        let head2 = randn([2, 3, 3], &device);
        let loss = |e: &WordEmbedding| {
            (e.forward(ids1.clone()) * head.clone()).sum()
                + (e.forward(ids2.clone()).powi_scalar(2) * head2.clone()).sum()
        };
        // Forward values agree.
        assert_eq!(
            to_vec(dense.forward(ids1.clone())),
            to_vec(sparse.forward(ids1.clone()))
        );
        take_lookups(&[sparse.weight.id]);
        let g = loss(&dense).backward();
        let want = to_vec(dense.weight.val().grad(&g).unwrap());
        let g = loss(&sparse).backward();
        assert!(sparse.weight.val().grad(&g).is_none(), "no dense gradient");
        let lookups = take_lookups(&[sparse.weight.id]);
        assert_eq!(lookups.len(), 2);
        assert_eq!(lookups[0].ids, vec![0, 2, 4, 7]);
        assert_eq!(lookups[1].ids, vec![0, 1, 2, 8]);
        let mut got = vec![0f32; 27];
        for l in &lookups {
            let rows = to_vec(l.rows.grad(&g).unwrap());
            for (i, id) in l.ids.iter().enumerate() {
                for c in 0..3 {
                    got[*id as usize * 3 + c] += rows[i * 3 + c];
                }
            }
        }
        assert_close(&got, &want, 1e-6);
        assert!(take_lookups(&[sparse.weight.id]).is_empty());
    }

    #[test]
    fn sparse_is_dense_without_autodiff_and_serde_default_false() {
        let device = dev();
        let mut cfg = WordEmbeddingConfig::new(3);
        cfg.sparse = true;
        let emb = cfg.init(6, &device);
        let ids = ints2(&[vec![1, 5, 0]], &device);
        let out = to_vec(emb.forward(ids));
        assert_eq!(out.len(), 9);
        assert!(take_lookups(&[emb.weight.id]).is_empty());
        let c: WordEmbeddingConfig =
            serde_json::from_str(r#"{"embedding_dim": 2, "sparse": true}"#).unwrap();
        assert!(c.sparse);
        let c: WordEmbeddingConfig = serde_json::from_str(r#"{"embedding_dim": 2}"#).unwrap();
        assert!(!c.sparse);
    }
}
