//! The account's custom fields and sequences: definitions, the values contacts hold, and the
//! writes of `PUT /v1/contact-custom-field` and `POST /v1/sequence`.
//!
//! Invariants: field ids only grow; a value is stored only for a field that exists and, for a
//! `select` field, only when [`api::CustomField::allows`] accepts it (the same function the
//! importer checks with before sending); every successful set is counted per (contact, field)
//! so a test can tell a value set once from one set again. Called by the routes under the one
//! store lock, synchronously.

use std::collections::BTreeMap;

use super::{ContactRec, Ident, SequenceRec, Store, full_contact};
use crate::api::{self, CustomValue, CustomValueSet};

/// Why a set was refused: the documented 404, or the value the field does not accept (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRefusal {
    NotFound,
    Invalid(String),
}

impl Store {
    /// Every definition, by id.
    pub fn custom_fields(&self) -> Vec<api::CustomField> {
        self.account.custom_fields.clone()
    }

    /// Adds a definition (seed data, or a test acting as the account's owner); `values` makes
    /// it a `select` field.
    pub fn add_custom_field(&mut self, name: &str, values: Option<&str>) -> u64 {
        let id = self
            .account
            .custom_fields
            .iter()
            .map(|f| f.id)
            .max()
            .unwrap_or(0)
            + 1;
        self.account.custom_fields.push(api::CustomField {
            id,
            name: name.to_string(),
            r#type: if values.is_some() { "select" } else { "text" }.into(),
            values: values.map(str::to_string),
        });
        id
    }

    /// While `gone`, sets of this field answer 404 although the list still shows it.
    pub fn set_field_gone(&mut self, id: u64, gone: bool) {
        if gone {
            self.gone_fields.insert(id);
        } else {
            self.gone_fields.remove(&id);
        }
    }

    /// Sets (creates or overwrites) one value. Checks everything before writing.
    pub fn set_custom_value(
        &mut self,
        ident: Ident,
        field_id: u64,
        value: &str,
    ) -> Result<CustomValueSet, SetRefusal> {
        let field = self
            .account
            .custom_fields
            .iter()
            .find(|f| f.id == field_id && !self.gone_fields.contains(&f.id))
            .ok_or(SetRefusal::NotFound)?;
        let contact_id = self.find(ident).ok_or(SetRefusal::NotFound)?.id;
        field.allows(value).map_err(SetRefusal::Invalid)?;
        let pos = self.by_id[&contact_id];
        self.account.contacts[pos]
            .custom
            .insert(field_id, value.to_string());
        *self.custom_sets.entry((contact_id, field_id)).or_default() += 1;
        Ok(CustomValueSet {
            contact_id: Some(contact_id),
            custom_field_id: field_id,
            value: Some(value.to_string()),
        })
    }

    /// `GET /v1/contact`: the contact with its lists and its custom values.
    pub fn detail(&self, ident: Ident) -> Option<api::ContactDetail> {
        let c = self.find(ident)?;
        Some(api::ContactDetail {
            contact: full_contact(c),
            custom_fields: Some(self.values_of(c)),
        })
    }

    fn values_of(&self, c: &ContactRec) -> Vec<CustomValue> {
        c.custom
            .iter()
            .map(|(&id, value)| CustomValue {
                id: Some(id),
                name: self
                    .account
                    .custom_fields
                    .iter()
                    .find(|f| f.id == id)
                    .map(|f| f.name.clone()),
                value: Some(value.clone()),
            })
            .collect()
    }

    /// Per contact email: field name -> value (for `SandboxHandle::custom_values`).
    pub fn all_custom_values(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.account
            .contacts
            .iter()
            .filter(|c| !c.custom.is_empty())
            .map(|c| {
                let values = self
                    .values_of(c)
                    .into_iter()
                    .map(|v| (v.name.unwrap_or_default(), v.value.unwrap_or_default()))
                    .collect();
                (c.email.clone(), values)
            })
            .collect()
    }

    /// Successful sets per (contact id, field id).
    pub fn custom_sets(&self) -> BTreeMap<(u64, u64), u32> {
        self.custom_sets.iter().map(|(&k, &n)| (k, n)).collect()
    }

    pub fn custom_values_total(&self) -> u64 {
        self.account
            .contacts
            .iter()
            .map(|c| c.custom.len() as u64)
            .sum()
    }

    /// `POST /v1/sequence`. Names need not be unique (the docs say nothing), as for the API.
    pub fn create_sequence(&mut self, name: String, kind: String) -> api::Sequence {
        let id = self.account.next_sequence_id;
        self.account.next_sequence_id += 1;
        self.account.sequences.push(SequenceRec {
            id,
            name: name.clone(),
            kind: kind.clone(),
        });
        api::Sequence {
            id,
            name,
            r#type: Some(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::store::{Account, Fields};

    #[test]
    fn values_are_checked_then_stored_and_counted() {
        let mut s = Store::new(Account::default(), None);
        let company = s.add_custom_field("Company", None);
        let plan = s.add_custom_field("Plan", Some("Starter,Pro,Elite"));
        let id = s
            .create(
                Fields {
                    email: Some("a@b.co".into()),
                    ..Fields::default()
                },
                chrono::Utc::now(),
            )
            .unwrap();
        assert_eq!(
            s.set_custom_value(Ident::Id(id), plan, "Gold"),
            Err(SetRefusal::Invalid("The selected value is invalid.".into()))
        );
        assert_eq!(
            s.set_custom_value(Ident::Id(99), company, "W"),
            Err(SetRefusal::NotFound)
        );
        assert_eq!(
            s.set_custom_value(Ident::Id(id), 7, "W"),
            Err(SetRefusal::NotFound)
        );
        s.set_custom_value(Ident::Email("A@B.CO"), plan, "Pro")
            .unwrap();
        s.set_field_gone(company, true);
        assert_eq!(
            s.set_custom_value(Ident::Id(id), company, "W"),
            Err(SetRefusal::NotFound)
        );
        s.set_field_gone(company, false);
        s.set_custom_value(Ident::Id(id), company, "W").unwrap();
        s.set_custom_value(Ident::Id(id), company, "W2").unwrap();
        let detail = s.detail(Ident::Id(id)).unwrap();
        let values = detail.custom_fields.unwrap();
        assert_eq!(values[0].value.as_deref(), Some("W2"));
        assert_eq!(values[1].name.as_deref(), Some("Plan"));
        assert_eq!(s.custom_sets()[&(id, company)], 2);
        assert_eq!(s.custom_values_total(), 2);
    }
}
