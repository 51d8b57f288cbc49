//! OAuth request parameters from a form body or a query string, read the way RFC 6749 §3
//! requires: a parameter sent without a value is treated as omitted, and a parameter sent
//! twice makes the request invalid (an attacker must not be able to smuggle a second
//! `redirect_uri` or `scope` past a check that reads the first).

use std::collections::HashMap;

/// Decoded request parameters.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes. On a repeated parameter returns
    /// its name (names are not secret; values are never echoed).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(name.into_owned());
            }
        }
        Ok(Self(map))
    }

    /// The parameter's value; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Splits a space-separated scope parameter, dropping repeats but keeping the order the
/// client asked in (the `scope` of the response echoes it).
pub(crate) fn split_scopes(scope: Option<&str>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.unwrap_or_default().split_whitespace() {
        if !scopes.iter().any(|seen| seen == s) {
            scopes.push(s.to_owned());
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_refused() {
        let p = Params::parse(b"grant_type=client_credentials&scope=&client_id=a%20b").unwrap();
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("client_id"), Some("a b"));
        assert_eq!(Params::parse(b"scope=a&scope=b").unwrap_err(), "scope");
    }

    #[test]
    fn scopes_split_on_any_whitespace_without_repeats() {
        assert_eq!(split_scopes(Some(" a  b\ta ")), vec!["a", "b"]);
        assert!(split_scopes(None).is_empty());
    }
}
