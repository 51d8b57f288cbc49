-- update_request: set state, planned and note, unless the request is in a terminal
-- state (completed, failed, cancelled), which is never left: then nothing changes.
-- ARGV[2] id, [3] state, [4] planned '0'/'1', [5] note?
-- Returns {'ok', state now stored} or {'unknown'}.
local key = k_req(ARGV[2])
local st = request_state(ARGV[2])
if st == nil then return {'unknown'} end
if st == 'completed' or st == 'failed' or st == 'cancelled' then return {'ok', st} end
redis.call('HSET', key, 'state', ARGV[3], 'planned', ARGV[4])
local note = opt(ARGV[5])
if note then redis.call('HSET', key, 'note', note) else redis.call('HDEL', key, 'note') end
return {'ok', ARGV[3]}
