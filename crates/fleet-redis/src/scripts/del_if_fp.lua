-- Compare-and-delete on a hash's fingerprint: invalidating an access token, discarding a
-- refresh token. Whatever another caller stored meanwhile has another fingerprint and stays.
-- KEYS[1] token hash; ARGV[1] fingerprint of the token to delete
-- Returns 1 if deleted, 0 otherwise.
if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
