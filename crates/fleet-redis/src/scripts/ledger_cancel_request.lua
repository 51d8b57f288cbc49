-- The first step of cancel_request: the request becomes cancelled (a terminal state is
-- kept), so every slice added from now on arrives cancelled and the chunks that follow
-- (ledger_cancel_chunk.lua) cannot miss one.
-- ARGV[2] id
-- Returns 1, or 0 for an unknown request.
local st = request_state(ARGV[2])
if st == nil then return 0 end
if st ~= 'completed' and st ~= 'failed' and st ~= 'cancelled' then
  redis.call('HSET', k_req(ARGV[2]), 'state', 'cancelled')
end
return 1
