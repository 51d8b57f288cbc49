//! `Secret`: a string that must never reach a log line, an error message, a metrics label
//! or a panic. `Debug` and `Display` print a fixed placeholder; the only way to the text
//! is the explicit [`Secret::expose`].

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A client secret, refresh token, access token or password.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send it somewhere.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"<redacted>\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Deserializes from a plain string (`client_secret = "..."`) or, so that a config file
/// need not hold the secret itself, from a reference resolved while reading:
/// `{ env = "VAR" }` (the environment variable's value) or `{ file = "/run/secrets/x" }`
/// (the file's content, trailing newline removed). A reference that cannot be resolved is
/// an error naming the variable or file, never the secret.
/// There is deliberately no `Serialize`: a secret is never written back out by accident.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Inline(String),
            Reference(Reference),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Reference {
            env: Option<String>,
            file: Option<std::path::PathBuf>,
        }
        let form = Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a string, { env = \"VARIABLE\" } or { file = \"/path\" }",
            )
        })?;
        match form {
            Form::Inline(text) => Ok(Secret(text)),
            Form::Reference(r) => match (r.env, r.file) {
                (Some(var), None) => match std::env::var(&var) {
                    Ok(value) if !value.is_empty() => Ok(Secret(value)),
                    _ => Err(serde::de::Error::custom(format!(
                        "environment variable `{var}` is not set (or empty)"
                    ))),
                },
                (None, Some(path)) => match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(Secret(text.trim_end_matches(['\r', '\n']).to_owned())),
                    Err(e) => Err(serde::de::Error::custom(format!(
                        "cannot read secret file {}: {}",
                        path.display(),
                        e.kind()
                    ))),
                },
                _ => Err(serde::de::Error::custom(
                    "give exactly one of env = \"VARIABLE\" or file = \"/path\"",
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
        let parsed: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(parsed.expose(), "abc");
    }

    #[test]
    fn resolves_references_to_the_environment_and_files() {
        std::env::set_var("FLEET_CORE_SECRET_TEST", "from-env");
        let parsed: Secret = serde_json::from_str(r#"{"env":"FLEET_CORE_SECRET_TEST"}"#).unwrap();
        assert_eq!(parsed.expose(), "from-env");

        let path = std::env::temp_dir().join(format!("fleet-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let json = serde_json::json!({ "file": path }).to_string();
        let parsed: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.expose(), "from-file");
        std::fs::remove_file(&path).unwrap();

        for (json, says) in [
            (
                r#"{"env":"FLEET_CORE_SECRET_UNSET"}"#,
                "FLEET_CORE_SECRET_UNSET",
            ),
            (r#"{"file":"/nonexistent/secret"}"#, "/nonexistent/secret"),
            (r#"{"env":"A","file":"/b"}"#, "exactly one"),
            (r#"{"value":"x"}"#, "expected a string"),
            ("12", "expected a string"),
        ] {
            let e = serde_json::from_str::<Secret>(json)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{json}: {e}");
        }
    }
}
