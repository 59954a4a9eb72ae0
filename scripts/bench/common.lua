-- Shared wrk hooks for scripts/bench.sh. A route script starts with
--   dofile(os.getenv("BENCH_DIR") .. "/common.lua")
-- and then defines `request()` (or sets wrk.method/wrk.path/wrk.body/wrk.headers).
--
-- What this file adds to wrk:
--   * every thread gets a distinct `thread_id` (1..threads) and a per-thread `counter`
--     that route scripts use to make unique ids (bench_next_id());
--   * every response's status is counted; non-2xx responses are counted separately;
--   * done() prints ONE machine-readable line:
--       BENCH route=... connections=... threads=... duration_s=... requests=... rps=...
--             p50_ms=... p90_ms=... p99_ms=... max_ms=... non2xx=... socket_errors=...
--             timeouts=... statuses=200:N,409:M
--     Latencies are wrk's (from writing a request to reading its whole response),
--     milliseconds with three decimals.

local threads = {}
local next_thread_id = 1

-- Runs in wrk's main Lua state, once per thread, before the threads start.
function setup(thread)
   thread:set("thread_id", next_thread_id)
   next_thread_id = next_thread_id + 1
   table.insert(threads, thread)
end

-- Below: per-thread state (each wrk thread has its own Lua state).
counter = 0
non2xx = 0
statuses = {}
run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
api_key = os.getenv("BENCH_API_KEY") or ""

-- A string unique across threads, requests and runs against the same database.
function bench_next_id()
   counter = counter + 1
   return run_id .. "-" .. thread_id .. "-" .. counter
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

local function ms(us)
   return string.format("%.3f", us / 1000.0)
end

-- Runs in the main Lua state after all threads stop.
function done(summary, latency, requests)
   local total_non2xx = 0
   local total_valid = nil
   local merged = {}
   for _, thread in ipairs(threads) do
      total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
      local v = thread:get("valid_true")
      if v then total_valid = (total_valid or 0) + v end
      local st = thread:get("statuses")
      if st then
         for code, n in pairs(st) do
            merged[code] = (merged[code] or 0) + n
         end
      end
   end
   local codes = {}
   for code, _ in pairs(merged) do table.insert(codes, code) end
   table.sort(codes)
   local parts = {}
   for _, code in ipairs(codes) do table.insert(parts, code .. ":" .. merged[code]) end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH route=%s connections=%s threads=%s duration_s=%.2f requests=%d rps=%.1f " ..
      "p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s mean_ms=%s non2xx=%d socket_errors=%d timeouts=%d statuses=%s\n",
      os.getenv("BENCH_ROUTE") or "?", os.getenv("BENCH_CONNECTIONS") or "?", os.getenv("BENCH_THREADS") or "?",
      seconds, summary.requests, summary.requests / seconds,
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency.max), ms(latency.mean),
      total_non2xx, e.connect + e.read + e.write, e.timeout,
      (#parts > 0) and table.concat(parts, ",") or "none"))
   if total_valid then io.write(string.format("BENCHX valid_true=%d\n", total_valid)) end
end
