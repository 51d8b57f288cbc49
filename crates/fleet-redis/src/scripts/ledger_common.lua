-- The ledger's shared prelude, prepended to every ledger_*.lua script (see scripts.rs).
-- ARGV[1] is always the key prefix. Key names are built here from ids, so the ledger
-- needs one Redis server (not Cluster): its scripts touch keys they discover.
--
-- Slices change state only through `move`, and are created only through
-- `insert_slice`: those two keep the per-state indexes and the progress counters in
-- step with the slices, in the same atomic script, so counters always equal a recount.
--
-- Values: times are fixed-width RFC 3339 with nanoseconds ("2024-01-01T00:00:00.000000000Z"),
-- so comparing them as strings compares the times. Optional strings arrive as '-'
-- (none) or '+' followed by the value.

local P = ARGV[1]

local function k_req(id) return P .. ':req:' .. id end
local function k_requests() return P .. ':requests' end
local function k_progress(req) return P .. ':req:' .. req .. ':progress' end
local function k_ids(req) return P .. ':req:' .. req .. ':slices' end
local function k_in(req, state) return P .. ':req:' .. req .. ':st:' .. state end
local function k_slice(id) return P .. ':slice:' .. id end
local function k_stream(req, s) return P .. ':stream:' .. req .. ':' .. s end
local function k_pending(req, s) return P .. ':stream:' .. req .. ':' .. s .. ':pending' end
local function k_passed(req, s) return P .. ':stream:' .. req .. ':' .. s .. ':passed' end
local function k_snap(req, s) return P .. ':snap:' .. req .. ':' .. s end

local function opt(a)
  if string.sub(a, 1, 1) == '+' then return string.sub(a, 2) end
  return nil
end

-- A stream's pending set orders its slices oldest first: by `from` (none first: ' '
-- sorts before digits), then by id.
local function pending_member(from, id) return (from or '') .. ' ' .. id end

local function request_state(req)
  local st = redis.call('HGET', k_req(req), 'state')
  if st == false then return nil end
  return st
end

local function move(req, id, from, to, now)
  redis.call('HSET', k_slice(id), 'state', to, 'at', now)
  if from ~= to then
    redis.call('ZREM', k_in(req, from), id)
    redis.call('ZADD', k_in(req, to), 0, id)
    redis.call('HINCRBY', k_progress(req), from, -1)
    redis.call('HINCRBY', k_progress(req), to, 1)
  end
end

-- A slice travels as 13 arguments from ARGV[base + 1]:
-- id, request, stream?, parent?, from?, to?, records, pages, attempts, error?,
-- checkpoint?, updated_at, record JSON (its immutable fields are read from there).
local SLICE_ARGS = 13
local function read_slice(base)
  return {
    id = ARGV[base + 1], req = ARGV[base + 2], stream = opt(ARGV[base + 3]),
    parent = opt(ARGV[base + 4]), from = opt(ARGV[base + 5]), to = opt(ARGV[base + 6]),
    records = ARGV[base + 7], pages = ARGV[base + 8], attempts = ARGV[base + 9],
    err = opt(ARGV[base + 10]), cp = opt(ARGV[base + 11]), at = ARGV[base + 12],
    rec = ARGV[base + 13],
  }
end

-- Insert `s` in `state` unless its id is known. Returns true if inserted.
local function insert_slice(s, state)
  local key = k_slice(s.id)
  if redis.call('EXISTS', key) == 1 then return false end
  local fields = {'rec', s.rec, 'req', s.req, 'state', state, 'records', s.records,
    'pages', s.pages, 'attempts', s.attempts, 'at', s.at}
  for _, f in ipairs({'stream', 'parent', 'from', 'to', 'err', 'cp'}) do
    if s[f] then
      table.insert(fields, f)
      table.insert(fields, s[f])
    end
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('ZADD', k_ids(s.req), 0, s.id)
  redis.call('ZADD', k_in(s.req, state), 0, s.id)
  redis.call('HINCRBY', k_progress(s.req), state, 1)
  redis.call('HINCRBY', k_progress(s.req), 'records', s.records)
  if s.stream then
    redis.call('ZADD', k_pending(s.req, s.stream), 0, pending_member(s.from, s.id))
  end
  return true
end

-- add_slices on `n` slices from ARGV[base + 1]: insert-if-absent, Planned (Cancelled
-- in a cancelled request). `stream_override` puts them all on one stream. Returns
-- {'ok', ids Planned after the call, in input order, each once}, or
-- {'unknown', request} having written nothing.
local function add_slices(base, n, stream_override)
  local states = {}
  for i = 1, n do
    local req = ARGV[base + (i - 1) * SLICE_ARGS + 2]
    if states[req] == nil then
      local st = request_state(req)
      if st == nil then return {'unknown', req} end
      states[req] = st
    end
  end
  local out = {'ok'}
  local seen = {}
  for i = 1, n do
    local s = read_slice(base + (i - 1) * SLICE_ARGS)
    if stream_override then s.stream = stream_override end
    local initial = 'planned'
    if states[s.req] == 'cancelled' then initial = 'cancelled' end
    insert_slice(s, initial)
    if not seen[s.id] then
      seen[s.id] = true
      if redis.call('HGET', k_slice(s.id), 'state') == 'planned' then
        table.insert(out, s.id)
      end
    end
  end
  return out
end

-- Script proper follows.
