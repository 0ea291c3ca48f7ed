// The PSK identities of a ClientHello, read before GnuTLS reads them to pick the ticket master.
#include "edge/quic/client_hello_psk.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace anyedge::quic {
namespace {

using Bytes = std::vector<uint8_t>;

void put(Bytes& out, uint32_t v, size_t n) {
    for (size_t i = n; i-- > 0;) out.push_back(uint8_t(v >> (8 * i)));
}
void put_vector(Bytes& out, const Bytes& v, size_t prefix) {
    put(out, uint32_t(v.size()), prefix);
    out.insert(out.end(), v.begin(), v.end());
}
Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A ClientHello body with the given extensions (type, data), in order.
Bytes client_hello(const std::vector<std::pair<uint16_t, Bytes>>& extensions) {
    Bytes out;
    put(out, 0x0303, 2);
    out.insert(out.end(), 32, 0xab);                    // random
    put_vector(out, Bytes(32, 0x11), 1);                // legacy_session_id
    put_vector(out, Bytes{0x13, 0x01, 0x13, 0x02}, 2);  // cipher_suites
    put_vector(out, Bytes{0}, 1);                       // compression: null
    Bytes ext;
    for (const auto& [type, data] : extensions) {
        put(ext, type, 2);
        put_vector(ext, data, 2);
    }
    put_vector(out, ext, 2);
    return out;
}

Bytes pre_shared_key(const std::vector<std::string>& identities) {
    Bytes ids, binders;
    for (const std::string& id : identities) {
        put_vector(ids, text(id), 2);
        put(ids, 0x01020304, 4);  // obfuscated_ticket_age
        put_vector(binders, Bytes(32, 0x77), 1);
    }
    Bytes out;
    put_vector(out, ids, 2);
    put_vector(out, binders, 2);
    return out;
}

std::vector<std::string> identities_of(const Bytes& hello) {
    std::vector<std::string> out;
    for (auto id : psk_identities(hello)) out.emplace_back(id.begin(), id.end());
    return out;
}

TEST(ClientHelloPsk, ReadsEveryIdentityInTheClientsOrder) {
    const Bytes hello =
        client_hello({{0, Bytes{0x00, 0x05, 0x00, 0x00, 0x02, 0x61, 0x62}},  // server_name
                      {43, Bytes{0x02, 0x03, 0x04}},                         // supported_versions
                      {41, pre_shared_key({"first-ticket", "second"})}});
    EXPECT_EQ(identities_of(hello), (std::vector<std::string>{"first-ticket", "second"}));
}

TEST(ClientHelloPsk, NoPreSharedKeyExtensionGivesNothing) {
    EXPECT_TRUE(identities_of(client_hello({{43, Bytes{0x02, 0x03, 0x04}}})).empty());
    EXPECT_TRUE(identities_of(client_hello({})).empty());
}

TEST(ClientHelloPsk, EveryTruncationIsRefusedWithoutReadingPastTheEnd) {
    const Bytes hello = client_hello({{41, pre_shared_key({"ticket-one", "ticket-two"})}});
    ASSERT_EQ(identities_of(hello).size(), 2u);
    for (size_t n = 0; n < hello.size(); ++n) {
        // A shorter message is malformed at some length field: nothing, and never a partial
        // list that runs past the bytes given.
        const Bytes cut(hello.begin(), hello.begin() + long(n));
        EXPECT_TRUE(psk_identities(cut).empty()) << "cut at " << n << " of " << hello.size();
        for (auto id : psk_identities(cut)) {
            EXPECT_GE(id.data(), cut.data());
            EXPECT_LE(id.data() + id.size(), cut.data() + cut.size());
        }
    }
    // An identity whose length runs past its list.
    Bytes psk;
    Bytes ids;
    put(ids, 200, 2);
    ids.insert(ids.end(), 10, 'x');
    put_vector(psk, ids, 2);
    EXPECT_TRUE(identities_of(client_hello({{41, psk}})).empty());
}

}  // namespace
}  // namespace anyedge::quic
