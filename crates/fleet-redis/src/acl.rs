//! The least a Redis user needs to run a fleet: which commands and which keys, as a
//! Redis ACL. Operators give the fleet a user of its own with exactly this, so a leaked
//! fleet credential can neither read other applications' keys nor run admin commands.
//!
//! Commands: those the fleet sends (`PING`, `SCAN`, `UNLINK`, `MULTI`/`EXEC`, reads of hashes and sorted
//! sets, `SET`) and those its Lua scripts call — Redis checks a script's calls against
//! the caller's ACL too — plus `EVALSHA`/`SCRIPT LOAD` (how scripts are run) and `EVAL`.
//! Keys: everything the fleet writes starts with its prefix and a colon. No pub/sub
//! channels. `tests/contract.rs` runs every backend contract suite as a user created
//! with [`acl_setuser`], so this list cannot fall behind the code unnoticed.

/// The command rules, after `-@all`: nothing else is allowed.
pub const ACL_COMMANDS: &str =
    "-@all +ping +hello +auth +select +multi +exec +discard +evalsha +eval +script|load \
+get +set +del +exists +unlink +scan +hget +hset +hdel +hgetall +hmget +hincrby +pexpireat \
+time +zadd +zrem +zrange +zrangebylex +zrevrange";

/// The arguments of `ACL SETUSER` for a fleet user `user` with password `password`
/// whose keys start with `prefix:` (the fleet's `redis.prefix`).
pub fn acl_setuser(user: &str, password: &str, prefix: &str) -> Vec<String> {
    let mut args = vec![
        user.to_owned(),
        "reset".to_owned(),
        "on".to_owned(),
        format!(">{password}"),
        format!("~{prefix}:*"),
        "resetchannels".to_owned(),
    ];
    args.extend(ACL_COMMANDS.split_whitespace().map(str::to_owned));
    args
}
