// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (Type=notify, WatchdogSec=).
// Never blocks; does nothing outside systemd.
#pragma once

#include <string>

namespace anyedge::hooks {

void sd_notify(const std::string& message);

}  // namespace anyedge::hooks
