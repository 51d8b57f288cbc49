-- Compare-and-delete on a lock's owner id: release only the lock we took, never one that
-- lapsed and was taken by someone else.
-- KEYS[1] lock key; ARGV[1] owner id
-- Returns 1 if released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
