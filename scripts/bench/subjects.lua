-- POST /v1/subjects: API-key auth (one read transaction), validation, 3 encrypted fields,
-- 2 blind indexes, one write transaction with the audit append. Every request registers a
-- new subject (a repeated subject_id would be a 409).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local headers = {
   ["Authorization"] = "Bearer " .. api_key,
   ["Content-Type"] = "application/json",
}

function request()
   local id = bench_next_id()
   -- E.164: "+49151" and 8 digits (13 digits in all).
   local phone = string.format("+49151%08d", (thread_id * 10000000 + counter) % 100000000)
   local body = string.format(
      '{"subject_id":"bench-%s","email":"bench.%s@example.com","phone":"%s","display_name":"Bench User %s"}',
      id, id, phone, id)
   return wrk.format("POST", "/v1/subjects", headers, body)
end
