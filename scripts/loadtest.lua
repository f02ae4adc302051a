-- wrk script, two modes, one summary line at the end (requests/s, latency percentiles in
-- ms, errors, requests):
--
-- * BODIES_FILE set: POSTs the request bodies of that file to /predict in turn.
-- * BATCH set instead: POSTs batches of BATCH generated events to /events. Event k of a
--   thread goes to session (floor(k / PER) mod SESSIONS) of that thread; SESSIONS=0 gives
--   every PER (default 1) consecutive events a session of their own, new in every run (a
--   stream of new visitors: PER=30 makes them 30 events long). Times increase within a run
--   and from one run to the next (they start at the run's clock), so no event repeats
--   another, also when wrk is run again on the same server.
local bodies = {}
local index = 0
local batch, sessions, per
local counter = 0
local threads = 0
local run = os.time()

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

-- thread_id is a global: setup() sets it in each thread before init().
function init(args)
  local path = os.getenv("BODIES_FILE")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if path then
    for line in io.lines(path) do
      bodies[#bodies + 1] = line
    end
    wrk.path = "/predict"
  else
    batch = tonumber(os.getenv("BATCH") or "100")
    sessions = tonumber(os.getenv("SESSIONS") or "0")
    per = tonumber(os.getenv("PER") or "1")
    wrk.path = "/events"
  end
end

local function events_body()
  local events = {}
  for i = 1, batch do
    local session
    local visitor = math.floor(counter / per)
    if sessions > 0 then
      session = string.format("t%d-%d", thread_id, visitor % sessions)
    else
      session = string.format("t%d-%d-%d", thread_id, run, visitor)
    end
    local aid = (counter * 7919) % 1800000
    local ts = 1600000000 + run % 100000000 + math.floor(counter / math.max(sessions, 1))
    events[i] = string.format('{"session":"%s","aid":%d,"ts":%d,"type":%d}',
      session, aid, ts, counter % 3)
    counter = counter + 1
  end
  return '{"events":[' .. table.concat(events, ",") .. ']}'
end

function request()
  if batch then
    return wrk.format(nil, nil, nil, events_body())
  end
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
