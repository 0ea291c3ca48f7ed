#include "edge/tls/ticket_keys.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace anyedge::tls {
namespace {

// 80 bytes 00 01 02 ... 4f as hex and base64.
std::string sequential_hex() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 80; ++i) {
        s += kHex[i >> 4];
        s += kHex[i & 0xF];
    }
    return s;
}
constexpr const char* kSequentialBase64 =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNE"
    "RUZHSElKS0xNTk8=";

void expect_sequential(const TicketKey& key) {
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(key.name[i], i);
    }
    for (int i = 0; i < 32; ++i) {
        EXPECT_EQ(key.hmac_key[i], 16 + i);
        EXPECT_EQ(key.aes_key[i], 48 + i);
    }
}

TEST(TicketKeys, ParsesHexAndBase64) {
    const std::string text =
        "# shared by every node\n"
        "\n"
        "100 200 " +
        sequential_hex() +
        "\n"
        "  150\t300  " +
        std::string(kSequentialBase64).replace(0, 1, "B") + "\r\n";
    auto keys = parse_ticket_keys(text);
    ASSERT_TRUE(keys) << keys.error();
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_EQ((*keys)[0].not_before, 100);
    EXPECT_EQ((*keys)[0].not_after, 200);
    expect_sequential((*keys)[0]);
    EXPECT_EQ((*keys)[1].not_before, 150);
    EXPECT_EQ((*keys)[1].not_after, 300);
    EXPECT_EQ((*keys)[1].name[0], 0x04);  // "B" instead of "A" sets bit 2 of the first byte
    EXPECT_EQ((*keys)[1].aes_key[31], 79);

    auto b64 = parse_ticket_keys(std::string("1 2 ") + kSequentialBase64);
    ASSERT_TRUE(b64) << b64.error();
    expect_sequential((*b64)[0]);
    // Unpadded base64 too.
    std::string unpadded(kSequentialBase64);
    unpadded.pop_back();
    auto b64u = parse_ticket_keys("1 2 " + unpadded);
    ASSERT_TRUE(b64u) << b64u.error();
    expect_sequential((*b64u)[0]);
}

TEST(TicketKeys, RejectsBadFiles) {
    const std::string hex = sequential_hex();
    std::string other = hex;
    other[0] = 'f';
    const struct {
        std::string text;
        const char* why;
    } cases[] = {
        {"", "no key"},
        {"# only a comment\n", "no key"},
        {"100 200\n", "line 1"},
        {"100 200 " + hex + " extra\n", "line 1"},
        {"x 200 " + hex, "Unix seconds"},
        {"100 2e3 " + hex, "Unix seconds"},
        {"200 200 " + hex, "later"},
        {"300 200 " + hex, "later"},
        {"100 200 " + hex.substr(2), "80 bytes"},
        {"100 200 " + hex + "00", "80 bytes"},
        {"100 200 " + hex.substr(0, 159) + "g", "80 bytes"},
        {std::string("100 200 ") + kSequentialBase64 + "=", "80 bytes"},
        {std::string("100 200 ") + std::string(kSequentialBase64).replace(5, 1, "*"), "80 bytes"},
        // The last base64 character may only carry zero bits beyond the 80th byte.
        {std::string("100 200 ") + std::string(kSequentialBase64).replace(106, 1, "9"), "80 bytes"},
        {"1 2 " + hex + "\n3 4 " + hex + "\n", "same name"},
        {"1 2 " + other + "\n# ok\n3 4 " + hex + "\nbad\n", "line 4"},
    };
    for (const auto& c : cases) {
        auto keys = parse_ticket_keys(c.text);
        ASSERT_FALSE(keys) << c.text;
        EXPECT_NE(keys.error().find(c.why), std::string::npos) << keys.error();
    }
}

TEST(TicketKeys, FormatRoundTrips) {
    auto key = random_ticket_key(1700000000, 1700086400);
    ASSERT_TRUE(key) << key.error();
    const std::string line = format_ticket_key(*key);
    auto parsed = parse_ticket_keys(line + "\n");
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_EQ(parsed->size(), 1u);
    EXPECT_EQ((*parsed)[0].not_before, key->not_before);
    EXPECT_EQ((*parsed)[0].not_after, key->not_after);
    EXPECT_EQ((*parsed)[0].name, key->name);
    EXPECT_EQ((*parsed)[0].hmac_key, key->hmac_key);
    EXPECT_EQ((*parsed)[0].aes_key, key->aes_key);

    auto other = random_ticket_key(0, 1);
    ASSERT_TRUE(other);
    EXPECT_NE(other->name, key->name);
}

TEST(TicketKeys, LoadsFile) {
    char path[] = "/tmp/ticket_keys_test.XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        std::ofstream out(path);
        out << "5 10 " << sequential_hex() << "\n";
    }
    auto keys = load_ticket_key_file(path);
    ASSERT_TRUE(keys) << keys.error();
    expect_sequential((*keys)[0]);
    {
        std::ofstream out(path);
        out << "5 10 zz\n";
    }
    auto bad = load_ticket_key_file(path);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find(path), std::string::npos);
    std::remove(path);
    EXPECT_FALSE(load_ticket_key_file(path));
}

TicketKey key_with(std::int64_t nb, std::int64_t na, unsigned char id) {
    TicketKey k;
    k.not_before = nb;
    k.not_after = na;
    k.name.fill(id);
    return k;
}

TEST(TicketKeyRing, WindowsChooseTheEncryptionKey) {
    // A: [100, 300), B: [200, 400), C: [500, 600)
    TicketKeyRing ring({key_with(100, 300, 'A'), key_with(200, 400, 'B'), key_with(500, 600, 'C')});
    struct Case {
        std::int64_t now;
        char expected;  // 0: none
    };
    const Case cases[] = {
        {99, 0},    {100, 'A'}, {199, 'A'}, {200, 'B'}, {299, 'B'}, {300, 'B'},
        {399, 'B'}, {400, 0},   {499, 0},   {500, 'C'}, {599, 'C'}, {600, 0},
    };
    for (const auto& c : cases) {
        const TicketKey* k = ring.encryption_key(c.now);
        if (c.expected == 0) {
            EXPECT_EQ(k, nullptr) << c.now;
        } else {
            ASSERT_NE(k, nullptr) << c.now;
            EXPECT_EQ(k->name[0], c.expected) << c.now;
        }
    }
}

TEST(TicketKeyRing, EveryUnexpiredKeyDecrypts) {
    TicketKeyRing ring({key_with(100, 300, 'A'), key_with(200, 400, 'B')});
    std::array<unsigned char, 16> a, b, z;
    a.fill('A');
    b.fill('B');
    z.fill('Z');
    // Before its window a key already decrypts (a node with a fast clock may have used it).
    EXPECT_NE(ring.decryption_key(b, 50), nullptr);
    EXPECT_NE(ring.decryption_key(a, 299), nullptr);
    EXPECT_EQ(ring.decryption_key(a, 300), nullptr);  // expired
    EXPECT_NE(ring.decryption_key(b, 399), nullptr);
    EXPECT_EQ(ring.decryption_key(b, 400), nullptr);
    EXPECT_EQ(ring.decryption_key(z, 250), nullptr);  // unknown name
    EXPECT_EQ(ring.decryption_key(a, 250)->name, a);
    EXPECT_EQ(ring.size(), 2u);
}

}  // namespace
}  // namespace anyedge::tls
