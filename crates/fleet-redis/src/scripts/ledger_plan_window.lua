-- plan_window: compare-and-set on the stream's planned_to, then add the window's slices
-- (on this stream) and move planned_to, all in one step.
-- ARGV[2] request, [3] stream, [4] expected planned_to?, [5] new planned_to, [6] n,
-- then n slices
-- Returns {'ok', ids Planned...}, {'moved'} (nothing written) or {'unknown', request}.
local req, stream = ARGV[2], ARGV[3]
if request_state(req) == nil then return {'unknown', req} end
local current = redis.call('HGET', k_stream(req, stream), 'planned_to')
if current == false then current = nil end
if current ~= opt(ARGV[4]) then return {'moved'} end
local out = add_slices(6, tonumber(ARGV[6]), stream)
if out[1] ~= 'ok' then return out end
redis.call('HSET', k_stream(req, stream), 'planned_to', ARGV[5])
return out
