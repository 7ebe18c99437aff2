-- JSON POST /login, round-robin over the seeded users (BENCH_USERS_FILE:
-- "email<TAB>password" lines). Each request carries a pre-login session cookie and
-- its CSRF token from a pool made before the run (BENCH_LOGIN_POOL: "cookie<TAB>csrf"
-- lines, from GET /login). BENCH_WRONG=1 sends a wrong password. Threads stride over
-- the users (BENCH_THREADS = wrk -t) so no two threads log in the same user together.
-- Responses are also counted inside the steady-state window [BENCH_MARK_FROM,
-- BENCH_MARK_TO) (epoch seconds, integer-aligned by the runner, which reads server CPU
-- at the same instants): logins/s and CPU per login free of the closed-loop ramp-up.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local users, pool = {}, {}
local wrong = os.getenv("BENCH_WRONG") == "1"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local k = 0

local mark_from = tonumber(os.getenv("BENCH_MARK_FROM") or "0")
local mark_to = tonumber(os.getenv("BENCH_MARK_TO") or "0")

s200, s400, s401, s429, s503, sother = 0, 0, 0, 0, 0, 0
w200, w400, w401, w429, w503, wother = 0, 0, 0, 0, 0, 0

function init(args)
  for _, line in ipairs(read_lines(os.getenv("BENCH_USERS_FILE"))) do
    local email, password = split_tab(line)
    users[#users + 1] = { email, wrong and (password .. "-wrong") or password }
  end
  for _, line in ipairs(read_lines(os.getenv("BENCH_LOGIN_POOL"))) do
    local cookie, csrf = split_tab(line)
    pool[#pool + 1] = { cookie, csrf }
  end
  k = 0
end

function request()
  local n = (tid or 0) + k * nthreads
  k = k + 1
  local user = users[(n % #users) + 1]
  local pre = pool[(n % #pool) + 1]
  local body = string.format('{"email": "%s", "password": "%s", "csrf_token": "%s"}',
    user[1], user[2], pre[2])
  return wrk.format("POST", "/login", {
    ["User-Agent"] = USER_AGENT,
    ["Accept"] = "application/json",
    ["Content-Type"] = "application/json",
    ["Cookie"] = pre[1],
  }, body)
end

function response(status, headers, body)
  local now = os.time()
  local inwin = now >= mark_from and now < mark_to
  if status == 200 then s200 = s200 + 1; if inwin then w200 = w200 + 1 end
  elseif status == 400 then s400 = s400 + 1; if inwin then w400 = w400 + 1 end
  elseif status == 401 then s401 = s401 + 1; if inwin then w401 = w401 + 1 end
  elseif status == 429 then s429 = s429 + 1; if inwin then w429 = w429 + 1 end
  elseif status == 503 then s503 = s503 + 1; if inwin then w503 = w503 + 1 end
  else sother = sother + 1; if inwin then wother = wother + 1 end end
end
