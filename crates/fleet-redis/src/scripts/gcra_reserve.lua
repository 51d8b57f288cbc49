-- GCRA with reservations across several buckets at once: exactly fleet_core::gcra::reserve,
-- in microseconds of Redis TIME.
-- KEYS[1]   pause key (paused-until, µs; absent = not paused)
-- KEYS[i+1] TAT key of bucket i (theoretical arrival time, µs; absent = new or idle)
-- ARGV[1]   max wait, µs
-- ARGV[2i], ARGV[2i+1]  emission and tolerance of bucket i, µs
-- Returns {1, wait, 0} when a slot `wait` µs from now is reserved in every bucket, or
-- {0, retry_in, paused} when the earliest slot is beyond max wait (nothing written);
-- paused = 1 when the pause alone is longer than max wait.

-- Numbers are Lua doubles: exact for integers below 2^53 (µs since 1970 are ~2^51).
-- They are written back with %d, because tostring would round them to 14 digits.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])

local arrival = now
local paused_until = tonumber(redis.call('GET', KEYS[1]) or 0)
if paused_until > arrival then
  arrival = paused_until
end
local pause_wait = arrival - now

-- The earliest time that conforms in every bucket: tat - tolerance, and never before now.
local tats = {}
for i = 2, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then
    tat = now
  end
  tats[i] = tat
  local allowed = tat - tonumber(ARGV[2 * (i - 1) + 1])
  if allowed > arrival then
    arrival = allowed
  end
end

local wait = arrival - now
if wait > max_wait then
  local paused = 0
  if pause_wait > max_wait then
    paused = 1
  end
  return {0, wait, paused}
end

-- Reserve: every TAT moves as if the request arrived at `arrival`. The key expires a
-- second after its TAT has passed, when an absent key means the same as the stored one.
for i = 2, #KEYS do
  local new_tat = math.max(tats[i], arrival) + tonumber(ARGV[2 * (i - 1)])
  local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
end
return {1, wait, 0}
