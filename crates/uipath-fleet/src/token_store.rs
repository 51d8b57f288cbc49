//! The token cache: `[token_cache]` is [`fleet_assembly::TokenCacheConfig`]; opening it
//! is [`fleet_assembly::token_store`]'s.

pub use fleet_assembly::token_store::{default_token_file, Location, TokenStore};
