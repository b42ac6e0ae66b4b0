//! Which table columns become the model's record fields.

use biome_core::RecordMode;

use super::error::ResolveError;

/// The model's field names without the prefix its training columns share (`record1_surname`
/// → `surname`): the columns a table of the same records is expected to have.
pub fn model_field_names(record1_columns: &[String]) -> Vec<String> {
    record1_columns
        .iter()
        .map(|c| match c.split_once('_') {
            Some((prefix, rest)) if prefix.starts_with("record") && !rest.is_empty() => {
                rest.to_owned()
            }
            _ => c.clone(),
        })
        .collect()
}

/// The columns to read: `given`, checked against the model (a multi-field model reads a
/// fixed number of fields; a single-text model joins any columns into one text, as in
/// training), or the model's own field names when they are all columns of the table.
pub fn resolve_fields(
    given: Option<&[String]>,
    record1_columns: &[String],
    mode: RecordMode,
    table: &str,
    columns: &[String],
) -> Result<Vec<String>, ResolveError> {
    let model_fields = model_field_names(record1_columns);
    let Some(given) = given else {
        let missing: Vec<String> = model_fields
            .iter()
            .filter(|f| !columns.contains(f))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ResolveError::DefaultFields {
                table: table.to_owned(),
                model_fields,
                missing,
                columns: columns.to_vec(),
            });
        }
        return Ok(model_fields);
    };
    if mode == RecordMode::Multifield && given.len() != model_fields.len() {
        return Err(ResolveError::FieldCount {
            model_fields,
            given: given.to_vec(),
        });
    }
    Ok(given.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_the_training_columns_without_their_prefix() {
        let model = names(&["record1_given_name", "record1_surname", "city"]);
        assert_eq!(
            model_field_names(&model),
            names(&["given_name", "surname", "city"])
        );
        let cols = names(&["id", "surname", "given_name", "city"]);
        let got = resolve_fields(None, &model, RecordMode::Multifield, "t.csv", &cols).unwrap();
        assert_eq!(got, names(&["given_name", "surname", "city"]));
        let e = resolve_fields(
            None,
            &model,
            RecordMode::Multifield,
            "t.csv",
            &names(&["id"]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("missing: given_name, surname, city") && e.contains("columns are id"),
            "{e}"
        );
    }

    #[test]
    fn a_multifield_model_needs_one_column_per_field_and_a_text_model_takes_any() {
        let model = names(&["record1_a", "record1_b"]);
        let one = names(&["x"]);
        let e = resolve_fields(Some(&one), &model, RecordMode::Multifield, "t", &one).unwrap_err();
        assert!(matches!(e, ResolveError::FieldCount { .. }), "{e}");
        assert_eq!(
            resolve_fields(Some(&one), &model, RecordMode::Text, "t", &one).unwrap(),
            one
        );
    }
}
