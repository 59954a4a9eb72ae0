-- POST /v1/subjects/{id}/totp/verify with a WRONG code, spread over every enrolled subject:
-- the same work as a valid code up to the comparison, then the failure counter update and
-- the audit append. The bench runs the server with a policy copy whose TOTP lockout and rate
-- limits are raised (scripts/bench.sh), so that the counters do not turn the answers into 429s.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local headers = { ["Authorization"] = "Bearer " .. api_key, ["Content-Type"] = "application/json" }
local subjects = {}
local position = 0
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")

-- The requests are built once, in init (this thread's share: every `stride`-th subject), so
-- that wrk, which shares the two cores with the server, spends per request about what it
-- spends on a static request (healthz) rather than a Lua string build each time.
function init(args)
   local all = {}
   for line in io.lines(os.getenv("BENCH_TOTP_CODES")) do
      table.insert(all, line:match("(%S+)"))
   end
   for i = thread_id, #all, stride do
      table.insert(subjects, wrk.format("POST", "/v1/subjects/" .. all[i] .. "/totp/verify", headers, '{"code":"000000"}'))
   end
end

function request()
   local r = subjects[(position % #subjects) + 1]
   position = position + 1
   return r
end
