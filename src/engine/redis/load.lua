-- load.lua - what a node needs to serve a channel from its own replica of
-- the history: the epoch, the global sequence, where the stream's lost
-- entries end, and the stream's entries after a position.
--
-- Trimming (publish.lua's count, byte and age bounds) deletes entries from
-- a stream's head only and does not record which ids it dropped, so
-- "evicted" is the seq just below the oldest entry held whenever the
-- stream ever held more than it does now (its last id when it is empty).
-- Entries older than the TTL that no publish has trimmed yet (an idle
-- Redis) are not returned and count as evicted. A stream that publish.lua
-- deleted (empty for long enough) left its last id in crier:gone, and one
-- that crier:gone let go of is covered by crier:trimmed: whether the
-- stream is missing now or was created again since, a resume from before
-- what it lost is told. All of that errs towards a notice, never towards
-- a silent skip.
--
-- KEYS[1]  crier:epoch         the epoch (8 hex digits); missing = history lost
-- KEYS[2]  crier:seq           the global sequence
-- KEYS[3]  crier:h:{channel}   the channel's history stream, ids "<seq>-0"
-- KEYS[4]  crier:gone          ZSET: channel -> last seq of its deleted stream
-- KEYS[5]  crier:trimmed       the newest seq of the records crier:gone let go
-- KEYS[6]  crier:bytes         } publish.lua's bookkeeping, dropped with
-- KEYS[7]  crier:heads         } the epoch when Redis lost it
-- KEYS[8]  crier:empty         }
-- KEYS[9]  crier:base          the seq the epoch began after (publish.lua)
-- ARGV[1]  position: entries with a seq above it are returned (0: all)
-- ARGV[2]  at most this many entries (the newest ones; 0: none)
-- ARGV[3]  a fresh random epoch, used only when KEYS[1] is missing
-- ARGV[4]  history TTL in ms (0: no age limit)
-- ARGV[5]  now, wall-clock ms
--
-- Returns {epoch, seq, evicted seq, entries}, entries as XRANGE gives them
-- (oldest first): {"<seq>-0", {"e", event, "f", t|b, "d", payload, "t", ms}}.
local epoch = redis.call('GET', KEYS[1])
local last_seq = redis.call('GET', KEYS[2])
if not epoch or not last_seq then
	-- History lost (as in publish.lua, which this mirrors).
	epoch = ARGV[3]
	redis.call('SET', KEYS[1], epoch)
	if not last_seq then redis.call('SET', KEYS[2], 0) end
	redis.call('SET', KEYS[9], last_seq or 0)
	redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
end
-- Entries at or below it are an older epoch's (the epoch key was lost
-- while the sequence and the streams survived): never served as this one's.
local base = tonumber(redis.call('GET', KEYS[9]) or '0')
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local entries = {}
-- What deleted streams of this channel lost, or older ones of any channel.
local gone = redis.call('ZSCORE', KEYS[4], string.sub(KEYS[3], 9))
local evicted = math.max(tonumber(gone or '0'), tonumber(redis.call('GET', KEYS[5]) or '0'))

local function seq_of(id)
	return tonumber(string.match(id, '^(%d+)-'))
end

local function time_of(e)
	local f = e[2]
	for i = 1, #f, 2 do
		if f[i] == 't' then return tonumber(f[i + 1]) end
	end
	return 0
end

if redis.call('EXISTS', KEYS[3]) == 1 then
	local info = redis.call('XINFO', 'STREAM', KEYS[3])
	local added, len, first, last = 0, 0, nil, nil
	for i = 1, #info, 2 do
		if info[i] == 'entries-added' then added = info[i + 1] end
		if info[i] == 'length' then len = info[i + 1] end
		if info[i] == 'first-entry' and info[i + 1] then first = info[i + 1][1] end
		if info[i] == 'last-generated-id' then last = info[i + 1] end
	end
	-- Ids of a lost life of the sequence (publish.lua drops the stream when
	-- it next writes it): nothing here belongs to this epoch.
	local stale = seq_of(last) > seq
	if stale then len, added, first = 0, 0, nil end
	if added > len then
		evicted = math.max(evicted, first and seq_of(first) - 1 or seq_of(last))
	end
	local after = math.max(tonumber(ARGV[1]), base)
	local count = tonumber(ARGV[2])
	local from = after > 0 and ('(' .. after .. '-0') or '-'
	if count > 0 and not stale then
		-- XREVRANGE gives the newest first (so COUNT keeps the newest). One
		-- more than wanted says whether older ones are left out (a stream
		-- still above a lowered --history-size): they count as evicted.
		entries = redis.call('XREVRANGE', KEYS[3], '+', from, 'COUNT', count + 1)
	end
	local n = #entries
	if n > count then
		evicted = math.max(evicted, seq_of(entries[n][1]))
		entries[n] = nil
		n = n - 1
	end
	if ttl > 0 then
		-- Expired but not trimmed yet: the oldest ones, at the end.
		while n > 0 and now - time_of(entries[n]) > ttl do
			if seq_of(entries[n][1]) > evicted then evicted = seq_of(entries[n][1]) end
			entries[n] = nil
			n = n - 1
		end
	end
	for i = 1, math.floor(n / 2) do
		entries[i], entries[n - i + 1] = entries[n - i + 1], entries[i]
	end
end
return {epoch, seq, evicted, entries}
