//! Which of the model's labels means "these two records are one entity".

pub use crate::error::MatchLabelError;

/// Label names that mean a match, compared case-insensitively.
const MATCH_NAMES: [&str; 5] = ["duplicate", "match", "1", "true", "same"];

/// Index of the match label: `given` when there is one (it must be a label), otherwise the
/// one label of a two-class model whose name says "match".
pub fn match_label(labels: &[String], given: Option<&str>) -> Result<usize, MatchLabelError> {
    if let Some(given) = given {
        return labels
            .iter()
            .position(|l| l == given)
            .ok_or_else(|| MatchLabelError::Unknown {
                given: given.to_owned(),
                labels: labels.to_vec(),
            });
    }
    let named: Vec<usize> = (0..labels.len())
        .filter(|&i| MATCH_NAMES.contains(&labels[i].to_lowercase().as_str()))
        .collect();
    match named.as_slice() {
        [one] if labels.len() == 2 => Ok(*one),
        _ => Err(MatchLabelError::Needed {
            labels: labels.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_two_class_model_with_a_match_name_needs_no_flag() {
        assert_eq!(
            match_label(&labels(&["not_duplicate", "duplicate"]), None).unwrap(),
            1
        );
        assert_eq!(
            match_label(&labels(&["Match", "no_match"]), None).unwrap(),
            0
        );
        assert_eq!(match_label(&labels(&["0", "1"]), None).unwrap(), 1);
    }

    #[test]
    fn otherwise_the_flag_is_needed_and_must_name_a_label() {
        let three = labels(&["duplicate", "related", "other"]);
        let e = match_label(&three, None).unwrap_err().to_string();
        assert!(
            e.contains("duplicate, related, other") && e.contains("--match-label"),
            "{e}"
        );
        assert_eq!(match_label(&three, Some("related")).unwrap(), 1);
        let e = match_label(&three, Some("dup")).unwrap_err().to_string();
        assert!(
            e.contains("\"dup\"") && e.contains("duplicate, related, other"),
            "{e}"
        );
        let e = match_label(&labels(&["same_person", "other"]), None).unwrap_err();
        assert!(matches!(e, MatchLabelError::Needed { .. }));
    }
}
