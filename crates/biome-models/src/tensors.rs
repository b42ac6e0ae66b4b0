//! Moving a padded [`RecordBatch`] (plain vectors from biome-core) onto a device as tensors.

use biome_core::RecordBatch;
use burn::prelude::*;
use burn::tensor::TensorData;

/// One side of a batch of pairs, as tensors.
#[derive(Debug, Clone)]
pub enum RecordTensors {
    /// Single-field records.
    Single {
        /// `[B, T]` word ids (0 = padding).
        tokens: Tensor<2, Int>,
        /// `[B, T]`, true = real token.
        mask: Tensor<2, Bool>,
        /// `[B, T, C]` character ids, when characters are indexed.
        chars: Option<Tensor<3, Int>>,
    },
    /// Multi-field records.
    Multi {
        /// `[B, F, T]` word ids.
        tokens: Tensor<3, Int>,
        /// `[B, F, T]`.
        mask: Tensor<3, Bool>,
        /// `[B, F, T, C]`.
        chars: Option<Tensor<4, Int>>,
    },
}

fn ints<const D: usize>(data: &[i64], shape: &[usize], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape.to_vec()), device)
}

fn bools<const D: usize>(data: &[bool], shape: &[usize], device: &Device) -> Tensor<D, Bool> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape.to_vec()), device)
}

impl RecordTensors {
    /// Upload a batch to `device`.
    pub fn from_batch(batch: &RecordBatch, device: &Device) -> Self {
        let shape = &batch.shape_tokens;
        let chars = batch.chars.as_ref().zip(batch.shape_chars.as_ref());
        if batch.is_multifield() {
            Self::Multi {
                tokens: ints(&batch.tokens, shape, device),
                mask: bools(&batch.token_mask, shape, device),
                chars: chars.map(|(c, s)| ints(c, s, device)),
            }
        } else {
            Self::Single {
                tokens: ints(&batch.tokens, shape, device),
                mask: bools(&batch.token_mask, shape, device),
                chars: chars.map(|(c, s)| ints(c, s, device)),
            }
        }
    }

    /// Rows in the batch.
    pub fn batch_size(&self) -> usize {
        match self {
            Self::Single { tokens, .. } => tokens.dims()[0],
            Self::Multi { tokens, .. } => tokens.dims()[0],
        }
    }
}
