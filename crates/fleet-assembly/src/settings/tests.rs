use serde::de::DeserializeOwned;

use super::*;
use crate::redact_url;

fn section<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

fn checked<T: DeserializeOwned>(text: &str, check: fn(&T) -> Result<(), Error>) -> String {
    match section::<T>(text) {
        Ok(s) => check(&s).expect_err(text).to_string(),
        Err(e) => e,
    }
}

#[test]
fn broker_and_redis_sections_parse_and_explain_mistakes() {
    let broker: BrokerConfig = section(
        "amqp_url = \"amqp://fleet:s3cret@rabbit:5672/%2f\"
prefix = \"fleet-a\"
[[output_queues]]
name = \"lake\"
patterns = [\"acme.#\"]
",
    )
    .unwrap();
    broker.validate().unwrap();
    let amqp = broker.amqp_config("w1").unwrap();
    assert_eq!(amqp.prefix, "fleet-a");
    assert_eq!(amqp.output_queues.len(), 1);
    let redis: RedisConfig = section("url = \"redis://:s3cret@redis:6379\"\n").unwrap();
    redis.validate().unwrap();
    assert_eq!(redis.prefix(), "uipath-fleet");
    assert!(!format!("{broker:?}{redis:?}").contains("s3cret"));
    assert_eq!(
        redact_url(redis.url_for().unwrap()),
        "redis://:***@redis:6379"
    );

    let broker = |t: &str| checked(t, BrokerConfig::validate);
    assert!(broker("amqp_url = \"http://x\"\n").contains("broker.amqp_url"));
    assert!(broker("prefix = \"amq.x\"\n").contains("broker.prefix"));
    assert!(broker("url = \"amqp://x\"\n").contains("url"));
    assert!(broker("[[output_queues]]\nname = \"q\"\npatterns = []\n")
        .contains("broker.output_queues[0].patterns"));
    assert!(checked("url = \"amqp://x\"\n", RedisConfig::validate).contains("redis.url"));

    let missing = BrokerConfig::default().amqp_config("w").unwrap_err();
    assert!(
        missing.to_string().contains("UIPATH_FLEET_AMQP_URL"),
        "{missing}"
    );
    assert!(Error::is_config(&missing));
    let missing = RedisConfig::default().url_for().unwrap_err().to_string();
    assert!(missing.contains("--redis-url"), "{missing}");
}

#[test]
fn token_cache_mistakes_name_the_field() {
    let e = |t: &str, shared: bool| {
        let c: TokenCacheConfig = section(t).unwrap();
        c.validate(shared).unwrap_err().to_string()
    };
    assert!(e("redis_url = \"http://x\"\n", false).contains("token_cache.redis_url"));
    assert!(e("redis_url = \"redis://x\"\nfile = \"t\"\n", false).contains("not both"));
    assert!(e("file = \"/tmp/t.json\"\n", true).contains("token_cache.file"));
    assert!(e("encryption_key = \"\"\n", false).contains("token_cache.encryption_key"));
    assert!(e("encryption_key_env = \"A=B\"\n", false).contains("encryption_key_env"));
    assert!(section::<TokenCacheConfig>("redis = \"x\"\n")
        .unwrap_err()
        .contains("redis"));
    let c: TokenCacheConfig = section("").unwrap();
    c.validate(true).unwrap();
    assert_eq!(TokenStoreOptions::from(&c).prefix, "uipath-fleet");
}

#[test]
fn embedded_defaults_and_mistakes() {
    let c: EmbeddedSection = section("").unwrap();
    assert_eq!(c.workers, DEFAULT_WORKERS);
    assert_eq!(c.state_dir.to_str(), Some(".uipath-fleet"));
    assert!(c.api);
    let c: EmbeddedSection = section("workers = 3\nstate_dir = \"/tmp/s\"\napi = false\n").unwrap();
    assert_eq!(c.workers, 3);
    assert!(!c.api);
    for (text, field) in [
        ("workers = 0\n", "embedded.workers"),
        ("state_dir = \"\"\n", "embedded.state_dir"),
        ("worker = 2\n", "worker"),
    ] {
        let e = checked(text, EmbeddedSection::validate);
        assert!(e.contains(field), "{text}: {e}");
    }
}
