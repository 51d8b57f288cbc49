//! The fields each `[[sources]]` auth method needs, checked on the raw TOML before the
//! typed parse: serde would stop at the first one missing with its own wording
//! (`missing field `client_secret``, pointing at the inline table), where the reader
//! needs the source's name and every field the method wants.

use super::ConfigError;

/// The fields `method` cannot do without, and how to say so.
fn required(method: &str) -> Option<&'static [&'static str]> {
    match method {
        "client-credentials" => Some(&["client_id", "client_secret"]),
        "refresh-token" => Some(&["client_id"]),
        "personal-access-token" => Some(&["token"]),
        "ropc" => Some(&["username", "password"]),
        "user-key" => Some(&["user_key"]),
        _ => None,
    }
}

/// The first source whose `auth` lacks a field its method needs, as
/// `sources.acme.auth: client_id and client_secret are required`. Text that is not TOML,
/// an unknown method and anything else are left to the typed parse, which names them.
pub(super) fn missing(text: &str) -> Option<ConfigError> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let sources = table.get("sources")?.as_array()?;
    for (i, source) in sources.iter().enumerate() {
        let Some(auth) = source.get("auth").and_then(toml::Value::as_table) else {
            continue;
        };
        let Some(fields) = auth
            .get("method")
            .and_then(toml::Value::as_str)
            .and_then(required)
        else {
            continue;
        };
        // `refresh_token` is accepted for `user_key` (UiPath's own name for it).
        let present = |f: &str| {
            auth.contains_key(f) || (f == "user_key" && auth.contains_key("refresh_token"))
        };
        if fields.iter().all(|f| present(f)) {
            continue;
        }
        let name = source
            .get("name")
            .and_then(toml::Value::as_str)
            .map_or_else(|| i.to_string(), str::to_owned);
        let list = match fields {
            [one] => one.to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => continue,
        };
        let verb = if fields.len() == 1 { "is" } else { "are" };
        let secret_hint = if fields
            .iter()
            .any(|f| matches!(*f, "client_secret" | "token" | "password" | "user_key"))
        {
            " (a secret may be given as a string, { env = \"VARIABLE\" } or { file = \"/path\" })"
        } else {
            ""
        };
        return Some(ConfigError(format!(
            "sources.{name}.auth: {list} {verb} required{secret_hint}"
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_names_the_source_and_the_fields() {
        let text = "[[sources]]\nname = \"acme\"\ndeployment = { kind = \"cloud\", organization = \"o\", tenant = \"t\" }\nauth = { method = \"client-credentials\", client_id = \"c\", scopes = [\"OR.Jobs.Read\"] }\n";
        let e = missing(text).expect("found");
        assert!(
            e.0.starts_with("sources.acme.auth: client_id and client_secret are required"),
            "{e}"
        );
        let ropc = text.replace(
            "method = \"client-credentials\", client_id = \"c\", scopes = [\"OR.Jobs.Read\"]",
            "method = \"ropc\", username = \"u\"",
        );
        assert!(missing(&ropc)
            .unwrap()
            .0
            .contains("username and password are required"));
        let complete = text.replace(
            "client_id = \"c\"",
            "client_id = \"c\", client_secret = \"s\"",
        );
        assert!(missing(&complete).is_none());
        assert!(missing("not = [toml").is_none());
        let user_key = text.replace(
            "method = \"client-credentials\", client_id = \"c\", scopes = [\"OR.Jobs.Read\"]",
            "method = \"user-key\"",
        );
        assert!(missing(&user_key)
            .unwrap()
            .0
            .contains("sources.acme.auth: user_key is required (a secret may be given"));
        // UiPath's own name for the key is accepted too.
        let alias = user_key.replace("\"user-key\"", "\"user-key\", refresh_token = \"k\"");
        assert!(missing(&alias).is_none());
    }
}
