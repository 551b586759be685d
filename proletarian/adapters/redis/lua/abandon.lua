#!lua
-- Give a held job back as if never claimed: the attempt is not counted.
-- ARGV: prefix, id, queue, token, now.
-- Returns 1, 2 when already done (a re-sent call), 0 when the claim is lost.
local id, queue, token = ARGV[2], ARGV[3], ARGV[4]
local job = job_key(id)
local held = holder(job, token)
if held ~= 1 then return held end
release(job, id, queue, token)
wake(place(job, id, tonumber(ARGV[5])))
return 1
