-- wrk script: POST one file to /v1/scan over keep-alive connections.
-- Usage: wrk -s bench/http_scan.lua ... URL -- FILE NAME
-- Counts non-200 answers so a run that only measured 503s is visible.
local body, name
local non200 = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  name = args[2] or "upload.bin"
end

function request()
  return wrk.format("POST", "/v1/scan?profile=upload&filename=" .. name,
                    {["Content-Type"] = "application/octet-stream"}, body)
end

function response(status, headers, resp_body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("requests %d  rps %.1f  p50 %.2f ms  p99 %.2f ms  errors(status) %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
