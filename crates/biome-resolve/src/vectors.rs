//! The record vectors a neighbour search reads: rows of `dim` values, borrowed as the encoder
//! wrote them (the pair head scores on the raw vectors, so a second, normalised copy of the
//! whole table would only double the memory), with one inverse norm per row for the cosine.

use std::borrow::Cow;

/// Row vectors with their inverse norms (a zero row has inverse norm 0: similarity 0 with
/// every row).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSet<'a> {
    dim: usize,
    data: Cow<'a, [f32]>,
    inverse_norms: Vec<f32>,
}

impl<'a> VectorSet<'a> {
    /// `data` holds `data.len() / dim` rows of `dim` values each.
    ///
    /// # Panics
    /// When `dim` is 0 or does not divide `data.len()` (a caller's bug, not user input).
    pub fn new(dim: usize, data: impl Into<Cow<'a, [f32]>>) -> Self {
        let data = data.into();
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "{} values, dim {dim}",
            data.len()
        );
        let inverse_norms = data
            .chunks(dim)
            .map(|row| {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 { 1.0 / norm } else { 0.0 }
            })
            .collect();
        Self {
            dim,
            data,
            inverse_norms,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.inverse_norms.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.inverse_norms.is_empty()
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i` as stored.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Rows `start..end`, packed.
    pub fn rows(&self, start: usize, end: usize) -> &[f32] {
        &self.data[start * self.dim..end * self.dim]
    }

    /// `1 / |row i|` (0 for a zero row).
    pub fn inverse_norm(&self, i: usize) -> f32 {
        self.inverse_norms[i]
    }

    /// Row `i` scaled to unit length (zero stays zero).
    pub fn unit_row(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        let s = self.inverse_norms[i];
        self.row(i).iter().map(move |x| x * s)
    }
}
