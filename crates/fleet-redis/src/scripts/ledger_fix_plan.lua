-- fix_plan: the first writer's plan is stored, later ones get it back.
-- ARGV[2] id, [3] plan JSON
-- Returns {'ok', stored plan JSON} or {'unknown'}.
local key = k_req(ARGV[2])
if redis.call('EXISTS', key) == 0 then return {'unknown'} end
local stored = redis.call('HGET', key, 'plan')
if stored then return {'ok', stored} end
redis.call('HSET', key, 'plan', ARGV[3])
return {'ok', ARGV[3]}
