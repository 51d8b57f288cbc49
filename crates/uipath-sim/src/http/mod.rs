//! The simulator's HTTP surface, one module per API family. The identity server and Data
//! Service bring their own routers ([`crate::identity`], [`crate::dataservice`]).

pub mod control;
pub mod errors;
pub mod metadata;
pub mod odata;
