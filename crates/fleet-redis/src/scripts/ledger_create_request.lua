-- create_request: store a request unless its id is known.
-- ARGV[2] id, [3] created_at µs (the newest-first score), [4] record JSON, [5] state,
-- [6] planned '0'/'1', [7] plan JSON?, [8] note?
-- Returns 1 if stored, 0 (nothing written) if the id is known.
local id = ARGV[2]
if redis.call('EXISTS', k_req(id)) == 1 then return 0 end
local fields = {'rec', ARGV[4], 'state', ARGV[5], 'planned', ARGV[6]}
if opt(ARGV[7]) then table.insert(fields, 'plan'); table.insert(fields, opt(ARGV[7])) end
if opt(ARGV[8]) then table.insert(fields, 'note'); table.insert(fields, opt(ARGV[8])) end
redis.call('HSET', k_req(id), unpack(fields))
redis.call('ZADD', k_requests(), ARGV[3], id)
return 1
