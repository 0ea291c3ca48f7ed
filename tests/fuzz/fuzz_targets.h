// Fuzz entry points for the parsers that take bytes from the network or the disk. Each is one
// function so that libFuzzer (-DANYEDGE_FUZZ=ON with clang) and the corpus replay test that runs
// in every build share it. They must never crash, hang or trip a sanitizer, whatever the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace anyedge::fuzz {

// Invariant checks abort, which both libFuzzer and the replay test report.
inline void check(bool ok) {
    if (!ok) std::abort();
}

void request_parser(const uint8_t* data, size_t size);  // edge/http/request_parser
void range(const uint8_t* data, size_t size);           // edge/http/range + conditional
void path(const uint8_t* data, size_t size);            // edge/http/path
void manifest(const uint8_t* data, size_t size);        // origin-sync/content/manifest
void bird_reply(const uint8_t* data, size_t size);      // bgp-hooks/bird/reply
void connection(const uint8_t* data, size_t size);      // edge/server/connection (events)
void tls_records(const uint8_t* data, size_t size);     // edge/tls own records (events)
void quic_datagrams(const uint8_t* data, size_t size);  // edge/quic endpoint (datagrams)
void h2_session(const uint8_t* data, size_t size);      // edge/server/h2_session (events)
void h3_requests(const uint8_t* data, size_t size);     // edge/quic + h3_responder (a client)

}  // namespace anyedge::fuzz
