//! Where the BERT builders get their parameters: drawn at random ([`RandomWeights`]) or read from
//! a Hugging Face `model.safetensors` ([`SafetensorsWeights`]). Every builder asks by the Hugging
//! Face name and shape, so the name mapping and the shape checks live in one place per module and
//! the random and the loaded model are built by the same code.
//!
//! Why the `safetensors` crate and not burn-store's `SafetensorsStore`: the store applies a
//! record onto an already built module, so a load first pays a random initialisation of every
//! weight, and its errors are its own type (the tensor names our users see would be burn's module
//! paths, not the file's). Reading the file with the format's reference crate into `TensorData`
//! is a few lines, names the file and the Hugging Face tensor in every error, checks every shape
//! against the config, and transposes the linear weights (`[out, in]` → burn's `[in, out]`) once,
//! on the host, into contiguous memory.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, Initializer, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::error::ModuleError;

/// How a parameter is drawn when it is not loaded (Hugging Face's `BertPreTrainedModel`
/// initialisation).
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// `N(0, std²)` (weights of linear layers and embeddings).
    Normal(f64),
    /// All ones (LayerNorm scale).
    Ones,
    /// All zeros (biases, LayerNorm shift).
    Zeros,
}

impl Init {
    fn initializer(self) -> Initializer {
        match self {
            Self::Normal(std) => Initializer::Normal { mean: 0.0, std },
            Self::Ones => Initializer::Ones,
            Self::Zeros => Initializer::Zeros,
        }
    }
}

/// A source of named parameters; names and shapes are Hugging Face's (without the `bert.`
/// prefix).
pub trait WeightSource {
    /// The device the parameters go to.
    fn device(&self) -> &Device;

    /// Parameter `name` of `shape`, stored as it is.
    fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Result<Param<Tensor<D>>, ModuleError>;

    /// The weight of a linear layer `name`: `[d_out, d_in]` in the file (PyTorch's layout),
    /// returned as burn's `[d_in, d_out]`.
    fn linear_weight(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        init: Init,
    ) -> Result<Param<Tensor<2>>, ModuleError>;
}

/// Random parameters (lazily drawn on first use, so a model whose weights are about to be
/// loaded from a record never draws them).
pub struct RandomWeights<'d> {
    device: &'d Device,
}

impl<'d> RandomWeights<'d> {
    /// Parameters on `device`.
    pub fn new(device: &'d Device) -> Self {
        Self { device }
    }
}

impl WeightSource for RandomWeights<'_> {
    fn device(&self) -> &Device {
        self.device
    }

    fn param<const D: usize>(
        &mut self,
        _name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Result<Param<Tensor<D>>, ModuleError> {
        Ok(init.initializer().init(shape, self.device))
    }

    fn linear_weight(
        &mut self,
        _name: &str,
        d_in: usize,
        d_out: usize,
        init: Init,
    ) -> Result<Param<Tensor<2>>, ModuleError> {
        Ok(init.initializer().init([d_in, d_out], self.device))
    }
}

/// Parameters read from a parsed `model.safetensors`. Accepts names with and without the
/// `bert.` prefix (`BertModel` vs `BertForPreTraining`/`...ForMaskedLM` checkpoints); tensors
/// the model does not ask for (`pooler.*`, `embeddings.position_ids`, MLM/NSP heads) are ignored.
pub struct SafetensorsWeights<'a, 'd> {
    file: SafeTensors<'a>,
    path: PathBuf,
    device: &'d Device,
}

impl<'a, 'd> SafetensorsWeights<'a, 'd> {
    /// Parse `bytes`, the content of the file at `path` (named in errors).
    pub fn parse(bytes: &'a [u8], path: &Path, device: &'d Device) -> Result<Self, ModuleError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ModuleError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            device,
        })
    }

    /// The values of `name` (as f32, row-major) after checking its shape, and the name as the
    /// file spells it.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModuleError> {
        let prefixed = format!("bert.{name}");
        let (found_name, view) = match self.file.tensor(name) {
            Ok(v) => (name.to_string(), v),
            Err(_) => match self.file.tensor(&prefixed) {
                Ok(v) => (prefixed, v),
                Err(_) => {
                    return Err(ModuleError::MissingWeight {
                        path: self.path.clone(),
                        tensor: name.into(),
                    });
                }
            },
        };
        if view.shape() != shape {
            return Err(ModuleError::WeightShape {
                path: self.path.clone(),
                tensor: found_name,
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let bytes = view.data();
        Ok(match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            other => {
                return Err(ModuleError::WeightDtype {
                    path: self.path.clone(),
                    tensor: found_name,
                    dtype: format!("{other:?}"),
                });
            }
        })
    }
}

impl WeightSource for SafetensorsWeights<'_, '_> {
    fn device(&self) -> &Device {
        self.device
    }

    fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        _init: Init,
    ) -> Result<Param<Tensor<D>>, ModuleError> {
        let values = self.read(name, &shape)?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        )))
    }

    fn linear_weight(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        _init: Init,
    ) -> Result<Param<Tensor<2>>, ModuleError> {
        let out_in = self.read(name, &[d_out, d_in])?;
        let mut in_out = vec![0f32; out_in.len()];
        for (o, row) in out_in.chunks_exact(d_in).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                in_out[i * d_out + o] = v;
            }
        }
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(in_out, [d_in, d_out]),
            self.device,
        )))
    }
}

/// The linear layer `name` (`name.weight` `[d_out, d_in]`, `name.bias` `[d_out]` in the file).
pub fn linear<S: WeightSource>(
    src: &mut S,
    name: &str,
    d_in: usize,
    d_out: usize,
    std: f64,
) -> Result<Linear, ModuleError> {
    Ok(Linear {
        weight: src.linear_weight(&format!("{name}.weight"), d_in, d_out, Init::Normal(std))?,
        bias: Some(src.param(&format!("{name}.bias"), [d_out], Init::Zeros)?),
    })
}

/// The LayerNorm `name` (`name.weight` = scale, `name.bias` = shift, both `[d]`).
pub fn layer_norm<S: WeightSource>(
    src: &mut S,
    name: &str,
    d: usize,
    epsilon: f64,
) -> Result<LayerNorm, ModuleError> {
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(epsilon)
        .init(src.device());
    norm.gamma = src.param(&format!("{name}.weight"), [d], Init::Ones)?;
    norm.beta = Some(src.param(&format!("{name}.bias"), [d], Init::Zeros)?);
    Ok(norm)
}

/// The embedding table `name` (`name.weight` `[rows, d]`).
pub fn embedding<S: WeightSource>(
    src: &mut S,
    name: &str,
    rows: usize,
    d: usize,
    std: f64,
) -> Result<Embedding, ModuleError> {
    Ok(Embedding {
        weight: src.param(&format!("{name}.weight"), [rows, d], Init::Normal(std))?,
    })
}
