-- wrk script: POSTs batches of BATCH generated events to /events and prints the same summary
-- line as loadtest.lua. Event k of a thread goes to session (k mod SESSIONS) of that thread,
-- so SESSIONS ids per thread fill up one event each in turn; SESSIONS=0 gives every event a
-- session of its own, new in every run (a stream of new visitors). Times increase within a
-- run and from one run to the next (they start at the run's clock), so no event repeats
-- another, also when wrk is run again on the same server. PER (default 1) consecutive events
-- go to the same session: with SESSIONS=0 and PER=30, a stream of new visitors of 30 events.
local batch, sessions, per
local counter = 0
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

-- thread_id is a global: setup() sets it in each thread before init().
function init(args)
  batch = tonumber(os.getenv("BATCH") or "100")
  sessions = tonumber(os.getenv("SESSIONS") or "0")
  per = tonumber(os.getenv("PER") or "1")
  wrk.method = "POST"
  wrk.path = "/events"
  wrk.headers["Content-Type"] = "application/json"
end

local run = os.time()

function request()
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
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    errors, summary.requests))
end
