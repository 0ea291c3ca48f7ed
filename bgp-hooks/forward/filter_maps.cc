#include "bgp-hooks/forward/filter_maps.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace anyedge::hooks::filter {

Status add_prefix(Settings& s, const std::string& prefix) {
    const auto slash = prefix.find('/');
    const std::string addr = prefix.substr(0, slash);
    int len = -1;
    if (slash != std::string::npos) {
        const char* end = prefix.data() + prefix.size();
        auto [p, ec] = std::from_chars(prefix.data() + slash + 1, end, len);
        if (ec != std::errc() || p != end) return make_error("not an address prefix: " + prefix);
    }
    uint8_t bytes[16] = {};
    if (inet_pton(AF_INET, addr.c_str(), bytes) == 1) {
        if (len < 0) len = 32;
        if (len > 32) return make_error("not an address prefix: " + prefix);
        if (s.n4 == kMaxPrefixes) {
            return make_error("at most " + std::to_string(kMaxPrefixes) + " IPv4 anycast prefixes");
        }
        const uint32_t mask = len == 0 ? 0 : htonl(~uint32_t(0) << (32 - len));
        uint32_t a;
        std::memcpy(&a, bytes, 4);
        s.v4[s.n4++] = Prefix4{a & mask, mask};
        return ok_status();
    }
    if (inet_pton(AF_INET6, addr.c_str(), bytes) == 1) {
        if (len < 0) len = 128;
        if (len > 128) return make_error("not an address prefix: " + prefix);
        if (s.n6 == kMaxPrefixes) {
            return make_error("at most " + std::to_string(kMaxPrefixes) + " IPv6 anycast prefixes");
        }
        Prefix6 p;
        for (int w = 0; w < 4; ++w) {
            const int bits = std::clamp(len - 32 * w, 0, 32);
            p.mask[w] = bits == 0 ? 0 : htonl(~uint32_t(0) << (32 - bits));
            uint32_t a;
            std::memcpy(&a, bytes + 4 * w, 4);
            p.addr[w] = a & p.mask[w];
        }
        s.v6[s.n6++] = p;
        return ok_status();
    }
    return make_error("not an address prefix: " + prefix);
}

}  // namespace anyedge::hooks::filter
