-- GET BENCH_PATH, optionally authenticated by BENCH_AUTH_HEADER ("Cookie" or
-- "Authentication-Token") with values rotated from BENCH_AUTH_FILE (one per line,
-- obtained by real logins before the run). Requests are pre-formatted once.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local path = os.getenv("BENCH_PATH") or "/api/public"
local header = os.getenv("BENCH_AUTH_HEADER")
local reqs = {}
local i = 0

function init(args)
  local base = { ["User-Agent"] = USER_AGENT, ["Accept"] = "application/json" }
  if header ~= nil and header ~= "" then
    for _, value in ipairs(read_lines(os.getenv("BENCH_AUTH_FILE"))) do
      local h = {}
      for k, v in pairs(base) do h[k] = v end
      h[header] = value
      reqs[#reqs + 1] = wrk.format("GET", path, h)
    end
  else
    reqs[1] = wrk.format("GET", path, base)
  end
  i = tid or 0
end

function request()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
