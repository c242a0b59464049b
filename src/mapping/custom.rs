//! Columns that feed the account's custom fields, bound once the definitions are known.
//!
//! [`super::Mapping::resolve`] runs before any request and cannot know the account's custom
//! fields; it keeps the `--map "Col=custom:Name"` pairs and leaves every other column it does
//! not recognise unmapped. The import calls [`super::Mapping::bind_custom`] with the
//! definitions of `GET /v1/custom-fields`: explicit pairs are looked up (by id, by exact name,
//! else by the alias table's normalisation), then every unmapped column whose header equals a
//! field's name under that same normalisation is bound to it. Invariants: a field gets at most
//! one column; an unknown or ambiguous name is a usage error listing the account's fields;
//! contact fields always win (a custom field named "Email" takes no column the alias table
//! recognised). The planner reads a row's values with [`super::Mapping::custom_values`].

use super::aliases::normalize;
use super::values::{trim_cell, unexcel};
use super::{Mapping, MappingError, esc};
use crate::api::CustomField;

/// How a `--map` pair names a custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomRef {
    /// `custom:Company`: by name.
    Name(String),
    /// `custom:#12`: by id.
    Id(u64),
}

impl CustomRef {
    /// The part after `custom:`; `None` when it is empty or `#` without a number.
    pub fn parse(s: &str) -> Option<CustomRef> {
        let s = s.trim();
        match s.strip_prefix('#') {
            Some(id) => id.trim().parse().ok().map(CustomRef::Id),
            None if s.is_empty() => None,
            None => Some(CustomRef::Name(s.to_string())),
        }
    }
}

/// A column bound to a custom-field definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomColumn {
    pub column: usize,
    pub field: CustomField,
}

/// `"Company" (#1, text), "Plan" (#2, select: Starter,Pro,Elite)`: what the error lists.
fn listing(defs: &[CustomField]) -> String {
    if defs.is_empty() {
        return "none".into();
    }
    defs.iter()
        .map(|d| {
            let kind = match &d.values {
                Some(v) if d.is_select() => format!("select: {}", esc(v, 80)),
                _ => esc(&d.r#type, 20),
            };
            format!("\"{}\" (#{}, {kind})", esc(&d.name, 60), d.id)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Definitions whose name is `name`: exactly, else under the alias normalisation.
fn named<'a>(defs: &'a [CustomField], name: &str) -> Vec<&'a CustomField> {
    let exact: Vec<&CustomField> = defs.iter().filter(|d| d.name.trim() == name).collect();
    let n = normalize(name);
    if !exact.is_empty() || n.is_empty() {
        return exact;
    }
    defs.iter().filter(|d| normalize(&d.name) == n).collect()
}

fn ambiguous(what: String, found: &[&CustomField]) -> MappingError {
    let ids = found
        .iter()
        .map(|d| format!("#{}", d.id))
        .collect::<Vec<_>>()
        .join(", ");
    MappingError::AmbiguousCustom { what, ids }
}

impl Mapping {
    /// Whether binding could change anything: a `custom:` pair, or a column left unmapped
    /// whose header may name a custom field. Without either the definitions are not fetched.
    pub fn wants_custom_fields(&self) -> bool {
        !self.custom_wanted.is_empty() || self.unmapped.iter().any(|c| !self.ignored.contains(c))
    }

    /// Whether `--map` named a custom field (then its definitions are required).
    pub fn has_custom_pairs(&self) -> bool {
        !self.custom_wanted.is_empty()
    }

    /// Binds the `custom:` pairs and the unmapped columns named like a definition.
    pub fn bind_custom(&mut self, defs: &[CustomField]) -> Result<(), MappingError> {
        let mut bound: Vec<CustomColumn> = Vec::new();
        for (column, wanted, arg) in &self.custom_wanted {
            let found: Vec<&CustomField> = match wanted {
                CustomRef::Id(id) => defs.iter().filter(|d| d.id == *id).collect(),
                CustomRef::Name(name) => named(defs, name),
            };
            let field = match found.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(MappingError::UnknownCustom {
                        arg: arg.clone(),
                        wanted: match wanted {
                            CustomRef::Id(id) => format!("with id {id}"),
                            CustomRef::Name(n) => format!("named \"{}\"", esc(n, 60)),
                        },
                        fields: listing(defs),
                    });
                }
                many => return Err(ambiguous(format!("--map \"{arg}\""), many)),
            };
            self.push_custom(&mut bound, *column, field)?;
        }
        for &column in &self.unmapped {
            if self.ignored.contains(&column) {
                continue;
            }
            match named(defs, self.headers[column].trim()).as_slice() {
                [] => {}
                [one] => self.push_custom(&mut bound, column, (*one).clone())?,
                many => {
                    let what = format!("column \"{}\"", esc(&self.headers[column], 60));
                    return Err(ambiguous(what, many));
                }
            }
        }
        bound.sort_by_key(|b| b.column);
        self.unmapped
            .retain(|c| !bound.iter().any(|b| b.column == *c));
        self.custom = bound;
        Ok(())
    }

    fn push_custom(
        &self,
        bound: &mut Vec<CustomColumn>,
        column: usize,
        field: CustomField,
    ) -> Result<(), MappingError> {
        if let Some(other) = bound.iter().find(|b| b.field.id == field.id) {
            let (first, second) = (other.column.min(column), other.column.max(column));
            return Err(MappingError::CustomConflict {
                field: format!("\"{}\"", esc(&field.name, 60)),
                first: esc(&self.headers[first], 60),
                second: esc(&self.headers[second], 60),
            });
        }
        bound.push(CustomColumn { column, field });
        Ok(())
    }

    /// The bound columns, in column order.
    pub fn custom(&self) -> &[CustomColumn] {
        &self.custom
    }

    /// The row's non-empty custom values, trimmed as every cell is, with their column.
    pub fn custom_values<'a>(
        &'a self,
        cells: &'a [String],
    ) -> impl Iterator<Item = (&'a CustomColumn, &'a str)> + 'a {
        self.custom.iter().filter_map(|c| {
            let cell = cells.get(c.column).map_or("", String::as_str);
            let value = unexcel(trim_cell(cell));
            (!value.is_empty()).then_some((c, value))
        })
    }

    /// `"Company Name" -> Company, "Plan" -> Plan`: stable across runs as long as the columns
    /// feed the same names (a field deleted and created again keeps it), so a resume can tell
    /// the bindings changed. Empty when no column feeds a custom field.
    pub fn describe_custom(&self) -> String {
        self.custom
            .iter()
            .map(|c| {
                format!(
                    "\"{}\" -> {}",
                    esc(&self.headers[c.column], 200),
                    esc(&c.field.name, 200)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<CustomField> {
        let def = |id, name: &str, values: Option<&str>| CustomField {
            id,
            name: name.into(),
            r#type: if values.is_some() { "select" } else { "text" }.into(),
            values: values.map(Into::into),
        };
        vec![
            def(1, "Company", None),
            def(2, "Plan", Some("Starter,Pro,Elite")),
            def(3, "Phone Number", None),
            def(4, "Email", None),
        ]
    }

    fn h(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    fn map(s: &str, pairs: &[(&str, &str)]) -> Result<Mapping, MappingError> {
        let ov: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut m = Mapping::resolve(&h(s), &ov)?;
        m.bind_custom(&defs())?;
        Ok(m)
    }

    #[test]
    fn headers_named_like_a_field_bind_automatically() {
        let m = map("Email,company,PHONE-NUMBER,Notes", &[]).unwrap();
        let bound: Vec<(usize, u64)> = m.custom().iter().map(|c| (c.column, c.field.id)).collect();
        assert_eq!(bound, [(1, 1), (2, 3)], "Email stays the contact's email");
        assert_eq!(m.unmapped(), &[3]);
        assert_eq!(
            m.describe_custom(),
            "\"company\" -> Company, \"PHONE-NUMBER\" -> Phone Number"
        );
        let cells: Vec<String> = h("a@b.co, Wolfeo ,,x");
        let values: Vec<(u64, &str)> = m
            .custom_values(&cells)
            .map(|(c, v)| (c.field.id, v))
            .collect();
        assert_eq!(values, [(1, "Wolfeo")], "empty cells are not values");
    }

    #[test]
    fn explicit_pairs_by_name_or_id_and_ignore() {
        let m = map(
            "Email,Company Name,Tier,Plan",
            &[
                ("Company Name", "custom:company"),
                ("Tier", "CUSTOM:#2"),
                ("Plan", "-"),
            ],
        )
        .unwrap();
        let bound: Vec<(usize, u64)> = m.custom().iter().map(|c| (c.column, c.field.id)).collect();
        assert_eq!(bound, [(1, 1), (2, 2)]);
        assert_eq!(m.unmapped(), &[3], "an ignored column stays unmapped");
    }

    #[test]
    fn unknown_ambiguous_and_doubled_fields_are_usage_errors() {
        let e = map("Email,X", &[("X", "custom:Size")]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no custom field named \"Size\""), "{text}");
        assert!(
            text.contains("\"Plan\" (#2, select: Starter,Pro,Elite)"),
            "{text}"
        );
        let e = map("Email,X", &[("X", "custom:#9")]).unwrap_err();
        assert!(e.to_string().contains("with id 9"), "{e}");
        let e = map("Email,Company,Co", &[("Co", "custom:Company")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"Company\" and \"Co\" both map to custom field \"Company\""),
            "{e}"
        );
        let e = map("Email,A,B", &[("A,B", "custom:Company")]).unwrap_err();
        assert!(matches!(e, MappingError::CustomList { .. }), "{e}");
        let e = map("Email,X", &[("X", "custom:")]).unwrap_err();
        assert!(matches!(e, MappingError::UnknownField { .. }), "{e}");
        let mut twins = Mapping::resolve(&h("Email,PLAN"), &[]).unwrap();
        let mut both = defs();
        both.push(CustomField {
            id: 7,
            name: "plan".into(),
            r#type: "text".into(),
            values: None,
        });
        let e = twins.bind_custom(&both).unwrap_err();
        assert!(e.to_string().contains("#2, #7"), "{e}");
    }

    #[test]
    fn custom_refs_parse() {
        assert_eq!(CustomRef::parse(" #12 "), Some(CustomRef::Id(12)));
        assert_eq!(CustomRef::parse("#x"), None);
        assert_eq!(
            CustomRef::parse(" Plan "),
            Some(CustomRef::Name("Plan".into()))
        );
        assert_eq!(CustomRef::parse(""), None);
    }
}
