-- POST /v1/subjects/{id}/totp/verify with a WRONG code, spread over every enrolled subject:
-- the same work as a valid code up to the comparison, then the failure counter update and
-- the audit append. The bench runs the server with a policy copy whose TOTP lockout and rate
-- limits are raised (scripts/bench.sh), so that the counters do not turn the answers into 429s.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local headers = { ["Authorization"] = "Bearer " .. api_key, ["Content-Type"] = "application/json" }
local subjects = {}
local position = 0
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")

function init(args)
   for line in io.lines(os.getenv("BENCH_TOTP_CODES")) do
      table.insert(subjects, line:match("(%S+)"))
   end
   position = thread_id - 1
end

function request()
   local sid = subjects[(position % #subjects) + 1]
   position = position + stride
   return wrk.format("POST", "/v1/subjects/" .. sid .. "/totp/verify", headers, '{"code":"000000"}')
end
