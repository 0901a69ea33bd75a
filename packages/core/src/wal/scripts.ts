import { defineScript } from "../cache/scripts.js";
/**
 * The WAL's Lua scripts. Each operation is one EVAL: one round trip, atomic, and safe to run twice
 * (the Upstash client retries on network errors, upstash/redis-js#1455): a retried ingest finds
 * its own message id and answers "queued" again without a second push.
 *
 * Message hashes touched by claim/ack are derived from a key prefix inside the script (their ids
 * are only known there); Upstash runs a database on one node, so undeclared keys are safe.
 *
 * Keys: KEYS[1] pending list, KEYS[2] in-flight zset (id -> lease expiry ms), KEYS[3] dead list;
 * per-message hashes and dedupe keys are passed after them.
 */

/**
 * ARGV: now_ms, dedupe_ttl_s, check_protocol ("1": consult the protocol cache), then per message
 * 8 values: id, user_id, text, chat_id, telegram_message_id, telegram_date, received_at, dedupe
 * ("1" when it has a dedupe key). KEYS[4 + 3i] = message hash, KEYS[5 + 3i] = dedupe key (or the
 * hash key again when none), KEYS[6 + 3i] = the user's protocol cache key.
 *
 * With check_protocol, if any message's user has no cached protocol, or an ACTIVE one, nothing is
 * written and every message is answered "check:" and what the cache says of its user ("active",
 * "inactive" or "unknown"): the caller asks Postgres about the unknown ones only, quarantines,
 * then enqueues without the check. All or nothing, so a batch is never half-queued when Postgres
 * is down; the common case, a warm INACTIVE cache, is this one round trip.
 * Returns per message: "queued" | "duplicate:<existing id>" | "check:active|inactive|unknown".
 */
export const INGEST = defineScript(`
local now = ARGV[1]
local ttl = tonumber(ARGV[2])
local checkProtocol = ARGV[3] == '1'
local out = {}
local n = (#ARGV - 3) / 8
-- The key prefix, from KEYS[1] (<prefix>wal:pending): per-user indexes live at <prefix>user:<id>:wal
-- (message ids) and :dedupe (dedupe keys), so an erasure touches only the user's own keys.
local base = string.sub(KEYS[1], 1, #KEYS[1] - #'wal:pending')
if checkProtocol then
  -- A duplicate is a duplicate wherever the first went (queue or quarantine: both set the key).
  local known = {}
  local sure = true
  for i = 0, n - 1 do
    local existing = ARGV[4 + i * 8 + 7] == '1' and redis.call('GET', KEYS[5 + i * 3])
    local p = redis.call('GET', KEYS[6 + i * 3])
    if existing and existing ~= ARGV[4 + i * 8] then known[i + 1] = 'duplicate:' .. existing
    elseif not p then known[i + 1] = 'check:unknown'
    elseif string.find(p, '"status":"ACTIVE"', 1, true) then known[i + 1] = 'check:active'
    else known[i + 1] = 'check:inactive' end
    if string.sub(known[i + 1], 1, 6) == 'check:' and known[i + 1] ~= 'check:inactive' then sure = false end
  end
  if not sure then return known end
end
for i = 0, n - 1 do
  local a = 4 + i * 8
  local id = ARGV[a]
  local msgKey = KEYS[4 + i * 3]
  local dedupeKey = KEYS[5 + i * 3]
  local status = 'queued'
  if ARGV[a + 7] == '1' then
    local existing = redis.call('GET', dedupeKey)
    if existing and existing ~= id then
      status = 'duplicate:' .. existing
    elseif not existing then
      redis.call('SET', dedupeKey, id, 'EX', ttl)
      local index = base .. 'user:' .. ARGV[a + 1] .. ':dedupe'
      redis.call('SADD', index, dedupeKey)
      redis.call('EXPIRE', index, ttl)
    end
  end
  if status == 'queued' and redis.call('EXISTS', msgKey) == 0 then
    redis.call('SADD', base .. 'user:' .. ARGV[a + 1] .. ':wal', id)
    redis.call('HSET', msgKey, 'id', id, 'user_id', ARGV[a + 1], 'text', ARGV[a + 2], 'chat_id', ARGV[a + 3],
      'telegram_message_id', ARGV[a + 4], 'telegram_date', ARGV[a + 5], 'received_at', ARGV[a + 6],
      'enqueued_at', now, 'attempts', 0)
    redis.call('RPUSH', KEYS[1], id)
  end
  out[#out + 1] = status
end
return out
`);

/**
 * ARGV: now_ms, lease_ms, max, max_deliveries, token_prefix, key_prefix (for message hashes).
 * Expired leases are re-delivered first, then pending messages in FIFO order. A message whose
 * deliveries would exceed max_deliveries moves to the dead-letter list instead.
 * Returns a flat list: per message id, token, attempts, user_id, text, chat_id,
 * telegram_message_id, telegram_date, received_at.
 */
export const CLAIM = defineScript(`
-- A repeat of a claim (same KEYS[4], the client's Idempotency-Key) answers what the first one
-- handed out, so a claim whose response was lost never strands messages for a whole lease.
if KEYS[4] then
  local prior = redis.call('GET', KEYS[4])
  if prior then return cjson.decode(prior) end
end
local now = tonumber(ARGV[1])
local leaseUntil = now + tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local maxDeliveries = tonumber(ARGV[4])
local prefix = ARGV[6]
local out = {}
local claimed = 0
local dead = 0
local function deliver(id)
  local key = prefix .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[2], id)
    return
  end
  local attempts = redis.call('HINCRBY', key, 'attempts', 1)
  if attempts > maxDeliveries then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HSET', key, 'lease_token', '', 'dead_at', now)
    redis.call('RPUSH', KEYS[3], id)
    dead = dead + 1
    return
  end
  local token = ARGV[5] .. ':' .. claimed
  redis.call('HSET', key, 'lease_token', token)
  redis.call('ZADD', KEYS[2], leaseUntil, id)
  local f = redis.call('HMGET', key, 'user_id', 'text', 'chat_id', 'telegram_message_id', 'telegram_date', 'received_at')
  out[#out + 1] = id
  out[#out + 1] = token
  out[#out + 1] = attempts
  for j = 1, 6 do out[#out + 1] = f[j] or '' end
  claimed = claimed + 1
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)
for _, id in ipairs(expired) do
  if claimed >= max then break end
  deliver(id)
end
while claimed < max do
  local id = redis.call('LPOP', KEYS[1])
  if not id then break end
  deliver(id)
end
if KEYS[4] then redis.call('SET', KEYS[4], cjson.encode({0, out}), 'PX', ARGV[2]) end
return {dead, out}
`);

/**
 * ARGV: key_prefix, acked_marker_ttl_s, then pairs of id, token. An ack applies only while the
 * message's lease token matches (even after expiry, if nobody re-claimed it). A repeat of an applied
 * ack is recognised through a short-lived marker and counted again, not reported stale.
 * Returns {acked, stale ids...}.
 */
export const ACK = defineScript(`
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local acked = 0
local stale = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = prefix .. id
  local current = redis.call('HGET', key, 'lease_token')
  if current and current ~= '' and current == token then
    redis.call('ZREM', KEYS[2], id)
    local base = string.sub(prefix, 1, #prefix - #'wal:msg:')
    redis.call('SREM', base .. 'user:' .. redis.call('HGET', key, 'user_id') .. ':wal', id)
    redis.call('DEL', key)
    redis.call('SET', prefix .. id .. ':acked', token, 'EX', ttl)
    acked = acked + 1
  elseif not current and redis.call('GET', prefix .. id .. ':acked') == token then
    acked = acked + 1
  else
    stale[#stale + 1] = id
  end
end
return {acked, stale}
`);

/** Returns {pending, in_flight, dead, oldest enqueued_at ms or false}. */
export const STATS = defineScript(`
local first = redis.call('LINDEX', KEYS[1], 0)
local oldest = false
if first then oldest = redis.call('HGET', ARGV[1] .. first, 'enqueued_at') end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('LLEN', KEYS[3]), oldest}
`);
