//! Grouping example indices into batches.
//!
//! Padding costs compute: a batch is as long as its longest member. Bucketing sorts examples
//! by length (with a little multiplicative noise so that batches differ between epochs) and
//! cuts the sorted order into batches, which keeps batches length-homogeneous; shuffling the
//! order of the batches keeps training from seeing short examples first.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use thiserror::Error;

/// Errors of batching.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BucketError {
    /// The batch size was 0.
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// The noise was negative, not finite, or 1 or more (it could reverse or zero lengths).
    #[error("bucketing noise must be in [0, 1), got {0}")]
    InvalidNoise(String),
}

/// Consecutive batches `0..batch_size`, `batch_size..2*batch_size`, ... over `n` examples (the
/// last one may be smaller); for evaluation and prediction, where order matters.
pub fn sequential_batches(n: usize, batch_size: usize) -> Result<Vec<Vec<usize>>, BucketError> {
    if batch_size == 0 {
        return Err(BucketError::ZeroBatchSize);
    }
    Ok((0..n)
        .collect::<Vec<_>>()
        .chunks(batch_size)
        .map(<[usize]>::to_vec)
        .collect())
}

/// Sorts example indices by `lengths[i] * (1 + u)`, `u` uniform in `[-noise, noise]`, cuts them
/// into batches of `batch_size` (the last may be smaller) and, if `shuffle`, shuffles the order
/// of the batches. Every index appears exactly once. Deterministic given the state of `rng`.
pub fn bucket_batches<R: Rng + ?Sized>(
    lengths: &[usize],
    batch_size: usize,
    noise: f64,
    rng: &mut R,
    shuffle: bool,
) -> Result<Vec<Vec<usize>>, BucketError> {
    if batch_size == 0 {
        return Err(BucketError::ZeroBatchSize);
    }
    if !noise.is_finite() || !(0.0..1.0).contains(&noise) {
        return Err(BucketError::InvalidNoise(noise.to_string()));
    }
    let mut keyed: Vec<(f64, usize)> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let factor = if noise > 0.0 {
                1.0 + rng.random_range(-noise..=noise)
            } else {
                1.0
            };
            (len as f64 * factor, i)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut batches: Vec<Vec<usize>> = keyed
        .chunks(batch_size)
        .map(|chunk| chunk.iter().map(|&(_, i)| i).collect())
        .collect();
    if shuffle {
        batches.shuffle(rng);
    }
    Ok(batches)
}

/// [`bucket_batches`] with a `StdRng` seeded from `seed`.
pub fn bucket_batches_seeded(
    lengths: &[usize],
    batch_size: usize,
    noise: f64,
    seed: u64,
    shuffle: bool,
) -> Result<Vec<Vec<usize>>, BucketError> {
    let mut rng = StdRng::seed_from_u64(seed);
    bucket_batches(lengths, batch_size, noise, &mut rng, shuffle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_flat(batches: &[Vec<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        all
    }

    #[test]
    fn sequential() {
        assert_eq!(
            sequential_batches(5, 2).unwrap(),
            [vec![0, 1], vec![2, 3], vec![4]]
        );
        assert!(sequential_batches(0, 3).unwrap().is_empty());
        assert_eq!(sequential_batches(3, 0), Err(BucketError::ZeroBatchSize));
    }

    #[test]
    fn covers_every_index_once_and_is_homogeneous() {
        // lengths in two clearly separated groups
        let lengths: Vec<usize> = (0..40)
            .map(|i| if i % 2 == 0 { 3 + i % 3 } else { 50 + i % 5 })
            .collect();
        let batches = bucket_batches_seeded(&lengths, 10, 0.1, 7, true).unwrap();
        assert_eq!(batches.len(), 4);
        assert_eq!(sorted_flat(&batches), (0..40).collect::<Vec<_>>());
        for batch in &batches {
            let lens: Vec<usize> = batch.iter().map(|&i| lengths[i]).collect();
            let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
            assert!(max - min <= 5, "batch not homogeneous: {lens:?}");
        }
    }

    #[test]
    fn deterministic_and_shuffled() {
        let lengths: Vec<usize> = (0..100).map(|i| i % 17).collect();
        let a = bucket_batches_seeded(&lengths, 8, 0.1, 42, true).unwrap();
        let b = bucket_batches_seeded(&lengths, 8, 0.1, 42, true).unwrap();
        assert_eq!(a, b);
        let unshuffled = bucket_batches_seeded(&lengths, 8, 0.0, 42, false).unwrap();
        // without noise or shuffle: batches in ascending length
        let maxes: Vec<usize> = unshuffled
            .iter()
            .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap())
            .collect();
        assert!(maxes.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(sorted_flat(&unshuffled), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            bucket_batches_seeded(&[1], 0, 0.1, 0, true),
            Err(BucketError::ZeroBatchSize)
        );
        assert!(matches!(
            bucket_batches_seeded(&[1], 1, f64::NAN, 0, true),
            Err(BucketError::InvalidNoise(_))
        ));
        assert!(
            bucket_batches_seeded(&[], 4, 0.1, 0, true)
                .unwrap()
                .is_empty()
        );
    }
}
