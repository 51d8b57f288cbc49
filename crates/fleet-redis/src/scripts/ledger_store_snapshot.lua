-- store_snapshot: compare-and-set on a stream's snapshot generation. The hashes travel
-- as one JSON object written and read by Rust only (Lua never decodes it).
-- ARGV[2] request, [3] stream, [4] expected generation, [5] new generation (expected
-- + 1, computed by the caller so no number passes through Lua's doubles),
-- [6] observed_at, [7] hashes JSON
-- Returns 1 if stored, 0 if the generation had moved (nothing written), -1 for an
-- unknown request (nothing written).
local req, stream = ARGV[2], ARGV[3]
if request_state(req) == nil then return -1 end
local key = k_snap(req, stream)
local gen = redis.call('HGET', key, 'gen') or '0'
if gen ~= ARGV[4] then return 0 end
redis.call('HSET', key, 'gen', ARGV[5], 'at', ARGV[6], 'map', ARGV[7])
return 1
