-- Put-if-later: store an access token unless the cached one expires at the same time or later.
-- KEYS[1] token hash {prefix}:tok:{id}
-- ARGV[1] fingerprint, ARGV[2] sealed token, ARGV[3] expires_at (Unix ms)
-- Returns 1 if stored, 0 if a later token is cached or this one has already expired.
local exp = tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[1], 'exp')
if cur and tonumber(cur) >= exp then
  return 0
end
-- Redis's clock, the same one that expires the key: an already-expired token would be
-- deleted by PEXPIREAT at once, so say so instead of pretending it was stored.
local t = redis.call('TIME')
if exp <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
  return 0
end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'tok', ARGV[2], 'exp', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
