-- compact_stream: one batch. Delete up to ARGV[5] slices of the stream's passed set
-- (completed slices the watermark walk went over) whose `to` is at or before both
-- ARGV[4] and the stream's watermark, from the slice hash, the request's id index and
-- its completed index. The progress counters, planned_to and the watermark are not
-- touched: compaction forgets records, not progress. Each visited member leaves the
-- passed set; a slice found not completed, of another request or stream, or with
-- another `to` (none can be: Completed is final) is left as it is.
-- ARGV[2] request, [3] stream, [4] before, [5] most members to visit in this call
-- Returns {removed, more}: more = 1 if it stopped at the limit (call again).
local req, stream, before, max = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local wm = redis.call('HGET', k_stream(req, stream), 'watermark')
if not wm then return {0, 0} end
local limit = before
if wm < limit then limit = wm end
local pkey = k_passed(req, stream)
-- Members are `<to> <id>` with fixed-width times: every `to` <= limit sorts before
-- `<limit>!` ('!' follows ' ').
local members = redis.call('ZRANGEBYLEX', pkey, '-', '(' .. limit .. '!', 'LIMIT', 0, max)
local removed = 0
for _, m in ipairs(members) do
  local sp = string.find(m, ' ', 1, true)
  local to, id = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
  local key = k_slice(id)
  local f = redis.call('HMGET', key, 'state', 'req', 'stream', 'to')
  if f[1] == 'completed' and f[2] == req and f[3] == stream and f[4] == to then
    redis.call('DEL', key)
    redis.call('ZREM', k_ids(req), id)
    redis.call('ZREM', k_in(req, 'completed'), id)
    removed = removed + 1
  end
  redis.call('ZREM', pkey, m)
end
local more = 0
if #members >= max then more = 1 end
return {removed, more}
