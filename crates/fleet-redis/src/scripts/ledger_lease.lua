-- try_lease: take a free (or lapsed: the key has expired) lease, or renew our own.
-- KEYS[1] lease key; ARGV[1] holder, ARGV[2] ttl ms
-- Returns 1 if the holder holds it now, 0 if someone else does (nothing written).
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
