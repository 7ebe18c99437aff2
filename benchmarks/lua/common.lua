-- Shared by the benchmark scripts: per-thread ids, file reading, JSON summary.
-- done() prints one line "BENCH_JSON {...}" with counts and latency percentiles (us),
-- which runner.py parses; wrk's own text report is ignored.

USER_AGENT = "qs-bench/1"  -- must match client.py (Flask-Login session protection)

local threads = {}
local next_tid = 0

function read_lines(path)
  local lines = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if line ~= "" then lines[#lines + 1] = line end
  end
  f:close()
  assert(#lines > 0, "empty file " .. path)
  return lines
end

function split_tab(line)
  local a, b = line:match("^([^\t]*)\t(.*)$")
  return a, b
end

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  threads[#threads + 1] = thread
end

-- Status counters kept by scripts that define response() (login scripts).
-- s* = whole run, w* = inside the runner's steady-state window.
STATUS_KEYS = { "s200", "s400", "s401", "s429", "s503", "sother",
                "w200", "w400", "w401", "w429", "w503", "wother" }

local function percentiles(latency)
  local out = {}
  for _, p in ipairs({ 50, 75, 90, 99, 99.9 }) do
    out[#out + 1] = string.format('"p%s": %d', tostring(p):gsub("%.", "_"), latency:percentile(p))
  end
  return table.concat(out, ", ")
end

function done(summary, latency, requests)
  local status = {}
  for _, key in ipairs(STATUS_KEYS) do
    local total, seen = 0, false
    for _, t in ipairs(threads) do
      local v = t:get(key)
      if v ~= nil then total = total + v; seen = true end
    end
    if seen then status[#status + 1] = string.format('"%s": %d', key, total) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, %s}, "status": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, percentiles(latency),
    table.concat(status, ", ")))
end
