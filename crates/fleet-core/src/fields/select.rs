//! A request's `select`, judged against the field catalog before anything is planned: a
//! name the dataset does not have would otherwise come back as one dead letter per
//! folder, long after the 202.
//!
//! The rules, per source and dataset:
//! - the tenant's metadata is the truth: a name it lacks is refused (naming the dataset,
//!   the source and the nearest name), a name it has is accepted — with a warning when the
//!   built-in list lacks it (UiPath added the field after v20.0; a sink relying on the
//!   built-in types should learn of it);
//! - when the tenant's metadata could not be read, the built-in list decides, and the
//!   answer says so;
//! - a Data Service entity without readable metadata is not checked (the answer says so).
//!
//! The size of a `select` is capped earlier, at parse ([`MAX_SELECT_FIELDS`]), so a
//! check here is linear in what a dataset can hold.

use super::{lookup, orchestrator, Field, Lookup};
use crate::plan::FieldError;

/// The most field names one dataset's `select` may list. No UiPath DTO has a hundred
/// fields, and a Data Service entity is capped well below this; a longer list is a
/// mistake (or an attack), refused at parse.
pub const MAX_SELECT_FIELDS: usize = 500;

/// Why a `select` of `listed` names is too long, or `None` when it is within
/// [`MAX_SELECT_FIELDS`]. Checked before any name is looked at.
pub fn too_long(listed: usize) -> Option<String> {
    (listed > MAX_SELECT_FIELDS).then(|| {
        format!(
            "lists {listed} fields, more than the {MAX_SELECT_FIELDS} a select may name; list only the fields you need, or leave the dataset out of `select` to read all fields"
        )
    })
}

/// What is known about one dataset of one source.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// The tenant's own metadata answered; `None`: it has no such entity set.
    Tenant(Option<&'a [Field]>),
    /// The tenant's metadata could not be read (the reason, without secrets).
    Unreachable(&'a str),
}

/// The verdict on a request's `select`: errors refuse the request (422); warnings are
/// returned with an accepted request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Adds the verdict on `names`, the `select` of `dataset` (a slug or
    /// `dataservice/<Entity>`), for `source`.
    pub fn check(&mut self, source: &str, dataset: &str, names: &[String], known: Known<'_>) {
        let built_in = orchestrator(dataset);
        let path = format!("select.{dataset}");
        let (fields, origin) = match (known, built_in) {
            (Known::Tenant(Some(fields)), _) => (fields, "its metadata"),
            (Known::Tenant(None), _) => {
                self.errors.push(FieldError {
                    field: path,
                    message: format!(
                        "source {source} does not list {dataset} in its metadata; check that the dataset exists on this tenant"
                    ),
                });
                return;
            }
            (Known::Unreachable(why), Some(fields)) => {
                self.warnings.push(format!(
                    "select of {dataset} checked against the built-in field list (Orchestrator v20.0): the metadata of source {source} could not be read ({why})"
                ));
                (fields, "the built-in field list")
            }
            (Known::Unreachable(why), None) => {
                self.warnings.push(format!(
                    "select of {dataset} not checked: the metadata of source {source} could not be read ({why})"
                ));
                return;
            }
        };
        for name in names {
            match lookup(fields, name) {
                Lookup::Found(f) => {
                    let new = built_in.is_some_and(|b| !b.iter().any(|g| g.name == f.name));
                    if new && matches!(known, Known::Tenant(_)) {
                        self.warnings.push(format!(
                            "`{name}` of {dataset} is not in the built-in field list (Orchestrator v20.0) but source {source} has it: accepted"
                        ));
                    }
                }
                Lookup::Missing { closest } => {
                    let hint = match closest {
                        Some(c) => format!("; did you mean `{c}`?"),
                        None => String::new(),
                    };
                    self.errors.push(FieldError {
                        field: path.clone(),
                        message: format!(
                            "`{name}` is not a field of {dataset} on source {source} (per {origin}){hint} Names are case-sensitive; GET /v1/datasets lists the fields"
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldType;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_tenant_decides_and_new_fields_are_accepted_with_a_warning() {
        let mut tenant = orchestrator("jobs").unwrap().to_vec();
        tenant.push(Field::new("BrandNew", FieldType::String, false, true));
        let mut v = Verdict::default();
        v.check(
            "acme",
            "jobs",
            &names(&["State", "BrandNew"]),
            Known::Tenant(Some(&tenant)),
        );
        assert!(v.errors.is_empty(), "{v:?}");
        assert_eq!(v.warnings.len(), 1);
        assert!(v.warnings[0].contains("`BrandNew`") && v.warnings[0].contains("acme"));

        let mut v = Verdict::default();
        v.check(
            "acme",
            "jobs",
            &names(&["NoSuchField", "state"]),
            Known::Tenant(Some(&tenant)),
        );
        assert_eq!(v.errors.len(), 2, "{v:?}");
        assert_eq!(v.errors[0].field, "select.jobs");
        assert!(v.errors[0]
            .message
            .contains("`NoSuchField` is not a field of jobs"));
        assert!(v.errors[1].message.contains("did you mean `State`?"));
    }

    #[test]
    fn without_the_tenant_the_built_in_list_decides_and_says_so() {
        let mut v = Verdict::default();
        v.check(
            "acme",
            "jobs",
            &names(&["State", "BrandNew"]),
            Known::Unreachable("timed out"),
        );
        assert_eq!(v.errors.len(), 1);
        assert!(v.errors[0].message.contains("built-in field list"));
        assert!(v.warnings[0].contains("could not be read (timed out)"));

        let mut v = Verdict::default();
        v.check(
            "acme",
            "dataservice/Invoice",
            &names(&["Anything"]),
            Known::Unreachable("no login"),
        );
        assert!(v.errors.is_empty());
        assert!(v.warnings[0].contains("not checked"));
    }
}
