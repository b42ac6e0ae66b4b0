//! `regularizer`: L1/L2 penalties on the parameters whose path matches a regex, added to the
//! training loss.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::param_path::PathStack;

/// A penalty, written `{"type": "l2", "alpha": 0.01}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Penalty {
    /// `alpha · Σ|w|`
    L1 {
        /// Strength.
        alpha: f64,
    },
    /// `alpha · Σw²`
    L2 {
        /// Strength.
        alpha: f64,
    },
}

/// One `[regex, penalty]` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegularizerRule(pub String, pub Penalty);

impl RegularizerRule {
    pub(crate) fn compile(&self) -> Result<Regex, ModelError> {
        Regex::new(&self.0).map_err(|e| ModelError::Regex {
            pattern: self.0.clone(),
            message: e.to_string(),
        })
    }
}

/// Compiled rules, ready to compute the penalty of a module.
#[derive(Debug, Clone)]
pub struct Regularizer {
    rules: Vec<(Regex, Penalty)>,
}

struct PenaltyVisitor<'a> {
    rules: &'a [(Regex, Penalty)],
    path: PathStack,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for PenaltyVisitor<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.path();
        let Some((_, penalty)) = self.rules.iter().find(|(re, _)| re.is_match(&path)) else {
            return;
        };
        let w = param.val();
        let term = match *penalty {
            Penalty::L1 { alpha } => w.abs().sum().mul_scalar(alpha),
            Penalty::L2 { alpha } => w.square().sum().mul_scalar(alpha),
        };
        self.total = Some(match self.total.take() {
            Some(t) => t + term,
            None => term,
        });
    }
}

impl Regularizer {
    /// Compile rules (an invalid regex is an error naming it).
    pub fn new(rules: &[RegularizerRule]) -> Result<Self, ModelError> {
        Ok(Self {
            rules: rules
                .iter()
                .map(|r| Ok((r.compile()?, r.1.clone())))
                .collect::<Result<_, ModelError>>()?,
        })
    }

    /// Whether there is anything to add.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The summed penalty `[1]` of the matching parameters, or `None` if none matches.
    pub fn penalty<M: Module>(&self, module: &M) -> Option<Tensor<1>> {
        if self.rules.is_empty() {
            return None;
        }
        let mut visitor = PenaltyVisitor {
            rules: &self.rules,
            path: PathStack::default(),
            total: None,
        };
        module.visit(&mut visitor);
        visitor.total
    }
}
