-- list_slices: a page of a request's slices in id order, read in one step.
-- ARGV[2] request, [3] state or '' for all, [4] after?, [5] limit (> 0)
-- Returns one flat HGETALL array per slice.
local req = ARGV[2]
local index = k_ids(req)
if ARGV[3] ~= '' then index = k_in(req, ARGV[3]) end
local min = '-'
local after = opt(ARGV[4])
if after then min = '(' .. after end
local ids = redis.call('ZRANGEBYLEX', index, min, '+', 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  table.insert(out, redis.call('HGETALL', k_slice(id)))
end
return out
