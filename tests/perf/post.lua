-- wrk script for the consultation POST run of tests/perf/bench.py.
--
-- Every request is a valid htmx submission of the form with its own single-use token, read
-- from the file $BENCH_TOKENS (one per line, minted by bench.py with the server's secret and
-- dated 5 s in the past, so the 2-second fill-time check passes). Thread k of $BENCH_THREADS
-- takes lines k, k+T, k+2T, ... so no token is sent twice; if a thread ever runs out it wraps
-- (a replay, which the site answers without storing) and says so in `wrapped`.
--
-- Each request comes from its own address, as many visitors do through the documented proxy:
-- the site runs with FORWARDED_ALLOW_IPS=127.0.0.1 and every request carries X-Forwarded-For
-- 10.R.H.L, unique within the run ($BENCH_RUN = R) across threads, so the per-address limit
-- holds at its default as it does in production.
--
-- An acknowledgement is a 200 whose body carries the reference (AKI-XXXXX). done() writes
-- every acknowledged reference to $BENCH_ACKS, one per line, so bench.py can compare them with
-- the rows actually stored; and prints one BENCH line with the counts and percentiles.

local threads = {}
local next_id = 0

-- The rest of the form: a plausible person, urlencoded.
local FORM = "&full_name=Jordan+Bench-Visitor"
  .. "&email=jordan.visitor%40example.org"
  .. "&phone=%28518%29+555-0142"
  .. "&contact_method=email"
  .. "&best_time=afternoon"
  .. "&message=I+have+had+depression+for+years+and+two+antidepressants+have+not+helped."
  .. "+My+doctor+mentioned+ketamine.+Could+we+talk+about+whether+it+might+suit+me%3F"
  .. "&consent=yes"

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  step = tonumber(os.getenv("BENCH_THREADS"))
  tokens = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if i % step == id then
      tokens[#tokens + 1] = line
    end
    i = i + 1
  end
  run = tonumber(os.getenv("BENCH_RUN")) % 256
  cursor, sent, wrapped, acked = 0, 0, 0, 0
  refs, statuses = {}, {}
  post_headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["HX-Request"] = "true",
    ["Sec-Fetch-Site"] = "same-origin",
  }
end

function request()
  cursor = cursor + 1
  if cursor > #tokens then
    cursor = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  local n = (sent * step + id) % 65536
  post_headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", run, math.floor(n / 256), n % 256)
  return wrk.format("POST", wrk.path, post_headers, "token=" .. tokens[cursor] .. FORM)
end

function response(status, headers, body)
  local ref = status == 200 and body:match("AKI%-[0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]")
  if ref then
    acked = acked + 1
    refs[acked] = ref
  else
    local key = tostring(status) .. (status == 200 and "-without-reference" or "")
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_ACKS"), "w"))
  local total_sent, total_acked, total_wrapped, others = 0, 0, 0, {}
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_acked = total_acked + thread:get("acked")
    total_wrapped = total_wrapped + thread:get("wrapped")
    for _, ref in ipairs(thread:get("refs")) do
      out:write(ref, "\n")
    end
    for key, count in pairs(thread:get("statuses")) do
      others[key] = (others[key] or 0) + count
    end
  end
  out:close()
  local other = {}
  for key, count in pairs(others) do
    other[#other + 1] = key .. ":" .. count
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d"
      .. " connect=%d read=%d write=%d status=%d timeout=%d"
      .. " sent=%d acked=%d wrapped=%d other=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout,
    total_sent, total_acked, total_wrapped, #other > 0 and table.concat(other, ",") or "-"))
end
