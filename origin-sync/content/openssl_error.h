// OpenSSL's error queue as a message, for every component that calls OpenSSL (signing, the
// ACME client, the edge's TLS setup). Not for a per-connection hot path.
#pragma once

#include <string>

namespace anyedge {

// "<what>: <first queued OpenSSL error>" (just `what` when the queue is empty); clears the
// queue so that one failure's errors never show up in another's message.
std::string openssl_error(const std::string& what);

}  // namespace anyedge
