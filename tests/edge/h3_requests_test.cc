// HTTP/3 requests that no library client sends, against the edge's HTTP/3 layer in one process
// (tests/edge/h3_client_driver.h): RFC 9114 §4.1.2 makes a request whose content does not
// match its content-length malformed, a stream error of type H3_MESSAGE_ERROR, after which the
// connection serves on. nghttp3's client refuses to send such a request, so the integration
// tests (bench/h3load) cannot.
#include <string>

#include <gtest/gtest.h>

#include "tests/edge/h3_client_driver.h"

namespace anyedge::quic::testing {
namespace {

constexpr uint64_t kMessageError = 0x10e;

// A POST for /index.html with a content-length of `length`: QPACK static entries (RFC 9204
// Appendix A) 20 (:method POST), 23 (:scheme https), 0 (:authority), 1 (:path) and 4
// (content-length), the last three with literal values.
std::string post_frame(const std::string& length) {
    std::string section = {0x00, 0x00, char(0xc0 | 20), char(0xc0 | 23), 0x50, 9};
    section += "localhost";
    section += {0x51, 11};
    section += "/index.html";
    section += {0x54, char(length.size())};
    section += length;
    std::string frame;
    put_varint(frame, 0x01);
    put_varint(frame, section.size());
    return frame + section;
}

std::string data_frame(const std::string& content) {
    std::string frame;
    put_varint(frame, 0x00);
    put_varint(frame, content.size());
    return frame + content;
}

// Sends `bytes` and the FIN on a new request stream; returns its id.
int64_t send(World& w, std::string bytes) {
    const int64_t id = w.open_stream();
    if (id >= 0) w.client->queue(id, std::move(bytes), true);
    w.pump();
    return id;
}

bool reset_with(const Client& c, int64_t stream, uint64_t code) {
    for (const auto& [id, got] : c.resets) {
        if (id == stream && got == code) return true;
    }
    return false;
}

// The stream was answered: the server sent its response and ended the stream, resetting nothing.
bool answered(const Client& c, int64_t stream) {
    return c.finished.count(stream) == 1 && c.received.count(stream) == 1 &&
           !reset_with(c, stream, kMessageError);
}

void expect_message_error_then_service(const std::string& request) {
    World w;
    ASSERT_TRUE(w.start());
    const int64_t id = send(w, request);
    ASSERT_GE(id, 0);
    EXPECT_TRUE(reset_with(*w.client, id, kMessageError));
    EXPECT_FALSE(answered(*w.client, id));
    const int64_t next = send(w, request_frame(0));  // GET /index.html
    EXPECT_TRUE(answered(*w.client, next));
    EXPECT_FALSE(w.client->dead);
}

TEST(H3Requests, ContentShorterThanItsContentLengthIsAMessageError) {
    expect_message_error_then_service(post_frame("10") + data_frame("hello"));
}

TEST(H3Requests, ContentLongerThanItsContentLengthIsAMessageError) {
    expect_message_error_then_service(post_frame("2") + data_frame("hello"));
}

// The control: the same POST with a matching length is answered (405: the site is static).
TEST(H3Requests, ContentMatchingItsContentLengthIsAnswered) {
    World w;
    ASSERT_TRUE(w.start());
    const int64_t id = send(w, post_frame("5") + data_frame("hello"));
    EXPECT_TRUE(answered(*w.client, id));
    EXPECT_TRUE(w.client->resets.empty());
}

}  // namespace
}  // namespace anyedge::quic::testing
