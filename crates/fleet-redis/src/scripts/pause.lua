-- Pause a bucket for everyone, extending only: paused-until becomes max(stored, now + ARGV[1]).
-- With ARGV[1] = 0 this only reads.
-- KEYS[1] pause key (paused-until, µs of Redis TIME); ARGV[1] pause length, µs
-- Returns the remaining pause in µs (0 = not paused).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local extend = tonumber(ARGV[1])
local paused_until = tonumber(redis.call('GET', KEYS[1]) or 0)
if extend > 0 and now + extend > paused_until then
  paused_until = now + extend
  -- Expires a second after the pause ends; an absent key means "not paused".
  local ttl_ms = math.ceil(extend / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%d', paused_until), 'PX', string.format('%d', ttl_ms))
end
if paused_until > now then
  return paused_until - now
end
return 0
