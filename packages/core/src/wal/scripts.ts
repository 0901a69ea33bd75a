import { defineScript } from "../cache/scripts.js";
/**
 * The WAL's Lua scripts. Each operation is one EVAL: one round trip, atomic, and safe to run twice
 * (the Upstash client retries on network errors, upstash/redis-js#1455): a retried ingest finds
 * its own message id and answers "queued" again without a second push.
 *
 * Every key is declared in KEYS (cache/keys.ts builds them), so Upstash locks only those keys
 * (`allow-key-locking`), never the whole database. Message bodies, delivery counts and lease
 * tokens therefore live in fixed hashes keyed by message id (`wal:messages:<0-f>` by the id's first
 * hex digit, `wal:attempts`, `wal:tokens`), not in a key per message that a claim would only learn
 * after popping its id; a user's messages are one lex range of `wal:owners` (members
 * `<encoded user>:<id>`), which an ack keeps exact and an erasure reads without a scan. Trade-off:
 * every WAL script locks the same few keys, so ingest, claim and ack serialize among themselves
 * (they did already, through the pending list) while everything else runs beside them; a claim
 * declares all 16 body hashes. The backlog is bounded by 16 x Upstash's 100 MB record limit.
 */

/**
 * KEYS: [1] pending, [2] owners, then per message i (from 0): KEYS[3 + 4i] its dedupe key (its body
 * hash when it has none), KEYS[4 + 4i] the user's dedupe index (likewise), KEYS[5 + 4i] the user's
 * protocol cache, KEYS[6 + 4i] its body hash.
 * ARGV: now_ms, dedupe_ttl_s, check_protocol ("1": consult the protocol cache), then per message 4
 * values: id, owners member, the message as JSON, dedupe ("1" when it has a dedupe key).
 *
 * With check_protocol, if any message's user has no cached protocol, or an ACTIVE one, nothing is
 * written and every message is answered "check:" and what the cache says of its user ("active",
 * "inactive" or "unknown"): the caller asks Postgres about the unknown ones only, quarantines,
 * then enqueues without the check. All or nothing, so a batch is never half-queued when Postgres
 * is down; the common case, a warm INACTIVE cache, is this one round trip. The cached protocol
 * (`<version>#<json>`) is decoded with cjson, never searched as text.
 * Returns per message: "queued" | "duplicate:<existing id>" | "check:active|inactive|unknown".
 */
export const INGEST = defineScript(`
local ttl = tonumber(ARGV[2])
local checkProtocol = ARGV[3] == '1'
local out = {}
local n = (#ARGV - 3) / 4
local function cachedStatus(raw)
  if not raw then return nil end
  local ok, p = pcall(cjson.decode, string.match(raw, '^%d+#(.*)$') or raw)
  if ok and type(p) == 'table' and type(p.status) == 'string' then return p.status end
  return nil
end
if checkProtocol then
  -- A duplicate is a duplicate wherever the first went (queue or quarantine: both set the key).
  local known = {}
  local sure = true
  for i = 0, n - 1 do
    local a = 4 + i * 4
    local existing = ARGV[a + 3] == '1' and redis.call('GET', KEYS[3 + i * 4])
    local status = cachedStatus(redis.call('GET', KEYS[5 + i * 4]))
    if existing and existing ~= ARGV[a] then known[i + 1] = 'duplicate:' .. existing
    elseif not status then known[i + 1] = 'check:unknown'
    elseif status == 'ACTIVE' then known[i + 1] = 'check:active'
    else known[i + 1] = 'check:inactive' end
    if string.sub(known[i + 1], 1, 6) == 'check:' and known[i + 1] ~= 'check:inactive' then sure = false end
  end
  if not sure then return known end
end
for i = 0, n - 1 do
  local a = 4 + i * 4
  local id = ARGV[a]
  local dedupeKey = KEYS[3 + i * 4]
  local status = 'queued'
  if ARGV[a + 3] == '1' then
    local existing = redis.call('GET', dedupeKey)
    if existing and existing ~= id then
      status = 'duplicate:' .. existing
    elseif not existing then
      redis.call('SET', dedupeKey, id, 'EX', ttl)
      redis.call('SADD', KEYS[4 + i * 4], dedupeKey)
      redis.call('EXPIRE', KEYS[4 + i * 4], ttl)
    end
  end
  if status == 'queued' and redis.call('HSETNX', KEYS[6 + i * 4], id, ARGV[a + 2]) == 1 then
    redis.call('ZADD', KEYS[2], 0, ARGV[a + 1])
    redis.call('RPUSH', KEYS[1], id)
  end
  out[#out + 1] = status
end
return out
`);

/**
 * KEYS: [1] pending, [2] in-flight zset (id -> lease expiry ms), [3] dead list, [4] attempts,
 * [5] tokens, [6] orphans, [7..22] the body hashes, [23] (optional) the claim's retry key.
 * ARGV: now_ms, lease_ms, max, max_deliveries, token_prefix, then (optional) message ids.
 * Expired leases are re-delivered first, then pending messages in FIFO order. With message ids,
 * only those are handed out (each if it is queued, or in flight under a lapsed lease); no other
 * message is touched. An id is looked for in the pending list (LREM from its tail, where fresh
 * messages are) only when its body exists and it is not in flight. A message whose
 * deliveries would exceed max_deliveries moves to the dead-letter list instead. An id without a
 * body (erased, or written by the layout before this one) goes to the orphans list, which
 * migrateLegacyWal resolves. Returns {dead, orphans, flat list: per message id, token, attempts,
 * the message's JSON}.
 */
export const CLAIM = defineScript(`
-- A repeat of a claim (same KEYS[23], the client's Idempotency-Key) answers what the first one
-- handed out, so a claim whose response was lost never strands messages for a whole lease.
local function bucket(id, base) return KEYS[base + (tonumber(string.sub(id, 1, 1), 16) or 0)] end
if KEYS[23] then
  local prior = redis.call('GET', KEYS[23])
  if prior then return cjson.decode(prior) end
end
local now = tonumber(ARGV[1])
local leaseUntil = now + tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local maxDeliveries = tonumber(ARGV[4])
local out = {}
local claimed, dead, orphans = 0, 0, 0
local function deliver(id)
  local body = redis.call('HGET', bucket(id, 7), id)
  if not body then
    redis.call('ZREM', KEYS[2], id)
    redis.call('RPUSH', KEYS[6], id)
    orphans = orphans + 1
    return
  end
  local attempts = redis.call('HINCRBY', KEYS[4], id, 1)
  if attempts > maxDeliveries then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('RPUSH', KEYS[3], id)
    dead = dead + 1
    return
  end
  local token = ARGV[5] .. ':' .. claimed
  redis.call('HSET', KEYS[5], id, token)
  redis.call('ZADD', KEYS[2], leaseUntil, id)
  out[#out + 1] = id
  out[#out + 1] = token
  out[#out + 1] = attempts
  out[#out + 1] = body
  claimed = claimed + 1
end
if #ARGV > 5 then
  for i = 6, #ARGV do
    if claimed >= max then break end
    local id = ARGV[i]
    local lease = redis.call('ZSCORE', KEYS[2], id)
    if lease then
      if tonumber(lease) <= now then deliver(id) end
    elseif redis.call('HEXISTS', bucket(id, 7), id) == 1 and redis.call('LREM', KEYS[1], -1, id) == 1 then
      deliver(id)
    end
  end
else
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
end
if KEYS[23] then redis.call('SET', KEYS[23], cjson.encode({0, 0, out}), 'PX', ARGV[2]) end
return {dead, orphans, out}
`);

/**
 * KEYS: [1] in-flight, [2] attempts, [3] tokens, [4] owners, then per item i (from 1)
 * KEYS[3 + 2i] its applied-ack marker and KEYS[4 + 2i] its body hash. ARGV: acked_marker_ttl_s, then pairs of id, token.
 * An ack applies only while the message's lease token matches (even after expiry, if nobody
 * re-claimed it). A repeat of an applied ack is recognised through a short-lived marker and
 * counted again, not reported stale. Returns {acked, stale ids...}.
 */
export const ACK = defineScript(`
local ttl = tonumber(ARGV[1])
local acked = 0
local stale = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local marker, messages = KEYS[3 + i], KEYS[4 + i]
  local current = redis.call('HGET', KEYS[3], id)
  if current and current == token then
    local body = redis.call('HGET', messages, id)
    if body then
      local ok, m = pcall(cjson.decode, body)
      if ok and type(m) == 'table' and m.owner then redis.call('ZREM', KEYS[4], m.owner) end
    end
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', messages, id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('SET', marker, token, 'EX', ttl)
    acked = acked + 1
  elseif not current and redis.call('GET', marker) == token then
    acked = acked + 1
  else
    stale[#stale + 1] = id
  end
end
return {acked, stale}
`);

/** KEYS: pending, in-flight, dead, the 16 body hashes. Returns {pending, in_flight, dead, oldest enqueued_at ms or false}. */
export const STATS = defineScript(
  `
local function bucket(id, base) return KEYS[base + (tonumber(string.sub(id, 1, 1), 16) or 0)] end
local first = redis.call('LINDEX', KEYS[1], 0)
local oldest = false
if first then
  local body = redis.call('HGET', bucket(first, 4), first)
  if body then
    local ok, m = pcall(cjson.decode, body)
    if ok and type(m) == 'table' and m.enqueued_at then oldest = tostring(m.enqueued_at) end
  end
end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('LLEN', KEYS[3]), oldest}
`,
  { readOnly: true },
);

/**
 * Moves messages written by the layout before this one (a hash per message, `wal:msg:<id>`) into
 * the fixed hashes. KEYS: [1] attempts, [2] tokens, [3] owners, then per message its legacy hash
 * and its body hash; ARGV per message: id, owners member, the message as JSON. A hash gone meanwhile is
 * skipped. Returns how many moved.
 */
export const MIGRATE_LEGACY = defineScript(`
local moved = 0
for i = 4, #KEYS, 2 do
  local a = (i - 4) / 2 * 3 + 1
  local id = ARGV[a]
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local f = redis.call('HMGET', KEYS[i], 'attempts', 'lease_token')
    redis.call('HSETNX', KEYS[i + 1], id, ARGV[a + 2])
    if f[1] and f[1] ~= '0' then redis.call('HSET', KEYS[1], id, f[1]) end
    if f[2] and f[2] ~= '' then redis.call('HSET', KEYS[2], id, f[2]) end
    redis.call('ZADD', KEYS[3], 0, ARGV[a + 1])
    redis.call('DEL', KEYS[i])
    moved = moved + 1
  end
end
return moved
`);

/**
 * KEYS: [1] orphans, [2] pending, [3..18] the body hashes. Ids a claim found without a body go back to the
 * pending list once their body is there (migrated); the others were erased and are dropped.
 * Returns {requeued, dropped}.
 */
export const REQUEUE_ORPHANS = defineScript(`
local function bucket(id, base) return KEYS[base + (tonumber(string.sub(id, 1, 1), 16) or 0)] end
local requeued, dropped = 0, 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('HEXISTS', bucket(id, 3), id) == 1 then
    redis.call('RPUSH', KEYS[2], id)
    requeued = requeued + 1
  else
    dropped = dropped + 1
  end
end
redis.call('DEL', KEYS[1])
return {requeued, dropped}
`);
