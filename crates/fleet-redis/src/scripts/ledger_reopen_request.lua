-- reopen_request: a request that ended Failed before its plan was complete (planned
-- '0': planning itself failed) goes back to Planning with its note cleared, so the
-- leader plans it again. Any other request is left exactly as it is.
-- ARGV[2] id.
-- Returns {'ok', '1'} (reopened), {'ok', '0'} (left as it is) or {'unknown'}.
local key = k_req(ARGV[2])
local st = request_state(ARGV[2])
if st == nil then return {'unknown'} end
if st ~= 'failed' or redis.call('HGET', key, 'planned') == '1' then return {'ok', '0'} end
redis.call('HSET', key, 'state', 'planning')
redis.call('HDEL', key, 'note')
return {'ok', '1'}
