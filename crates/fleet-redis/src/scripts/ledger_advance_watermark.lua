-- advance_watermark: walk the stream's pending slices oldest first; pop completed ones
-- (the watermark reaches their `to`) and split ones (their children are pending
-- themselves); stop at anything else. With nothing pending, the watermark is
-- planned_to. It never moves backwards. A popped completed slice with a `to` goes to
-- the stream's passed set (`<to> <id>`), where compact_stream finds it.
-- ARGV[2] request, [3] stream, [4] most slices to pop in this call
-- Returns {more, watermark or ''}: more = 1 if it stopped at the limit (call again).
local req, stream, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
local skey, pkey = k_stream(req, stream), k_pending(req, stream)
local stored = redis.call('HGET', skey, 'watermark')
local wm = stored
local function raise(t)
  if t and (not wm or t > wm) then wm = t end
end
local popped, more = 0, 0
while true do
  local head = redis.call('ZRANGE', pkey, 0, 0)[1]
  if not head then
    raise(redis.call('HGET', skey, 'planned_to'))
    break
  end
  if popped >= max then
    more = 1
    break
  end
  local id = string.sub(head, string.find(head, ' ', 1, true) + 1)
  local st = redis.call('HGET', k_slice(id), 'state')
  if st == 'completed' then
    local to = redis.call('HGET', k_slice(id), 'to')
    raise(to)
    if to then redis.call('ZADD', k_passed(req, stream), 0, to .. ' ' .. id) end
  elseif st ~= 'split' then
    break
  end
  redis.call('ZREM', pkey, head)
  popped = popped + 1
end
if wm and wm ~= stored then redis.call('HSET', skey, 'watermark', wm) end
return {more, wm or ''}
