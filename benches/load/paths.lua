-- wrk script for the pricepool load benchmark (benches/load/run.sh).
--
-- Reads the request paths from the file named by the PATHS environment
-- variable (one path per line) and walks them in order, each wrk thread
-- from its own offset, so every path of the list is asked equally often.
-- At the end prints one line `RESULT {json}` with requests, duration,
-- latency percentiles (microseconds) and errors, which run.sh parses.

local paths = {}

local function load_paths()
  local file = assert(io.open(os.getenv("PATHS"), "r"))
  for line in file:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  file:close()
  assert(#paths > 0, "no paths in " .. os.getenv("PATHS"))
end

local threads = {}
local n_threads = 0

function setup(thread)
  n_threads = n_threads + 1
  thread:set("thread_no", n_threads)
  threads[#threads + 1] = thread
end

local position = 0

function init(args)
  load_paths()
  -- Spread the threads over the list; a prime stride keeps them apart.
  position = ((thread_no or 1) * 7919) % #paths
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
