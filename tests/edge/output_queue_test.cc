// OutputQueue: what is copied and what is referenced, the snapshot holds that keep referenced
// bytes alive, and gather/consume across pieces.
#include "edge/server/output_queue.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace anyedge::server {
namespace {

// A queue over a live snapshot holding one file of `size` bytes at "/f".
struct QueueOverFile {
    explicit QueueOverFile(size_t size) {
        std::string bytes(size, '\0');
        for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 26);
        std::vector<cache::FileSpec> files;
        files.push_back({"/f", "application/octet-stream", 0, "", std::move(bytes), {}, {}, {}});
        live = cache::Snapshot::build(std::move(files), {}, 1);
        body = live->find("/f").entry->identity.body;
    }
    std::shared_ptr<const cache::Snapshot> live;
    std::string_view body;  // the file's bytes inside the snapshot
    OutputQueue q;
};

std::string drain(OutputQueue& q, size_t max_iov, size_t max_bytes) {
    std::string out;
    for (int rounds = 0; rounds < 1000 && !q.empty(); ++rounds) {
        iovec iov[16];
        const size_t n = q.gather(iov, std::min<size_t>(max_iov, 16), max_bytes);
        size_t got = 0;
        for (size_t i = 0; i < n; ++i) {
            out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
            got += iov[i].iov_len;
        }
        q.consume(got);
    }
    return out;
}

TEST(OutputQueue, SmallPiecesBecomeOneContiguousRun) {
    QueueOverFile t(4000);
    OutputQueue& q = t.q;
    q.copy("HTTP/1.1 200 OK\r\n\r\n");
    q.reference(t.body, *t.live);  // under the default (TLS) threshold: copied
    q.copy("HTTP/1.1 200 OK\r\n\r\n");
    iovec iov[4];
    ASSERT_EQ(q.gather(iov, 4, 1 << 20), 1u);
    EXPECT_EQ(iov[0].iov_len, 2 * 19 + t.body.size());
    EXPECT_EQ(t.live.use_count(), 1);  // nothing referenced, nothing held
}

TEST(OutputQueue, PlainConnectionsReferenceBodiesAboveAKilobyte) {
    QueueOverFile t(8418);
    OutputQueue& q = t.q;
    const std::string_view body = t.body;
    std::weak_ptr<const cache::Snapshot> watch = t.live;
    q.set_copy_threshold(OutputQueue::kPlainCopyThreshold);
    const std::string small(OutputQueue::kPlainCopyThreshold, 's');
    q.copy("head1\r\n\r\n");
    q.reference(body, *t.live);
    q.copy("head2\r\n\r\n");
    q.reference(small, *t.live);  // at the threshold: copied, and joins head2
    iovec iov[8];
    ASSERT_EQ(q.gather(iov, 8, 1 << 20), 3u);
    EXPECT_EQ(iov[1].iov_base, body.data());  // the snapshot's own bytes, not a copy
    EXPECT_EQ(iov[2].iov_len, 9 + small.size());
    // A reload drops the live snapshot: the queue keeps the referenced bytes alive.
    t.live.reset();
    EXPECT_FALSE(watch.expired());
    const std::string expected = "head1\r\n\r\n" + std::string(body) + "head2\r\n\r\n" + small;
    EXPECT_EQ(drain(q, 8, 1000), expected);  // in pieces that end mid-segment
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.queued_bytes(), 0u);
    q.clear();
    EXPECT_TRUE(watch.expired());
}

TEST(OutputQueue, GatherStopsAtTheIovecAndByteLimits) {
    QueueOverFile t(40000);
    OutputQueue& q = t.q;
    const std::string_view body = t.body;
    std::string expected;
    for (int i = 0; i < 5; ++i) {
        const std::string head = "h" + std::to_string(i) + "\r\n";
        q.copy(head);
        q.reference(body, *t.live);  // above the default threshold: referenced
        expected += head + std::string(body);
    }
    EXPECT_EQ(q.queued_bytes(), expected.size());
    iovec iov[16];
    EXPECT_EQ(q.gather(iov, 3, 1 << 20), 3u);
    ASSERT_EQ(q.gather(iov, 16, 100), 2u);  // the first head, then as much body as fits
    EXPECT_EQ(iov[0].iov_len, 4u);
    EXPECT_EQ(iov[1].iov_len, 96u);
    EXPECT_EQ(drain(q, 3, 12345), expected);
}

}  // namespace
}  // namespace anyedge::server
