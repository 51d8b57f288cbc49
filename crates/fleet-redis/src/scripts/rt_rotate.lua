-- Compare-and-swap of a rotating refresh token: replace it only if it is still the one
-- that was spent.
-- KEYS[1] refresh hash {prefix}:rt:{family id}
-- ARGV[1] fingerprint of the spent token, ARGV[2] fingerprint of the next, ARGV[3] next, sealed
-- Returns 1 if swapped, 0 (nothing written) if the stored token is another one or missing.
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'tok', ARGV[3])
return 1
