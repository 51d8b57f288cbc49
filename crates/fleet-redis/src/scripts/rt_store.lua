-- Store a refresh token: always (a login, ARGV[3] = '1') or only if none is stored (a seed
-- from configuration, ARGV[3] = '0').
-- KEYS[1] refresh hash; ARGV[1] fingerprint, ARGV[2] sealed token, ARGV[3] overwrite
-- Returns 1 if stored, 0 otherwise.
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'tok', ARGV[2])
return 1
