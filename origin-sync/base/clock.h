// Wall-clock time as Unix seconds: the unit of certificate validity, signed pointers' expiry
// and status files.
#pragma once

#include <cstdint>
#include <ctime>

namespace anyedge {

inline int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace anyedge
