-- wrk script for the bench (bench/wrk.ts sets the environment): POST one body with the given headers and print one
-- JSON result line at the end.
-- With WRK_RATE set, requests follow an even schedule (open loop): each connection, when free, takes the next slot
-- of the schedule and waits for it. wrk times each request from when it is written, which is its slot unless every
-- connection is still waiting for a response; `late` counts the sends that missed their slot, so a stalled server
-- cannot hide its queueing (coordinated omission) without the result saying so.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } kw_timespec;
int clock_gettime(int clk_id, kw_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("kw_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

local rate = tonumber(os.getenv("WRK_RATE") or "0")
local start, slot = nil, 0
late = 0 -- global: done() reads it from each thread
if rate > 0 then
  function delay()
    local t = now_ms()
    if not start then start = t end
    local due = start + slot * 1000 / rate
    slot = slot + 1
    -- wrk's timer has whole milliseconds: a send may go up to 1 ms early, never counted as late.
    if t - due > 1 then late = late + 1 end
    if due <= t then return 0 end
    return due - t
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local e = summary.errors
  local lateSends = 0
  for _, thread in ipairs(threads) do lateSends = lateSends + (thread:get("late") or 0) end
  io.write(string.format(
    '{"rps":%.1f,"total":%d,"p50":%.3f,"p99":%.3f,"max":%.3f,"non2xx":%d,"errors":%d,"timeouts":%d,"late":%d}\n',
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write, e.timeout, lateSends))
end
