-- mark_queued: Planned -> Queued for each slice id in ARGV[3..], in one step (the
-- planner's batch after the broker confirmed its jobs). Any other state is left alone,
-- exactly as the single `queued` transition would refuse it. ARGV[2] now.
-- Returns how many slices moved.
local now, moved = ARGV[2], 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = k_slice(id)
  if redis.call('HGET', key, 'state') == 'planned' then
    move(redis.call('HGET', key, 'req'), id, 'planned', 'queued', now)
    moved = moved + 1
  end
end
return moved
