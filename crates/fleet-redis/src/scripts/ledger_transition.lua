-- transition: one state change of one slice, checked against the table in
-- fleet_core::ledger::Transition, with its side effects and counters, in one step.
-- ARGV[2] slice id, [3] now, [4] kind, then per kind:
--   checkpoint: [5] cursor, [6] records, [7] pages, [8] claim ('' = none)
--   complete:   [5] records, [6] pages, [7] claim ('' = none)
--   retry:      [5] error, [6] claim ('' = none)
--   fail:       [5] error
--   split:      [5] n, then n child slices (see read_slice)
-- Returns {applied 0/1, slice HGETALL, progress HGETALL}; an unknown slice gives
-- {0, {}, {}}. A refused move writes nothing.
-- requeue (a dead-letter replay) also reopens the slice's request if it had ended
-- (failed or completed -> running), and is refused in a cancelled request.
local id, now, kind = ARGV[2], ARGV[3], ARGV[4]
local key = k_slice(id)
local from = redis.call('HGET', key, 'state')
if from == false then return {0, {}, {}} end
local req = redis.call('HGET', key, 'req')

local function reply(applied)
  return {applied, redis.call('HGETALL', key), redis.call('HGETALL', k_progress(req))}
end

local LEGAL = {
  queued = {planned = 'queued'},
  start = {planned = 'running', queued = 'running', running = 'running'},
  checkpoint = {running = 'running'},
  retry = {running = 'queued', queued = 'queued'},
  complete = {running = 'completed'},
  fail = {planned = 'failed', queued = 'failed', running = 'failed'},
  split = {running = 'split', queued = 'split'},
  cancel = {planned = 'cancelled', queued = 'cancelled', running = 'cancelled'},
  requeue = {failed = 'queued'},
}
local claim = nil
if kind == 'checkpoint' then
  claim = ARGV[8]
elseif kind == 'complete' then
  claim = ARGV[7]
elseif kind == 'retry' then
  claim = ARGV[6]
end
if claim == '' then claim = nil end
local current_claim = claim ~= nil and redis.call('HGET', key, 'attempts') == claim

-- The claim holder repeating a write it already made (its reply was lost): the same
-- cursor again, or a completion of its completed slice. Applied, changing nothing.
if current_claim then
  if kind == 'checkpoint' and from == 'running' and redis.call('HGET', key, 'cp') == ARGV[5] then
    return reply(1)
  end
  if kind == 'complete' and from == 'completed' then return reply(1) end
end

local to = LEGAL[kind] and LEGAL[kind][from]
if not to then return reply(0) end

-- A stale worker's checkpoint, completion or retry: another Start has happened since its
-- claim.
if claim ~= nil and not current_claim then return reply(0) end

if kind == 'requeue' then
  local rst = request_state(req)
  if rst == 'cancelled' then return reply(0) end
  -- The request must not stay ended while its slice runs again; the leader finishes
  -- it anew once every slice is terminal again.
  if rst == 'failed' or rst == 'completed' then
    redis.call('HSET', k_req(req), 'state', 'running')
  end
end

if kind == 'start' then
  redis.call('HINCRBY', key, 'attempts', 1)
elseif kind == 'checkpoint' then
  redis.call('HSET', key, 'cp', ARGV[5])
  redis.call('HINCRBY', key, 'records', ARGV[6])
  redis.call('HINCRBY', key, 'pages', ARGV[7])
  redis.call('HINCRBY', k_progress(req), 'records', ARGV[6])
elseif kind == 'complete' then
  redis.call('HINCRBY', key, 'records', ARGV[5])
  redis.call('HINCRBY', key, 'pages', ARGV[6])
  redis.call('HINCRBY', k_progress(req), 'records', ARGV[5])
elseif kind == 'retry' or kind == 'fail' then
  redis.call('HSET', key, 'err', ARGV[5])
elseif kind == 'split' then
  -- Children must be of the parent's request and not the parent: checked before any
  -- write, a bad split is refused like an illegal move.
  local n = tonumber(ARGV[5])
  if n == 0 then return reply(0) end
  for i = 1, n do
    local base = 5 + (i - 1) * SLICE_ARGS
    if ARGV[base + 2] ~= req or ARGV[base + 1] == id then return reply(0) end
  end
  local stream = redis.call('HGET', key, 'stream')
  if stream == false then stream = nil end
  local child_state = 'queued'
  if request_state(req) == 'cancelled' then child_state = 'cancelled' end
  -- The children replace the parent on its stream.
  if stream then
    local parent_from = redis.call('HGET', key, 'from')
    if parent_from == false then parent_from = nil end
    redis.call('ZREM', k_pending(req, stream), pending_member(parent_from, id))
  end
  for i = 1, n do
    local child = read_slice(5 + (i - 1) * SLICE_ARGS)
    child.stream = stream
    child.parent = id
    insert_slice(child, child_state)
  end
end
move(req, id, from, to, now)
return reply(1)
