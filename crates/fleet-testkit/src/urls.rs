//! Where the test services are: `AMQP_URL` and `REDIS_URL`, with the local defaults.
//!
//! `scripts/test.sh` exports both variables (with the same defaults) before running the
//! tests, so a test and the script always agree on which server is meant.

/// RabbitMQ on this machine, default user and vhost (`%2f` is `/`).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Redis on this machine, database 0.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The broker tests should use: `AMQP_URL`, or [`DEFAULT_AMQP_URL`] if unset or empty.
///
/// This only reads the environment; call [`crate::require_rabbitmq`] to also check the
/// broker is there.
pub fn amqp_url() -> String {
    from_env("AMQP_URL", DEFAULT_AMQP_URL)
}

/// The Redis tests should use: `REDIS_URL`, or [`DEFAULT_REDIS_URL`] if unset or empty.
///
/// This only reads the environment; call [`crate::require_redis`] to also check the
/// server is there.
pub fn redis_url() -> String {
    from_env("REDIS_URL", DEFAULT_REDIS_URL)
}

fn from_env(var: &str, default: &str) -> String {
    // An empty value is treated as unset: `AMQP_URL= cargo test` is a common way of
    // "clearing" a variable and should not produce an unparseable URL.
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => default.to_owned(),
    }
}

/// `url` with its password replaced by `***`, for messages and logs.
///
/// Falls back to the input if it does not parse: a message about a malformed URL is
/// useless if it hides the URL.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password only fails for URLs that cannot have one (no host), and
            // those did not have a password to begin with.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redacted("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("not a url"), "not a url");
    }

    #[test]
    fn defaults_parse() {
        for url in [DEFAULT_AMQP_URL, DEFAULT_REDIS_URL] {
            url::Url::parse(url).unwrap();
        }
    }
}
