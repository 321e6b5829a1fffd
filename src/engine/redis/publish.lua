-- publish.lua - one publish with the Redis engine, atomically: the id from
-- the one global sequence, the append to the channel's history stream and
-- the hand-off to every node, so that all three happen in one order.
--
-- KEYS[1]  crier:epoch         the epoch (8 hex digits); missing = history lost
-- KEYS[2]  crier:seq           the global sequence (INCR)
-- KEYS[3]  crier:h:{channel}   the channel's history stream, ids "<seq>-0"
-- ARGV[1]  channel name
-- ARGV[2]  event name ("" for none)
-- ARGV[3]  "t" (text) or "b" (binary)
-- ARGV[4]  payload
-- ARGV[5]  history size: stream MAXLEN (0 keeps no history)
-- ARGV[6]  history TTL in ms (0: no age limit)
-- ARGV[7]  now, wall-clock ms (the message's time)
-- ARGV[8]  a fresh random epoch, used only when KEYS[1] is missing
--
-- Publishes "<epoch>-<seq>\n<t|b><time ms>\n<event>\n<payload>" on
-- crier:c:{channel} and returns {epoch, seq, nodes that received it}.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
	-- A flushed or replaced Redis: a new epoch, and the sequence restarts.
	epoch = ARGV[8]
	redis.call('SET', KEYS[1], epoch)
	redis.call('SET', KEYS[2], 0)
end
local seq = redis.call('INCR', KEYS[2])
local maxlen = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
if maxlen > 0 then
	redis.call('XADD', KEYS[3], 'MAXLEN', maxlen, seq .. '-0',
		'e', ARGV[2], 'f', ARGV[3], 'd', ARGV[4], 't', ARGV[7])
	if ttl > 0 then
		-- Age bound: drop expired entries from the head (a few per publish,
		-- so the cost stays bounded), and let an idle stream expire whole.
		local head = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 16)
		for _, e in ipairs(head) do
			local f = e[2]
			local t = 0
			for i = 1, #f, 2 do
				if f[i] == 't' then t = tonumber(f[i + 1]) end
			end
			if now - t <= ttl then break end
			redis.call('XDEL', KEYS[3], e[1])
		end
		redis.call('PEXPIRE', KEYS[3], ttl)
	end
end
local nodes = redis.call('PUBLISH', 'crier:c:' .. ARGV[1],
	epoch .. '-' .. seq .. '\n' .. ARGV[3] .. ARGV[7] .. '\n' .. ARGV[2] .. '\n' .. ARGV[4])
return {epoch, seq, nodes}
