-- GET /healthz: no auth, no database; the floor of the HTTP stack.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"
