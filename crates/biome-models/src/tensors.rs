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

    /// `[B, L]`: each record's word ids in one row (fields one after another).
    pub fn token_rows(&self) -> Tensor<2, Int> {
        match self {
            Self::Single { tokens, .. } => tokens.clone(),
            Self::Multi { tokens, .. } => {
                let [b, f, t] = tokens.dims();
                tokens.clone().reshape([b, f * t])
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

/// `t` padded with zeros at the end of every dimension up to `dims`.
fn pad_ints<const D: usize>(mut t: Tensor<D, Int>, dims: [usize; D]) -> Tensor<D, Int> {
    for (axis, &want) in dims.iter().enumerate() {
        let mut shape = t.dims();
        if shape[axis] < want {
            shape[axis] = want - shape[axis];
            let device = t.device();
            t = Tensor::cat(vec![t, Tensor::zeros(shape, &device)], axis);
        }
    }
    t
}

/// Two padded batches as one `[B1 + B2, …]`, each padded to the larger size of every other
/// dimension (tokens, fields, characters).
fn stack<const D: usize>(a: Tensor<D, Int>, b: Tensor<D, Int>) -> Tensor<D, Int> {
    let (da, db) = (a.dims(), b.dims());
    let (mut to_a, mut to_b) = (da, db);
    for axis in 1..D {
        let m = da[axis].max(db[axis]);
        to_a[axis] = m;
        to_b[axis] = m;
    }
    Tensor::cat(vec![pad_ints(a, to_a), pad_ints(b, to_b)], 0)
}

fn stack_masks<const D: usize>(a: Tensor<D, Bool>, b: Tensor<D, Bool>) -> Tensor<D, Bool> {
    stack(a.int(), b.int()).bool()
}

impl RecordTensors {
    /// Both batches as one: `self`'s rows first, then `other`'s, padded to common sizes. `None`
    /// when they differ in kind (single/multi-field) or only one carries character ids.
    ///
    /// Every encoder is mask-exact (padding never changes an encoding), so encoding the stacked
    /// batch gives each row the vector it gets alone.
    pub fn stacked_with(&self, other: &Self) -> Option<Self> {
        fn chars<const D: usize>(
            a: &Option<Tensor<D, Int>>,
            b: &Option<Tensor<D, Int>>,
        ) -> Option<Option<Tensor<D, Int>>> {
            match (a, b) {
                (Some(a), Some(b)) => Some(Some(stack(a.clone(), b.clone()))),
                (None, None) => Some(None),
                _ => None,
            }
        }
        match (self, other) {
            (
                Self::Single {
                    tokens: t1,
                    mask: m1,
                    chars: c1,
                },
                Self::Single {
                    tokens: t2,
                    mask: m2,
                    chars: c2,
                },
            ) => Some(Self::Single {
                chars: chars(c1, c2)?,
                tokens: stack(t1.clone(), t2.clone()),
                mask: stack_masks(m1.clone(), m2.clone()),
            }),
            (
                Self::Multi {
                    tokens: t1,
                    mask: m1,
                    chars: c1,
                },
                Self::Multi {
                    tokens: t2,
                    mask: m2,
                    chars: c2,
                },
            ) => Some(Self::Multi {
                chars: chars(c1, c2)?,
                tokens: stack(t1.clone(), t2.clone()),
                mask: stack_masks(m1.clone(), m2.clone()),
            }),
            _ => None,
        }
    }
}
