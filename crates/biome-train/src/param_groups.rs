//! AllenNLP's `parameter_groups`: optimizer settings of their own for the parameters whose
//! path matches a regex, e.g. a small learning rate for a pretrained transformer and no weight
//! decay for biases:
//!
//! ```json
//! "parameter_groups": [[["transformer"], {"lr": 2e-5}], [["bias$", "LayerNorm"], {"weight_decay": 0.0}]]
//! ```
//!
//! Rules, decided here:
//! - a parameter takes the **first** group one of whose regexes matches its path (searched, not
//!   anchored: `transformer` matches `encoder.transformer.layer0.weight`); later groups do not
//!   see it. AllenNLP raises when a parameter matches two groups, which makes the natural
//!   "transformer first, then biases everywhere else" list impossible to write; an ordered
//!   first-match is what `initializer` and `regularizer` rules already do here.
//! - a regex that matches no parameter at all is an error naming its key path (AllenNLP only
//!   warns): a typo in a group silently trains with the wrong learning rate, which is the kind
//!   of mistake nobody notices in the figures.
//! - the parameters no group takes use the top-level settings.

use burn::module::{Module, ParamId};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// What a group changes; unset fields keep the optimizer's top-level values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupOverrides {
    /// Learning rate (the scheduler scales it like the top-level one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Weight decay (L2 for `adam`, decoupled for `adamw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
    /// `(beta1, beta2)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betas: Option<[f32; 2]>,
    /// ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
}

/// One group, written `[["regex", ...], {overrides}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterGroup(pub Vec<String>, pub GroupOverrides);

/// Which group each parameter takes: `members[g]` are the parameters of group `g` (disjoint;
/// parameters in none use the top-level settings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupAssignment {
    /// The parameters of each group, in the order of the config.
    pub members: Vec<Vec<ParamId>>,
}

impl GroupAssignment {
    /// The group of `param`, if any.
    pub fn group_of(&self, param: ParamId) -> Option<usize> {
        self.members.iter().position(|m| m.contains(&param))
    }
}

/// Assign the parameters of `model` (paths as [`biome_models::param_paths`] writes them) to
/// `groups`; `key` is the config key path of the list (for errors), e.g.
/// `trainer.optimizer.adam.parameter_groups`.
pub fn assign<M: Module>(
    groups: &[ParameterGroup],
    model: &M,
    key: &str,
) -> Result<GroupAssignment> {
    let paths = biome_models::param_paths(model);
    assign_paths(groups, &paths, key)
}

/// [`assign`] on `(parameter, path)` pairs.
pub fn assign_paths(
    groups: &[ParameterGroup],
    paths: &[(ParamId, String)],
    key: &str,
) -> Result<GroupAssignment> {
    let mut compiled: Vec<Vec<Regex>> = Vec::with_capacity(groups.len());
    for (g, ParameterGroup(patterns, overrides)) in groups.iter().enumerate() {
        if patterns.is_empty() {
            return Err(TrainError::Invalid(format!(
                "{key}[{g}][0]: a parameter group needs at least one regex"
            )));
        }
        if let Some(lr) = overrides.lr
            && !(lr > 0.0 && lr.is_finite())
        {
            return Err(TrainError::Invalid(format!(
                "{key}[{g}][1].lr must be > 0, got {lr}"
            )));
        }
        if let Some(wd) = overrides.weight_decay
            && !(wd >= 0.0 && wd.is_finite())
        {
            return Err(TrainError::Invalid(format!(
                "{key}[{g}][1].weight_decay must be >= 0, got {wd}"
            )));
        }
        let mut res = Vec::with_capacity(patterns.len());
        for (r, p) in patterns.iter().enumerate() {
            let re = Regex::new(p).map_err(|e| {
                TrainError::Invalid(format!("{key}[{g}][0][{r}]: invalid regex {p:?}: {e}"))
            })?;
            if !paths.iter().any(|(_, path)| re.is_match(path)) {
                return Err(TrainError::Invalid(format!(
                    "{key}[{g}][0][{r}]: the regex {p:?} matches no parameter of the model; \
                     its parameters are: {}",
                    summarize(paths)
                )));
            }
            res.push(re);
        }
        compiled.push(res);
    }
    let mut members = vec![Vec::new(); groups.len()];
    for (id, path) in paths {
        if let Some(g) = compiled
            .iter()
            .position(|res| res.iter().any(|re| re.is_match(path)))
        {
            members[g].push(*id);
        }
    }
    Ok(GroupAssignment { members })
}

/// The first parameter paths, for an error message.
fn summarize(paths: &[(ParamId, String)]) -> String {
    const SHOWN: usize = 12;
    let mut text: Vec<&str> = paths.iter().take(SHOWN).map(|(_, p)| p.as_str()).collect();
    let more = paths.len().saturating_sub(SHOWN);
    let extra = format!("… ({more} more)");
    if more > 0 {
        text.push(&extra);
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<(ParamId, String)> {
        [
            "encoder.transformer.layer0.weight",
            "encoder.transformer.layer0.bias",
            "encoder.transformer.LayerNorm.gamma",
            "output.weight",
            "output.bias",
        ]
        .into_iter()
        .map(|p| (ParamId::new(), p.to_string()))
        .collect()
    }

    fn group(patterns: &[&str], overrides: GroupOverrides) -> ParameterGroup {
        ParameterGroup(patterns.iter().map(|s| s.to_string()).collect(), overrides)
    }

    /// The first matching group wins: the transformer's bias is in the transformer group,
    /// only the output bias in the bias group; the output weight is in none.
    #[test]
    fn a_parameter_takes_the_first_group_that_matches() {
        let p = paths();
        let groups = [
            group(&["transformer"], GroupOverrides::default()),
            group(&["bias$", "LayerNorm"], GroupOverrides::default()),
        ];
        let a = assign_paths(&groups, &p, "k").unwrap();
        assert_eq!(a.members[0], vec![p[0].0, p[1].0, p[2].0]);
        assert_eq!(a.members[1], vec![p[4].0]);
        assert_eq!(a.group_of(p[3].0), None);
        assert_eq!(a.group_of(p[1].0), Some(0));
    }

    #[test]
    fn a_regex_that_matches_nothing_is_an_error_naming_its_key() {
        let groups = [group(&["bias$", "tranformer"], GroupOverrides::default())];
        let err = assign_paths(&groups, &paths(), "trainer.optimizer.adam.parameter_groups")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trainer.optimizer.adam.parameter_groups[0][0][1]")
                && err.contains("\"tranformer\"")
                && err.contains("output.bias"),
            "{err}"
        );
        let groups = [group(&["("], GroupOverrides::default())];
        let err = assign_paths(&groups, &paths(), "k")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k[0][0][0]: invalid regex"), "{err}");
        let groups = [group(&[], GroupOverrides::default())];
        assert!(assign_paths(&groups, &paths(), "k").is_err());
        let bad_lr = GroupOverrides {
            lr: Some(0.0),
            ..Default::default()
        };
        let err = assign_paths(&[group(&["bias"], bad_lr)], &paths(), "k")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k[0][1].lr must be > 0"), "{err}");
    }

    #[test]
    fn groups_read_allennlp_json() {
        let groups: Vec<ParameterGroup> = serde_json::from_str(
            r#"[[["transformer"], {"lr": 2e-5}], [["bias$", "LayerNorm"], {"weight_decay": 0.0}]]"#,
        )
        .unwrap();
        assert_eq!(groups[0].1.lr, Some(2e-5));
        assert_eq!(groups[1].0, vec!["bias$", "LayerNorm"]);
        assert_eq!(groups[1].1.weight_decay, Some(0.0));
        assert!(serde_json::from_str::<Vec<ParameterGroup>>(r#"[[["x"], {"lr2": 1}]]"#).is_err());
    }
}
