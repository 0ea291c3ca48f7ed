// The one log line format of the daemons: "2026-12-06T06:20:01.123Z <name>: <message>" on
// stderr (journald and the lab logs keep it as is). Any thread; each line is one write.
#pragma once

#include <string>
#include <string_view>

namespace anyedge {

// The program's tag, e.g. "cdn-sync" or "cdn-hooks[node-a]". Set once at start, before threads.
void set_log_name(std::string name);
void log_line(std::string_view message);

}  // namespace anyedge
