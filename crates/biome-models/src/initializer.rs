//! `initializer`: `[regex, scheme]` rules over parameter paths; the first match wins.

use burn::module::{ModuleMapper, Param};
use burn::nn::Initializer;
use burn::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::param_path::PathStack;

fn one() -> f64 {
    1.0
}

/// An initialisation scheme, written `{"type": "xavier_uniform", "gain": 1.0}` or just
/// `"xavier_uniform"` (defaults for the rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitScheme {
    /// Glorot uniform.
    XavierUniform {
        /// Gain.
        #[serde(default = "one")]
        gain: f64,
    },
    /// Glorot normal.
    XavierNormal {
        /// Gain.
        #[serde(default = "one")]
        gain: f64,
    },
    /// He uniform.
    KaimingUniform {
        /// Gain.
        #[serde(default = "one")]
        gain: f64,
    },
    /// He normal.
    KaimingNormal {
        /// Gain.
        #[serde(default = "one")]
        gain: f64,
    },
    /// (Semi-)orthogonal matrix.
    Orthogonal {
        /// Gain.
        #[serde(default = "one")]
        gain: f64,
    },
    /// Normal distribution.
    Normal {
        /// Mean.
        #[serde(default)]
        mean: f64,
        /// Standard deviation.
        #[serde(default = "one")]
        std: f64,
    },
    /// Uniform distribution on `[a, b)`.
    Uniform {
        /// Lower bound.
        #[serde(default)]
        a: f64,
        /// Upper bound.
        #[serde(default = "one")]
        b: f64,
    },
    /// Every value `val`.
    Constant {
        /// The value.
        val: f64,
    },
    /// All zeros.
    Zero,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SchemeRepr {
    Name(String),
    Full(InitScheme),
}

impl InitScheme {
    fn from_repr(repr: SchemeRepr) -> Result<Self, String> {
        match repr {
            SchemeRepr::Full(s) => Ok(s),
            SchemeRepr::Name(name) => serde_json::from_value(serde_json::json!({ "type": name }))
                .map_err(|e| format!("unknown initializer {name:?}: {e}")),
        }
    }

    fn to_burn(&self) -> Initializer {
        match *self {
            Self::XavierUniform { gain } => Initializer::XavierUniform { gain },
            Self::XavierNormal { gain } => Initializer::XavierNormal { gain },
            Self::KaimingUniform { gain } => Initializer::KaimingUniform {
                gain,
                fan_out_only: false,
            },
            Self::KaimingNormal { gain } => Initializer::KaimingNormal {
                gain,
                fan_out_only: false,
            },
            Self::Orthogonal { gain } => Initializer::Orthogonal { gain },
            Self::Normal { mean, std } => Initializer::Normal { mean, std },
            Self::Uniform { a, b } => Initializer::Uniform { min: a, max: b },
            Self::Constant { val } => Initializer::Constant { value: val },
            Self::Zero => Initializer::Zeros,
        }
    }
}

/// One `[regex, scheme]` rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitializerRule(pub String, pub InitScheme);

impl<'de> Deserialize<'de> for InitializerRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (pattern, repr): (String, SchemeRepr) = Deserialize::deserialize(d)?;
        InitScheme::from_repr(repr)
            .map(|s| InitializerRule(pattern, s))
            .map_err(serde::de::Error::custom)
    }
}

impl InitializerRule {
    pub(crate) fn compile(&self) -> Result<Regex, ModelError> {
        Regex::new(&self.0).map_err(|e| ModelError::Regex {
            pattern: self.0.clone(),
            message: e.to_string(),
        })
    }
}

struct InitMapper {
    rules: Vec<(Regex, Initializer)>,
    path: PathStack,
    applied: Vec<String>,
}

impl ModuleMapper for InitMapper {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.path();
        let Some((_, init)) = self.rules.iter().find(|(re, _)| re.is_match(&path)) else {
            return param;
        };
        let init = init.clone();
        self.applied.push(path);
        param.map(|tensor| {
            let dims = tensor.dims();
            // burn stores Linear weights as [d_in, d_out]: fan-in first, fan-out last.
            let fan_in = if D >= 2 { Some(dims[0]) } else { None };
            let fan_out = Some(dims[D - 1]);
            let device = tensor.device();
            init.init_with::<D, _>(dims, fan_in, fan_out, &device)
                .val()
                .detach()
        })
    }
}

/// Apply `rules` to `module`; returns the module and the paths that were initialised.
pub fn apply_initializers<M: Module>(
    module: M,
    rules: &[InitializerRule],
) -> Result<(M, Vec<String>), ModelError> {
    if rules.is_empty() {
        return Ok((module, vec![]));
    }
    let compiled = rules
        .iter()
        .map(|r| Ok((r.compile()?, r.1.to_burn())))
        .collect::<Result<Vec<_>, ModelError>>()?;
    let mut mapper = InitMapper {
        rules: compiled,
        path: PathStack::default(),
        applied: vec![],
    };
    let module = module.map(&mut mapper);
    Ok((module, mapper.applied))
}
