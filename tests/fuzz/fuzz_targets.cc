#include "tests/fuzz/fuzz_targets.h"

#include <cstdlib>
#include <string>
#include <string_view>

#include "bgp-hooks/bird/reply.h"
#include "edge/http/conditional.h"
#include "edge/http/path.h"
#include "edge/http/range.h"
#include "edge/http/request_parser.h"
#include "origin-sync/content/manifest.h"

namespace anyedge::fuzz {
namespace {

std::string_view view(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

void request_parser(const uint8_t* data, size_t size) {
    // Feed the input the way a connection would: whole, then split at its first byte values.
    const std::string_view in = view(data, size);
    for (size_t split : {size, size / 2, size_t(1)}) {
        http::RequestParser p;
        std::string buf(in.substr(0, std::min(split, size)));
        size_t fed = std::min(split, size);
        for (int rounds = 0; rounds < 4 * int(size) + 8; ++rounds) {
            size_t used = 0;
            const http::ParseStatus st = p.feed(buf, used);
            check(used <= buf.size());
            buf.erase(0, used);
            if (st == http::ParseStatus::kError) {
                check(p.error_status() >= 400 && p.error_status() < 600);
                break;
            }
            if (st == http::ParseStatus::kDone) p.reset();
            if (fed < size) {
                buf.append(in.substr(fed, 1));
                ++fed;
            } else if (st == http::ParseStatus::kNeedMore || buf.empty()) {
                break;
            }
        }
    }
}

void range(const uint8_t* data, size_t size) {
    const std::string_view in = view(data, size);
    for (uint64_t length : {uint64_t(0), uint64_t(1), uint64_t(1000), uint64_t(1) << 40}) {
        const http::RangeDecision d = http::evaluate_range(in, length);
        if (d.outcome == http::RangeOutcome::partial) {
            check(!d.ranges.empty());
            uint64_t total = 0;
            for (const auto& r : d.ranges) {
                check(r.first <= r.last && r.last < length);
                total += r.size();
            }
            // Abuse bound: never more than the representation (RFC 9110 §14.2 advice).
            check(total <= length);
            const auto mp = http::build_multipart_byteranges(d.ranges, "text/plain", length, "b");
            check(mp.parts.size() == d.ranges.size());
        }
    }
    http::if_range_allows(in, "\"abc\"", 784111777);
    http::evaluate_preconditions(http::MethodClass::get_or_head,
                                 http::ConditionalFields{in, in, in, in},
                                 http::Validators{"\"abc\"", 784111777});
}

void path(const uint8_t* data, size_t size) {
    const http::PathResult r = http::normalize_target(view(data, size));
    if (!r.ok) return;
    const std::string& p = r.target.path;
    check(!p.empty() && p.front() == '/');
    check(p.find("/../") == std::string::npos && !p.ends_with("/.."));
    check(p.find('\\') == std::string::npos && p.find('\0') == std::string::npos);
    check(p.find("//") == std::string::npos);
}

void manifest(const uint8_t* data, size_t size) {
    auto m = parse_manifest(view(data, size));
    if (m) {
        // Whatever parses must round-trip through the canonical form.
        auto again = parse_manifest(serialize_manifest(*m));
        check(again.ok() && *again == *m);
    }
    auto c = parse_current(view(data, size));
    if (c) check(parse_current(serialize_current(*c)).ok());
}

void bird_reply(const uint8_t* data, size_t size) {
    bird::ReplyAssembler a;
    if (!a.feed(view(data, size))) return;
    for (int i = 0; i < 100000; ++i) {
        if (!a.next()) break;
    }
}

}  // namespace anyedge::fuzz
