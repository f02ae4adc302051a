-- wrk script: POSTs the request bodies of BODIES_FILE to /predict in turn and prints a
-- one-line summary (requests/s, latency percentiles in ms, errors).
local bodies = {}
local index = 0

function init(args)
  local path = os.getenv("BODIES_FILE")
  for line in io.lines(path) do
    bodies[#bodies + 1] = line
  end
  wrk.method = "POST"
  wrk.path = "/predict"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  index = index % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[index])
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    errors, summary.requests))
end
