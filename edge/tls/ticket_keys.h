// ticket_keys: the session-ticket keys shared by every node of the anycast, so that a client
// resumes on whichever node its packets reach, each key valid in a time window so that all
// nodes switch keys together without talking to each other.
//
// File format (one key per line; blank lines and lines starting with '#' are ignored):
//     <not_before_unix> <not_after_unix> <key>
// where <key> is 80 bytes, written as 160 hex digits or as base64 (108 characters): a 16-byte
// key name, a 32-byte HMAC-SHA256 key and a 32-byte AES-256 key, the layout RFC 5077 §4
// recommends. A key encrypts new tickets while not_before <= now < not_after (when windows
// overlap the one with the latest not_before wins, so every node picks the same key) and
// decrypts tickets until not_after, including before not_before (a node whose clock runs ahead
// may already have issued tickets with it). To let tickets live their full lifetime, start the
// next key's window at least one ticket lifetime before the current key's not_after.
//
// Invariants: a TicketKeyRing is immutable; key bytes are wiped when the ring dies.
// Threads: a ring is read by any number of threads; replacing it is TlsContext's business.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::tls {

struct TicketKey {
    std::int64_t not_before = 0;  // Unix seconds, inclusive
    std::int64_t not_after = 0;   // Unix seconds, exclusive
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> hmac_key{};
    std::array<unsigned char, 32> aes_key{};

    // Tickets it made are still accepted at now (until not_after, also before not_before).
    bool decrypts_at(std::int64_t now) const { return now < not_after; }
};

inline constexpr std::size_t kTicketKeyBytes = 80;

// Parses the file format above. Errors name the line. Rejects: malformed lines, windows with
// not_after <= not_before, two keys with the same name, and a file with no key.
Result<std::vector<TicketKey>> parse_ticket_keys(std::string_view text);

// Reads and parses a key file.
Result<std::vector<TicketKey>> load_ticket_key_file(const std::string& path);

// One line of the file format for key (hex form), without the newline. For tooling and tests.
std::string format_ticket_key(const TicketKey& key);

// A fresh key from the CSPRNG for the given window.
Result<TicketKey> random_ticket_key(std::int64_t not_before, std::int64_t not_after);

class TicketKeyRing {
  public:
    explicit TicketKeyRing(std::vector<TicketKey> keys);
    ~TicketKeyRing();
    TicketKeyRing(const TicketKeyRing&) = delete;
    TicketKeyRing& operator=(const TicketKeyRing&) = delete;

    // The key that encrypts new tickets at now, or nullptr if no window contains now.
    const TicketKey* encryption_key(std::int64_t now) const;

    // The key named name if it may still decrypt at now (now < not_after), else nullptr.
    const TicketKey* decryption_key(std::span<const unsigned char, 16> name,
                                    std::int64_t now) const;

    std::size_t size() const { return keys_.size(); }
    std::span<const TicketKey> keys() const { return keys_; }

  private:
    std::vector<TicketKey> keys_;
};

}  // namespace anyedge::tls
