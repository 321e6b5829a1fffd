-- load.lua - what a node needs to serve a channel from its own replica of
-- the history: the epoch, the global sequence, where the stream's lost
-- entries end, and the stream's entries after a position.
--
-- Trimming (MAXLEN, the age bound) does not record which ids it dropped,
-- so "evicted" is the seq just below the oldest entry held whenever the
-- stream ever held more than it does now: a resume from before it is told
-- of a gap. That errs towards a notice, never towards a silent skip.
--
-- KEYS[1]  crier:epoch         the epoch (8 hex digits); missing = history lost
-- KEYS[2]  crier:seq           the global sequence
-- KEYS[3]  crier:h:{channel}   the channel's history stream, ids "<seq>-0"
-- ARGV[1]  position: entries with a seq above it are returned (0: all)
-- ARGV[2]  at most this many entries (the newest ones)
-- ARGV[3]  a fresh random epoch, used only when KEYS[1] is missing
--
-- Returns {epoch, seq, evicted seq, entries}, entries as XRANGE gives them
-- (oldest first): {"<seq>-0", {"e", event, "f", t|b, "d", payload, "t", ms}}.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
	epoch = ARGV[3]
	redis.call('SET', KEYS[1], epoch)
	redis.call('SET', KEYS[2], 0)
end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local evicted = 0
local entries = {}
if redis.call('EXISTS', KEYS[3]) == 1 then
	local info = redis.call('XINFO', 'STREAM', KEYS[3])
	local added, len, first = 0, 0, nil
	for i = 1, #info, 2 do
		if info[i] == 'entries-added' then added = info[i + 1] end
		if info[i] == 'length' then len = info[i + 1] end
		if info[i] == 'first-entry' and info[i + 1] then first = info[i + 1][1] end
	end
	if added > len and first then
		evicted = tonumber(string.match(first, '^(%d+)-')) - 1
	end
	local after = tonumber(ARGV[1])
	local from = after > 0 and ('(' .. after .. '-0') or '-'
	entries = redis.call('XREVRANGE', KEYS[3], '+', from, 'COUNT', tonumber(ARGV[2]))
	-- XREVRANGE gives the newest first (so COUNT keeps the newest): reverse.
	local n = #entries
	for i = 1, math.floor(n / 2) do
		entries[i], entries[n - i + 1] = entries[n - i + 1], entries[i]
	end
end
return {epoch, seq, evicted, entries}
