-- wrk script of bench_http (bench/http_bench.cpp): requests from a file, counts by status, and a
-- summary bench_http parses.
--
--   wrk -t 2 -c 64 -d 30s --timeout 10s --latency -s bench/http_load.lua http://127.0.0.1:PORT -- FILE
--
-- FILE holds one request a line: "METHOD PATH" or "METHOD PATH BODY" (BODY is JSON, sent with
-- Content-Type: application/json). Each wrk thread starts at its own place in the file and takes
-- the lines in turn, so the queries vary. A 200 whose body has an empty "results" list is counted
-- as "empty" (a search that found nothing). At the end, done() prints lines starting with
-- "bench_http:" (latencies in microseconds).

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  if file == nil then error("http_load.lua needs the requests file: wrk ... URL -- FILE") end
  requests = {}
  for line in io.lines(file) do
    local method, path, body = line:match("^(%S+) (%S+) ?(.*)$")
    if method ~= nil then
      local headers = {}
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
  end
  if #requests == 0 then error("no requests in " .. file) end
  next_request = ((id - 1) * 7919) % #requests
  statuses = {}
  empty = 0
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body ~= nil and body:find('"results":[]', 1, true) then
    empty = empty + 1
  end
end

function done(summary, latency, requests)
  local out = function(...) io.write("bench_http: ", string.format(...), "\n") end
  out("requests %d", summary.requests)
  out("duration_us %d", summary.duration)
  out("bytes %d", summary.bytes)
  local e = summary.errors
  out("errors connect %d read %d write %d status %d timeout %d", e.connect, e.read, e.write,
      e.status, e.timeout)
  out("latency_us min %d mean %.0f max %d p50 %d p75 %d p90 %d p99 %d p999 %d", latency.min,
      latency.mean, latency.max, latency:percentile(50), latency:percentile(75),
      latency:percentile(90), latency:percentile(99), latency:percentile(99.9))
  local counts, emptied = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    emptied = emptied + thread:get("empty")
  end
  for status, n in pairs(counts) do out("status %d %d", status, n) end
  out("empty %d", emptied)
end
