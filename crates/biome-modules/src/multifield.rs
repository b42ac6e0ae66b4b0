//! Record encoders: a single token sequence ([`SequenceEncoder`]) or a hierarchical multi-field
//! encoding ([`MultifieldEncoder`]).
//!
//! Multi-field: embedded tokens `[B, F, T, D]` and token mask `[B, F, T]` are reshaped to
//! `[B·F, T, D]` (no per-field loop), encoded into one vector per field `[B, F, H]`; the field
//! mask (a field is present iff it has a real token) drives a stable compaction of the present
//! fields to the front, so the field-level encoders always see a prefix mask and an empty field
//! between two real ones has no effect at all; then the field vectors are encoded into `[B, H']`.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, check_dropout};
use crate::seq2seq::{Seq2SeqEncoder, Seq2SeqEncoderConfig};
use crate::seq2vec::{Seq2VecEncoder, Seq2VecEncoderConfig};

/// `seq2seq_encoder? -> seq2vec_encoder -> dropout`:
/// `{"seq2seq_encoder": null, "seq2vec_encoder": {"boe": {}}, "dropout": 0.0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceEncoderConfig {
    /// Optional contextualisation of the tokens.
    #[serde(default)]
    pub seq2seq_encoder: Option<Seq2SeqEncoderConfig>,
    /// Pooling of the tokens into one vector.
    pub seq2vec_encoder: Seq2VecEncoderConfig,
    /// Dropout on the vector (training only).
    #[serde(default)]
    pub dropout: f64,
}

/// Resolve `seq2seq? -> seq2vec` for `input_dim` features from `producer`, naming the modules
/// `<prefix>seq2seq_encoder` / `<prefix>seq2vec_encoder` in errors.
fn resolve_stack(
    seq2seq: &Option<Seq2SeqEncoderConfig>,
    seq2vec: &Seq2VecEncoderConfig,
    input_dim: usize,
    producer: &str,
    prefix: &str,
) -> Result<(Option<Seq2SeqEncoderConfig>, Seq2VecEncoderConfig), ModuleError> {
    let s2s_name = format!("{prefix}seq2seq_encoder");
    let s2v_name = format!("{prefix}seq2vec_encoder");
    let (s2s, dim, producer) = match seq2seq {
        Some(c) => {
            let c = c
                .resolve(input_dim)
                .map_err(|e| e.named(&s2s_name, producer))?;
            let d = c.output_dim();
            (Some(c), d, s2s_name.as_str())
        }
        None => (None, input_dim, producer),
    };
    let s2v = seq2vec
        .resolve(dim)
        .map_err(|e| e.named(&s2v_name, producer))?;
    Ok((s2s, s2v))
}

impl SequenceEncoderConfig {
    /// A bare seq2vec encoder without dropout.
    pub fn new(seq2vec_encoder: Seq2VecEncoderConfig) -> Self {
        Self {
            seq2seq_encoder: None,
            seq2vec_encoder,
            dropout: 0.0,
        }
    }

    /// Check the dimensions for `input_dim` features from the `text_field_embedder` and fill
    /// them in. Errors name both ends, e.g.
    /// `seq2vec_encoder input_dim 300 != text_field_embedder output 316`.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        check_dropout("dropout", self.dropout)?;
        let (s2s, s2v) = resolve_stack(
            &self.seq2seq_encoder,
            &self.seq2vec_encoder,
            input_dim,
            "text_field_embedder",
            "",
        )?;
        Ok(Self {
            seq2seq_encoder: s2s,
            seq2vec_encoder: s2v,
            dropout: self.dropout,
        })
    }

    /// Output size for `input_dim` features.
    pub fn output_dim(&self, input_dim: usize) -> Result<usize, ModuleError> {
        Ok(self.resolve(input_dim)?.seq2vec_encoder.output_dim())
    }

    /// Build for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<SequenceEncoder, ModuleError> {
        let c = self.resolve(input_dim)?;
        let seq2seq = c
            .seq2seq_encoder
            .as_ref()
            .map(|s| s.init(input_dim, device))
            .transpose()?;
        let dim = seq2seq.as_ref().map_or(input_dim, |s| s.output_dim());
        Ok(SequenceEncoder {
            seq2seq,
            seq2vec: c.seq2vec_encoder.init(dim, device)?,
            dropout: DropoutConfig::new(c.dropout).init(),
        })
    }
}

/// `seq2seq? -> seq2vec -> dropout`, `[B, T, D] -> [B, H]`.
#[derive(Module, Debug)]
pub struct SequenceEncoder {
    /// Optional token contextualisation.
    pub seq2seq: Option<Seq2SeqEncoder>,
    /// Token pooling.
    pub seq2vec: Seq2VecEncoder,
    /// Output dropout.
    pub dropout: Dropout,
}

impl SequenceEncoder {
    /// Output size `H`.
    pub fn output_dim(&self) -> usize {
        self.seq2vec.output_dim()
    }

    /// - x: `[B, T, D]`, mask: `[B, T]` -> `[B, H]`; all-padding rows give zeros.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let x = match &self.seq2seq {
            Some(s) => s.forward(x, mask.clone()),
            None => x,
        };
        self.dropout.forward(self.seq2vec.forward(x, mask))
    }
}

/// Token level (`seq2seq_encoder?`, `seq2vec_encoder`, `dropout`) then field level
/// (`multifield_seq2seq_encoder?`, `multifield_seq2vec_encoder`, `multifield_dropout`), with
/// biome.text's parameter names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultifieldEncoderConfig {
    /// Optional contextualisation of each field's tokens.
    #[serde(default)]
    pub seq2seq_encoder: Option<Seq2SeqEncoderConfig>,
    /// Pooling of each field's tokens into a field vector.
    pub seq2vec_encoder: Seq2VecEncoderConfig,
    /// Dropout on the field vectors.
    #[serde(default)]
    pub dropout: f64,
    /// Optional contextualisation of the field vectors.
    #[serde(default)]
    pub multifield_seq2seq_encoder: Option<Seq2SeqEncoderConfig>,
    /// Pooling of the field vectors into the record vector.
    pub multifield_seq2vec_encoder: Seq2VecEncoderConfig,
    /// Dropout on the record vector.
    #[serde(default)]
    pub multifield_dropout: f64,
}

impl MultifieldEncoderConfig {
    /// Token-level and field-level seq2vec encoders, no seq2seq, no dropout.
    pub fn new(seq2vec: Seq2VecEncoderConfig, multifield_seq2vec: Seq2VecEncoderConfig) -> Self {
        Self {
            seq2seq_encoder: None,
            seq2vec_encoder: seq2vec,
            dropout: 0.0,
            multifield_seq2seq_encoder: None,
            multifield_seq2vec_encoder: multifield_seq2vec,
            multifield_dropout: 0.0,
        }
    }

    /// Check every dimension for `input_dim` features from the `text_field_embedder` and fill
    /// them in; errors name both ends.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        check_dropout("dropout", self.dropout)?;
        check_dropout("multifield_dropout", self.multifield_dropout)?;
        let (s2s, s2v) = resolve_stack(
            &self.seq2seq_encoder,
            &self.seq2vec_encoder,
            input_dim,
            "text_field_embedder",
            "",
        )?;
        let (ms2s, ms2v) = resolve_stack(
            &self.multifield_seq2seq_encoder,
            &self.multifield_seq2vec_encoder,
            s2v.output_dim(),
            "seq2vec_encoder",
            "multifield_",
        )?;
        Ok(Self {
            seq2seq_encoder: s2s,
            seq2vec_encoder: s2v,
            dropout: self.dropout,
            multifield_seq2seq_encoder: ms2s,
            multifield_seq2vec_encoder: ms2v,
            multifield_dropout: self.multifield_dropout,
        })
    }

    /// Output size for `input_dim` features.
    pub fn output_dim(&self, input_dim: usize) -> Result<usize, ModuleError> {
        Ok(self
            .resolve(input_dim)?
            .multifield_seq2vec_encoder
            .output_dim())
    }

    /// Build for `input_dim` features.
    pub fn init(
        &self,
        input_dim: usize,
        device: &Device,
    ) -> Result<MultifieldEncoder, ModuleError> {
        let c = self.resolve(input_dim)?;
        let tokens = SequenceEncoderConfig {
            seq2seq_encoder: c.seq2seq_encoder.clone(),
            seq2vec_encoder: c.seq2vec_encoder.clone(),
            dropout: c.dropout,
        }
        .init(input_dim, device)?;
        let fields = SequenceEncoderConfig {
            seq2seq_encoder: c.multifield_seq2seq_encoder.clone(),
            seq2vec_encoder: c.multifield_seq2vec_encoder.clone(),
            dropout: c.multifield_dropout,
        }
        .init(tokens.output_dim(), device)?;
        Ok(MultifieldEncoder { tokens, fields })
    }
}

/// Hierarchical record encoder `[B, F, T, D] -> [B, H']`.
#[derive(Module, Debug)]
pub struct MultifieldEncoder {
    /// Token level: one vector per field.
    pub tokens: SequenceEncoder,
    /// Field level: one vector per record.
    pub fields: SequenceEncoder,
}

/// Move the present fields of each record to the front, keeping their order.
///
/// - x: `[B, F, H]`, present: `[B, F]`
/// - returns the gathered `[B, F, H]` (absent fields zeroed, at the back) and the prefix mask
///   `[B, F]`.
///
/// Each field's destination is a running count (present fields first, then the absent ones),
/// and the move is one batched product with the one-hot `[B, F, F]` permutation. Not an
/// argsort: burn's cube backends (wgpu) have no sort kernel and sort on the host, a host
/// synchronisation inside every forward pass.
pub fn compact_fields(x: Tensor<3>, present: Tensor<2, Bool>) -> (Tensor<3>, Tensor<2, Bool>) {
    let [b, f, _] = x.dims();
    let device = x.device();
    let positions = Tensor::<1, Int>::arange(0..f as i64, &device)
        .unsqueeze_dim::<2>(0)
        .expand([b, f]);
    let is_present = present.clone().int(); // [B, F]
    let is_absent = present.bool_not().int();
    let count = is_present.clone().sum_dim(1); // [B, 1]
    // Present field: how many present fields precede it; absent: `count` plus how many absent.
    let to_present = is_present.clone().cumsum(1) - 1;
    let to_absent = is_absent.clone().cumsum(1) - 1 + count.clone().expand([b, f]);
    let destination = to_present * is_present + to_absent * is_absent; // [B, F]
    // one_hot[b, d, s] = 1 where source field s moves to d.
    let one_hot = destination
        .unsqueeze_dim::<3>(1)
        .expand([b, f, f])
        .equal(positions.clone().unsqueeze_dim::<3>(2).expand([b, f, f]))
        .float();
    let mask = positions.lower(count.expand([b, f]));
    let gathered = one_hot.matmul(x) * mask.clone().float().unsqueeze_dim::<3>(2);
    (gathered, mask)
}

impl MultifieldEncoder {
    /// Output size `H'`.
    pub fn output_dim(&self) -> usize {
        self.fields.output_dim()
    }

    /// Field vectors before the field level.
    ///
    /// - x: `[B, F, T, D]`, mask: `[B, F, T]`
    /// - returns the field vectors `[B, F, H]` and the field mask `[B, F]` (a field is present
    ///   iff it has a real token).
    pub fn encode_fields(
        &self,
        x: Tensor<4>,
        mask: Tensor<3, Bool>,
    ) -> (Tensor<3>, Tensor<2, Bool>) {
        let [b, f, t, d] = x.dims();
        let field_mask = mask.clone().any_dim(2).reshape([b, f]);
        let vectors = self
            .tokens
            .forward(x.reshape([b * f, t, d]), mask.reshape([b * f, t]));
        let h = vectors.dims()[1];
        (vectors.reshape([b, f, h]), field_mask)
    }

    /// - x: `[B, F, T, D]` embedded tokens, mask: `[B, F, T]` token mask
    /// - returns `[B, H']`; records without any token give zeros.
    pub fn forward(&self, x: Tensor<4>, mask: Tensor<3, Bool>) -> Tensor<2> {
        let (vectors, field_mask) = self.encode_fields(x, mask);
        let (vectors, field_mask) = compact_fields(vectors, field_mask);
        self.fields.forward(vectors, field_mask)
    }
}
