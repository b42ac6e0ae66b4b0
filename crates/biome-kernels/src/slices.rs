//! Conversions between flex tensors and slices, shared by the fused ops, and a gather of rows
//! that writes each value once.

use std::borrow::Cow;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::{DType, Shape, TensorData};

/// Whether a fused op can take `x`: an f32 tensor on the flex device.
pub(crate) fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// The values of an f32 flex tensor in row-major order (borrowed when already contiguous).
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
    }
}

/// A flex tensor owning `values`, of `shape` (an array, or the `Vec` that [`dims`] gives).
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The shape of a flex tensor.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// Rows per rayon task of [`gather_rows`].
const GATHER_ROWS_PER_TASK: usize = 64;

/// `[rows, width]` whose row `i` is a copy of `source(i)` (`width` values), or zeros where it is
/// `None`, copied across the rayon pool. Each value is written once: unlike `vec![0.0; n]`
/// followed by the copies, the buffer is not zero-filled first.
///
/// # Panics
/// If a source row is not `width` long (a caller's bug).
pub(crate) fn gather_rows<'a>(
    rows: usize,
    width: usize,
    source: impl Fn(usize) -> Option<&'a [f32]> + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;

    let n = rows * width;
    let mut out: Vec<f32> = Vec::with_capacity(n);
    if width > 0 {
        out.spare_capacity_mut()[..n]
            .par_chunks_mut(GATHER_ROWS_PER_TASK * width)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (i, row) in chunk.chunks_mut(width).enumerate() {
                    match source(task * GATHER_ROWS_PER_TASK + i) {
                        Some(values) => {
                            assert_eq!(values.len(), width, "gather_rows: source row width");
                            for (o, &v) in row.iter_mut().zip(values) {
                                o.write(v);
                            }
                        }
                        None => row.fill(MaybeUninit::new(0.0)),
                    }
                }
            });
    }
    // SAFETY: the chunks cover all `n` values, and every row was written in full (a source
    // row of any other length panics before `set_len`).
    unsafe { out.set_len(n) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn gather_rows_copies_sources_and_zeroes_the_rest() {
        let table: Vec<f32> = (0..12).map(|v| v as f32).collect();
        // 150 rows: several rayon tasks.
        let out = super::gather_rows(150, 3, |i| {
            (i % 5 != 0).then(|| &table[(i % 4) * 3..(i % 4) * 3 + 3])
        });
        for (i, row) in out.chunks(3).enumerate() {
            let want: Vec<f32> = if i % 5 == 0 {
                vec![0.0; 3]
            } else {
                table[(i % 4) * 3..(i % 4) * 3 + 3].to_vec()
            };
            assert_eq!(row, want.as_slice(), "row {i}");
        }
        assert!(super::gather_rows(4, 0, |_| None).is_empty());
    }
}
