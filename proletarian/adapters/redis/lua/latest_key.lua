#!lua
-- The greatest unique key in [low, high) (high '' for no bound), or nil: one ZREVRANGEBYLEX on
-- the keys' sorted set, whose order is byte order, which for UTF-8 is code point order.
-- ARGV: prefix, low, high.
local high = ARGV[3] == '' and '+' or ('(' .. ARGV[3])
local found = redis.call('ZREVRANGEBYLEX', UNIQUE_KEYS, high, '[' .. ARGV[2], 'LIMIT', 0, 1)
return found[1]
