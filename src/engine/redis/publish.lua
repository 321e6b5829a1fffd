-- publish.lua - one publish with the Redis engine, atomically: the id from
-- the one global sequence, the append to the channel's history stream, the
-- history bounds and the hand-off to every node, so that all happen in one
-- order.
--
-- KEYS[1]  crier:epoch         the epoch (8 hex digits); missing = history lost
-- KEYS[2]  crier:seq           the global sequence (INCR)
-- KEYS[3]  crier:h:{channel}   the channel's history stream, ids "<seq>-0"
-- KEYS[4]  crier:bytes         payload bytes held across all streams
-- KEYS[5]  crier:heads         ZSET: channel -> seq of its stream's oldest entry
-- KEYS[6]  crier:empty         ZSET: channel -> ms when its stream was emptied
-- KEYS[7]  crier:gone          ZSET: channel -> last seq of its deleted stream
-- KEYS[8]  crier:trimmed       the newest seq of the records crier:gone let go
-- KEYS[9]  crier:base          the seq the epoch began after: stream entries
--                              at or below it belong to an older epoch
-- KEYS[10] crier:oldest        a time (ms) at or before the oldest entry's
-- ARGV[1]  channel name
-- ARGV[2]  event name ("" for none)
-- ARGV[3]  "t" (text) or "b" (binary)
-- ARGV[4]  payload
-- ARGV[5]  history size: entries per stream (0 keeps no history)
-- ARGV[6]  history TTL in ms (0: no age limit)
-- ARGV[7]  now, wall-clock ms (the message's time)
-- ARGV[8]  a fresh random epoch, used only when KEYS[1] is missing
-- ARGV[9]  history max bytes: payload bytes across all streams
--
-- Publishes "<epoch>-<seq>\n<t|b><time ms>\n<event>\n<payload>" on
-- crier:c:{channel} and returns {epoch, seq, nodes that received it}.
--
-- Bounds, as the memory engine keeps them: at most ARGV[5] entries per
-- stream, and node-wide the oldest entries leave first while the payload
-- bytes exceed ARGV[9] or the oldest is older than ARGV[6]. The global
-- sequence is publish order, so the lowest score in crier:heads is the
-- oldest entry of all streams. Each publish removes at most TRIM_MAX
-- entries per bound, which bounds its cost; in steady state it removes
-- about one. Only entries at a stream's head are ever deleted, so a
-- stream's XINFO (entries-added, first entry, last id) still tells
-- load.lua where its losses end.
--
-- A stream emptied by a bound is kept (that marker is all that is left of
-- it) for the TTL (a day with no TTL) and then deleted here, its last id
-- recorded in crier:gone, which load.lua reads for a channel whose stream
-- was deleted (and maybe created again since). crier:gone keeps the
-- GONE_MAX newest records; an older one raises crier:trimmed, which
-- load.lua applies to every channel: a resume from before it always gets
-- a gap notice. Nothing expires behind the script's back, so crier:bytes
-- stays the sum of the 'd' fields.
--
-- This script touches the streams of other channels than the publishing
-- one (keys it builds itself): fine on a standalone Redis, which is all
-- the engine supports (not Redis Cluster).
local TRIM_MAX = 32
local EMPTY_KEEP_MS = 24 * 3600 * 1000
local GONE_MAX = 100000 -- about 10 MB of records at most

local epoch = redis.call('GET', KEYS[1])
local last = redis.call('GET', KEYS[2])
if not epoch or not last then
	-- A flushed or replaced Redis, or one of these two keys deleted or
	-- evicted: a new epoch, and the bookkeeping of the old life goes with
	-- it. A sequence that survived goes on (ids stay above what streams
	-- hold); a lost one restarts, and a stream holding ids of its old life
	-- is dropped when next written (below).
	epoch = ARGV[8]
	redis.call('SET', KEYS[1], epoch)
	if not last then redis.call('SET', KEYS[2], 0) end
	redis.call('SET', KEYS[9], last or 0)
	redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
end
local seq = redis.call('INCR', KEYS[2])
local channel = ARGV[1]
local size = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local max_bytes = tonumber(ARGV[9])

local function seq_of(id)
	return tonumber(string.match(id, '^(%d+)-'))
end

local function field(e, name)
	local f = e[2]
	for i = 1, #f, 2 do
		if f[i] == name then return f[i + 1] end
	end
	return nil
end

-- The two oldest entries of a stream ({} when empty or missing, and when
-- not a stream: another channel's key is never worth failing a publish).
local function oldest(key)
	local r = redis.pcall('XRANGE', key, '-', '+', 'COUNT', 2)
	if type(r) ~= 'table' or r.err then return {} end
	return r
end

local bytes = 0

-- Removes the oldest entry of channel ch's stream (r: its two oldest) with
-- its bookkeeping.
local function drop_head(ch, key, r)
	redis.call('XDEL', key, r[1][1])
	bytes = redis.call('DECRBY', KEYS[4], #(field(r[1], 'd') or ''))
	if r[2] then
		redis.call('ZADD', KEYS[5], 'XX', seq_of(r[2][1]), ch)
	else
		redis.call('ZREM', KEYS[5], ch)
		redis.call('ZADD', KEYS[6], now, ch)
	end
end

local function append()
	return redis.pcall('XADD', KEYS[3], seq .. '-0',
		'e', ARGV[2], 'f', ARGV[3], 'd', ARGV[4], 't', ARGV[7])
end

if size > 0 then
	local added = append()
	if type(added) == 'table' and added.err then
		if not string.find(added.err, 'equal or smaller', 1, true) then
			return added -- not a stream, say: the publisher is told why
		end
		-- The stream holds ids of a lost life of the sequence: it goes,
		-- with its bytes if they were counted, and starts again here.
		if redis.call('ZSCORE', KEYS[5], channel) then
			for _, e in ipairs(redis.call('XRANGE', KEYS[3], '-', '+')) do
				redis.call('DECRBY', KEYS[4], #(field(e, 'd') or ''))
			end
			redis.call('ZREM', KEYS[5], channel)
		end
		redis.call('DEL', KEYS[3])
		added = append()
		if type(added) == 'table' and added.err then return added end
	end
	bytes = redis.call('INCRBY', KEYS[4], #ARGV[4])
	if not redis.call('ZSCORE', KEYS[5], channel) then
		-- A new or emptied stream, or one an older crier wrote (with a
		-- PEXPIRE and no byte count): it is counted from now on.
		redis.call('ZREM', KEYS[6], channel)
		redis.call('PERSIST', KEYS[3])
		local first = oldest(KEYS[3])[1]
		redis.call('ZADD', KEYS[5], seq_of(first[1]), channel)
		if seq_of(first[1]) ~= seq then
			redis.call('DEL', KEYS[10]) -- its entries may be older than it says
			local old = redis.call('XRANGE', KEYS[3], '-', '(' .. seq .. '-0')
			for _, e in ipairs(old) do
				bytes = redis.call('INCRBY', KEYS[4], #(field(e, 'd') or ''))
			end
		end
	end
else
	bytes = tonumber(redis.call('GET', KEYS[4]) or '0')
end

-- Count bound: this channel's oldest entries.
local len = redis.call('XLEN', KEYS[3])
for _ = 1, TRIM_MAX do
	if len <= size then break end
	drop_head(channel, KEYS[3], oldest(KEYS[3]))
	len = len - 1
end

-- Bytes and age: the oldest entries node-wide. With no age limit there is
-- nothing to look at while the bytes are within the bound; nor while the
-- time in KEYS[10] is within the TTL: entries leave only from the oldest
-- end and new ones are newer, so it stays at or before the oldest entry's
-- time, and nothing can have expired (this saves reading a stream on most
-- publishes).
local age_ok = ttl == 0
if not age_ok and bytes <= max_bytes then
	local t = tonumber(redis.call('GET', KEYS[10]) or '-1')
	age_ok = t >= 0 and now - t <= ttl
end
for _ = 1, TRIM_MAX do
	if age_ok and bytes <= max_bytes then break end
	local h = redis.call('ZRANGE', KEYS[5], 0, 0)
	if #h == 0 then break end
	local key = 'crier:h:' .. h[1]
	local r = oldest(key)
	if not r[1] then
		redis.call('ZREM', KEYS[5], h[1]) -- deleted behind our back
	else
		local t = tonumber(field(r[1], 't') or '0')
		if bytes > max_bytes or (ttl > 0 and now - t > ttl) then
			drop_head(h[1], key, r)
		else
			if ttl > 0 then redis.call('SET', KEYS[10], t) end
			break
		end
	end
end

-- Streams empty for long enough: deleted, their last id recorded.
local keep = ttl > 0 and ttl or EMPTY_KEEP_MS
local done = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now - keep, 'LIMIT', 0, TRIM_MAX)
for _, ch in ipairs(done) do
	local key = 'crier:h:' .. ch
	local n = redis.pcall('XLEN', key)
	if n == 0 and redis.call('EXISTS', key) == 1 then
		local info = redis.call('XINFO', 'STREAM', key)
		for i = 1, #info, 2 do
			if info[i] == 'last-generated-id' then
				redis.call('ZADD', KEYS[7], 'GT', seq_of(info[i + 1]), ch)
			end
		end
		redis.call('DEL', key)
		if redis.call('ZCARD', KEYS[7]) > GONE_MAX then
			local old = redis.call('ZPOPMIN', KEYS[7])
			if tonumber(old[2]) > tonumber(redis.call('GET', KEYS[8]) or '0') then
				redis.call('SET', KEYS[8], old[2])
			end
		end
	end
	redis.call('ZREM', KEYS[6], ch)
end

local nodes = redis.call('PUBLISH', 'crier:c:' .. channel,
	epoch .. '-' .. seq .. '\n' .. ARGV[3] .. ARGV[7] .. '\n' .. ARGV[2] .. '\n' .. ARGV[4])
return {epoch, seq, nodes}
