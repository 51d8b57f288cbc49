//! The token cache as `[token_cache]` names it; opening it is
//! [`fleet_assembly::token_store`]'s.

pub use fleet_assembly::token_store::{default_token_file, Location, TokenStore};
use fleet_assembly::TokenStoreOptions;

use crate::config::TokenCacheConfig;

impl From<&TokenCacheConfig> for TokenStoreOptions {
    fn from(c: &TokenCacheConfig) -> TokenStoreOptions {
        TokenStoreOptions {
            redis_url: c.redis_url.clone(),
            prefix: c.prefix().to_owned(),
            file: c.file.clone(),
            encryption_key: c.encryption_key.clone(),
            encryption_key_env: c.encryption_key_env.clone(),
            allow_unsealed_refresh_tokens: c.allow_unsealed_refresh_tokens,
            refresh_tokens: c.refresh_tokens,
        }
    }
}
