-- wrk script of the bench (see wrkload.go): POSTs the bench's payload with every request made
-- distinct the way payload.stamp does it, by rewriting the first record's time_unix_nano: worker
-- w's request s carries base + w<<32 + s. A wrk thread is a worker; workers are numbered from
-- args[4], so a warm-up run and the measured run never send the same body (the ingester answers
-- a repeated block from its dedup map without writing it).
--
-- args: template body file, stamp offset (bytes), base time (decimal ns), first worker number.
local ffi = require("ffi")
ffi.cdef [[ unsigned long long strtoull(const char *s, char **end, int base); ]]

local threads = 0

-- setup runs in the main Lua state, once per thread, before init.
function setup(thread)
  thread:set("worker_index", threads)
  threads = threads + 1
end

local head, suffix -- the request up to the stamp, and the body after it
local stamp = ffi.new("uint64_t[1]")
local first         -- uint64: this worker's stamp for seq 0
local seq = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  local off = tonumber(args[2])
  local worker = tonumber(args[4]) + worker_index
  first = ffi.C.strtoull(args[3], nil, 10) + ffi.cast("uint64_t", worker) * 4294967296ULL
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-protobuf"
  -- Built once: per request only the 8 stamp bytes change, so the script costs a string
  -- concatenation, not a format.
  local req = wrk.format(nil, nil, nil, body)
  local bodyStart = #req - #body
  head = req:sub(1, bodyStart + off)
  suffix = req:sub(bodyStart + off + 9)
end

function request()
  stamp[0] = first + seq
  seq = seq + 1
  return head .. ffi.string(stamp, 8) .. suffix
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
