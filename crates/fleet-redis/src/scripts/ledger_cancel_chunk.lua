-- One chunk of cancel_request: up to ARGV[4] of the request's planned, queued or
-- running slices become cancelled. Called until it returns less than a full chunk; each
-- call is atomic and the set of slices left shrinks, so an interrupted cancel is
-- finished by running it again.
-- ARGV[2] request id, [3] now, [4] chunk size
-- Returns how many slices it cancelled.
local req, now, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = 0
for _, st in ipairs({'planned', 'queued', 'running'}) do
  if n >= max then break end
  local ids = redis.call('ZRANGE', k_in(req, st), 0, max - n - 1)
  for _, id in ipairs(ids) do
    move(req, id, st, 'cancelled', now)
    n = n + 1
  end
end
return n
