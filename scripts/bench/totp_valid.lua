-- POST /v1/subjects/{id}/totp/verify with a VALID code: API-key auth, rate-limit counter,
-- lock check, decrypt the secret, HMAC over the ±1 window, the guarded step update, the
-- failure-count reset and the audit append, in one write transaction. Each subject's code
-- verifies once (no replay): when every subject has been used, later requests replay codes
-- and get {"valid":false} — `valid_true` in the BENCH line counts the real successes.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local headers = { ["Authorization"] = "Bearer " .. api_key, ["Content-Type"] = "application/json" }
local entries = {}
local position = 0
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
valid_true = 0

-- The requests are built once, in init (this thread's share: every `stride`-th subject), so
-- that wrk, which shares the two cores with the server, spends per request about what it
-- spends on a static request (healthz) rather than a Lua string build each time.
function init(args)
   local all = {}
   for line in io.lines(os.getenv("BENCH_TOTP_CODES")) do
      local sid, code = line:match("(%S+) (%S+)")
      table.insert(all, { sid, code })
   end
   for i = thread_id, #all, stride do
      local e = all[i]
      table.insert(entries, wrk.format("POST", "/v1/subjects/" .. e[1] .. "/totp/verify", headers, '{"code":"' .. e[2] .. '"}'))
   end
end

function request()
   local r = entries[(position % #entries) + 1]
   position = position + 1
   return r
end

local base_response = response
function response(status, headers, body)
   base_response(status, headers, body)
   if body and body:find('"valid":true', 1, true) then valid_true = valid_true + 1 end
end
