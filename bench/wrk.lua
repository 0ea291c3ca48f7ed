-- wrk script used by bench/run.sh.
--
--   wrk ... URL -- [DEPTH]
--
-- DEPTH > 1 pipelines DEPTH identical GET requests per write on every
-- connection (wrk counts the requests in the returned string and waits for
-- that many responses before writing again). DEPTH 1 (the default) keeps
-- wrk's ordinary one-request-at-a-time behaviour.
--
-- done() prints one machine-readable line with exact counters (wrk's own
-- summary rounds bytes to three digits), which run.sh parses.

local depth = 1
local pipelined = nil

function init(args)
   depth = tonumber(args[1] or "1") or 1
   if depth < 1 then depth = 1 end
   if depth > 1 then
      local parts = {}
      for i = 1, depth do
         parts[i] = wrk.format(nil)  -- method, path, headers (incl. -H) from the command line
      end
      pipelined = table.concat(parts)
      -- Only defined for pipelining: with no global `request` wrk keeps its
      -- static request buffer, the cheapest client path.
      request = function() return pipelined end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRKJSON {\"requests\":%.0f,\"bytes\":%.0f,\"duration_us\":%.0f," ..
      "\"err_connect\":%.0f,\"err_read\":%.0f,\"err_write\":%.0f," ..
      "\"err_status\":%.0f,\"err_timeout\":%.0f}\n",
      summary.requests, summary.bytes, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout))
end
