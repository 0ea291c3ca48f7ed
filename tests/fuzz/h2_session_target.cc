// The HTTP/2 session fuzz target: a client's bytes after a valid connection preface, against
// H2Session with the real OutputQueue as its sink, interleaved with the peer reading, site
// reloads, a drain and the idle release. The connection target cannot reach this code: its
// random bytes never finish a TLS handshake.
// Input: the first byte picks an upload handler (bit 0: POST bodies are read and echoed) and a
// small output budget (bit 1: back-pressure with small inputs). Each following byte is one
// event, by its low 3 bits:
//   0-2: the next (byte >> 3) + 1 input bytes arrive as they are
//   3:   a frame: the next 4 bytes give its type, flags, stream id and length, then its payload;
//        a type of 10 or 11 is a request HEADERS block built from the flags (method, path,
//        END_STREAM, content-length, END_HEADERS), so requests get answered
//   4:   the peer reads up to ((byte >> 3) + 1) KB of the output, then the session resumes
//   5:   a reload: a new live snapshot, the old one dropped (bodies on their way keep theirs)
//   6:   close_after_current() (a drain)
//   7:   release_memory() (the connection went idle)
// Invariants: nothing crashes or leaks (ASan); everything the server sends is whole frames of
// the types RFC 9113 defines, none past the default SETTINGS_MAX_FRAME_SIZE, a DATA frame only
// on a client stream whose HEADERS went first.

#include <sys/uio.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "edge/cache/snapshot.h"
#include "edge/server/h2_session.h"
#include "edge/server/output_queue.h"
#include "edge/server/responder.h"
#include "tests/fuzz/fuzz_targets.h"

namespace anyedge::fuzz {
namespace {

std::shared_ptr<const cache::Snapshot> make_site(uint64_t generation) {
    std::string big(96 * 1024, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7) % 26);
    std::vector<cache::FileSpec> files;
    files.push_back({"/index.html", "text/html", 0, "", std::string("<p>hello</p>\n"), {}, {}, {}});
    files.push_back({"/big.bin", "application/octet-stream", 0, "", std::move(big), {}, {}, {}});
    return cache::Snapshot::build(std::move(files), {}, generation);
}

// An upload handler like the origin's: POST bodies are read whole and their size echoed.
class BodyEcho final : public server::RequestHandler {
  public:
    server::ResponseInfo handle(const http::Request& req, const cache::Snapshot& snapshot,
                                const server::ResponseContext& ctx,
                                server::ResponseSink& out) override {
        return server::respond(req, snapshot, ctx, out);
    }
    bool wants_body(const http::Request& req) const override { return req.method_name == "POST"; }
    server::ResponseInfo handle_with_body(const http::Request& req, std::string_view body,
                                          const cache::Snapshot&,
                                          const server::ResponseContext& ctx,
                                          server::ResponseSink& out) override {
        return server::respond_with(201, "text/plain", std::to_string(body.size()) + "\n", {}, req,
                                    ctx, out);
    }
};

std::string frame_header(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream) {
    return {char(length >> 16), char(length >> 8),  char(length),      char(type),  char(flags),
            char(stream >> 24), char(stream >> 16), char(stream >> 8), char(stream)};
}

// HPACK (RFC 7541 §6.2.2) literal fields without indexing or Huffman coding.
std::string literal(std::string_view name, std::string_view value) {
    std::string out{0x00, char(name.size())};
    out.append(name);
    out.push_back(char(value.size()));
    out.append(value);
    return out;
}

// A request's header block from the flags: bits 0-1 the method, 2-3 the path, bit 4
// END_STREAM, bit 5 a content-length of `length`, bit 6 no END_HEADERS (CONTINUATION owed).
std::string request_headers(uint8_t flags, uint32_t stream, uint8_t length) {
    static const char* const kMethods[] = {"GET", "HEAD", "POST", "OPTIONS"};
    static const char* const kPaths[] = {"/index.html", "/big.bin", "/missing", "/"};
    std::string block = literal(":method", kMethods[flags & 3]) + literal(":scheme", "https") +
                        literal(":authority", "blog.example") +
                        literal(":path", kPaths[(flags >> 2) & 3]);
    if (flags & 0x20) block += literal("content-length", std::to_string(length));
    const uint8_t h2_flags = ((flags & 0x10) ? 0x1 : 0) | ((flags & 0x40) ? 0 : 0x4);
    return frame_header(static_cast<uint32_t>(block.size()), 0x1, h2_flags, stream) + block;
}

// Checks the server's bytes frame by frame as the peer reads them.
class FrameChecker {
  public:
    void add(std::string_view bytes) {
        pending_.append(bytes);
        size_t at = 0;
        while (pending_.size() - at >= 9) {
            const auto b = [&](size_t i) { return uint32_t(uint8_t(pending_[at + i])); };
            const uint32_t length = b(0) << 16 | b(1) << 8 | b(2);
            const uint32_t type = b(3);
            const uint32_t stream = (b(5) << 24 | b(6) << 16 | b(7) << 8 | b(8)) & 0x7fffffff;
            check(length <= 16384);  // SETTINGS_MAX_FRAME_SIZE's initial value (§6.5.2)
            check(type <= 9);        // the server sends no extension frames
            if (pending_.size() - at < 9 + length) break;
            if (type == 0x1) headers_sent_.insert(stream);
            if (type == 0x0) check(stream % 2 == 1 && headers_sent_.count(stream) == 1);
            at += 9 + length;
        }
        pending_.erase(0, at);
    }
    // Whatever the server sent ends on a frame boundary.
    bool whole() const { return pending_.empty(); }

  private:
    std::string pending_;
    std::set<uint32_t> headers_sent_;
};

// The peer reads up to `max` bytes of the output.
void peer_reads(server::OutputQueue& out, size_t max, FrameChecker& frames) {
    iovec iov[16];
    const size_t n = out.gather(iov, 16, max);
    size_t taken = 0;
    for (size_t k = 0; k < n; ++k) {
        frames.add(std::string_view(static_cast<const char*>(iov[k].iov_base), iov[k].iov_len));
        taken += iov[k].iov_len;
    }
    out.consume(taken);
}

}  // namespace

void h2_session(const uint8_t* data, size_t size) {
    if (size == 0) return;
    server::SessionLimits limits;
    if (data[0] & 2) limits.output_budget = 4 * 1024;
    BodyEcho echo;
    static const std::shared_ptr<const cache::Snapshot> first = make_site(1);
    std::shared_ptr<const cache::Snapshot> live = first;
    server::ResponseContext ctx;
    ctx.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
    server::OutputQueue out;
    FrameChecker frames;
    auto session = std::make_unique<server::H2Session>(limits, (data[0] & 1) ? &echo : nullptr);
    session->start(out);
    session->on_receive(
        std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame_header(0, 0x4, 0, 0), *live, ctx,
        out);
    uint64_t generation = 1;
    size_t i = 1;
    while (i < size && !session->closing()) {
        const uint8_t b = data[i++];
        switch (b & 7) {
            case 0:
            case 1:
            case 2: {
                const size_t n = std::min<size_t>((b >> 3) + 1, size - i);
                session->on_receive(std::string_view(reinterpret_cast<const char*>(data + i), n),
                                    *live, ctx, out);
                i += n;
                break;
            }
            case 3: {
                if (size - i < 4) return;
                const uint8_t type = data[i] % 12, flags = data[i + 1], length = data[i + 3];
                const uint32_t stream = data[i + 2] & 0x7f;
                i += 4;
                std::string bytes;
                if (type >= 10) {
                    bytes = request_headers(flags, stream, length);
                } else {
                    const size_t n = std::min<size_t>(length, size - i);
                    bytes = frame_header(static_cast<uint32_t>(n), type, flags, stream);
                    bytes.append(reinterpret_cast<const char*>(data + i), n);
                    i += n;
                }
                session->on_receive(bytes, *live, ctx, out);
                break;
            }
            case 4:
                peer_reads(out, ((b >> 3) + 1) * 1024, frames);
                session->resume(*live, ctx, out);
                break;
            case 5:
                live = make_site(++generation);  // the old snapshot lives on only in `out`
                break;
            case 6:
                session->close_after_current();
                break;
            default:
                session->release_memory();
                break;
        }
    }
    // The peer reads everything the session still has to send (bounded: the budget lets out a
    // little at a time, and each body is finite).
    for (int k = 0; k < 4096 && !out.empty(); ++k) {
        peer_reads(out, 64 * 1024, frames);
        session->resume(*live, ctx, out);
    }
    check(out.empty());
    check(frames.whole());
    session.reset();  // every stream and its held snapshots go with it
}

}  // namespace anyedge::fuzz
