-- wrk script for the GET runs of tests/perf/bench.py: no per-request Lua (so wrk runs at full
-- speed); at the end, one machine-readable line with wrk's own counts and exact percentiles
-- (microseconds, from wrk's latency histogram).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d"
      .. " connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
