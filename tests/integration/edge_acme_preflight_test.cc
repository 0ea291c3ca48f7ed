// The issuer's preflight against a real cdn-edge: before a CA is asked to validate, the issuer
// fetches the challenge through the fleet itself, so a wrong thumbprint or a name that does
// not reach the fleet fails with a clear error (and nothing is asked of the CA).
#include <gtest/gtest.h>

#include "origin-sync/acme/certificate_order.h"
#include "origin-sync/content/acme.h"
#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {

constexpr const char* kThumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
constexpr const char* kOtherThumbprint = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr std::chrono::milliseconds kTimeout{5000};

Status preflight(uint16_t port, const std::string& thumbprint) {
    return acme::preflight_challenge("127.0.0.1", std::to_string(port), "tok-EN_1",
                                     key_authorization("tok-EN_1", thumbprint), kTimeout);
}

TEST(EdgeAcmePreflight, AcceptsTheFleetsAnswer) {
    ANYEDGE_REQUIRE_IO_URING();
    EdgeProcess p(edge_binary(), {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0",
                                  "--acme-thumbprint", kThumbprint});
    ASSERT_TRUE(p.started()) << p.log();
    Status s = preflight(p.port(0), kThumbprint);
    EXPECT_TRUE(s) << s.error();
    EXPECT_EQ(p.stop(), 0);
}

TEST(EdgeAcmePreflight, NamesBothThumbprintsWhenTheNodesHaveAnotherAccount) {
    ANYEDGE_REQUIRE_IO_URING();
    EdgeProcess p(edge_binary(), {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0",
                                  "--acme-thumbprint", kOtherThumbprint});
    ASSERT_TRUE(p.started()) << p.log();
    Status s = preflight(p.port(0), kThumbprint);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().find(std::string("the nodes answer with thumbprint ") + kOtherThumbprint),
              std::string::npos)
        << s.error();
    EXPECT_NE(s.error().find(std::string("this account's is ") + kThumbprint), std::string::npos)
        << s.error();
    EXPECT_EQ(p.stop(), 0);
}

TEST(EdgeAcmePreflight, SaysWhenTheNodesHaveNoThumbprint) {
    ANYEDGE_REQUIRE_IO_URING();
    EdgeProcess p(edge_binary(), {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0"});
    ASSERT_TRUE(p.started()) << p.log();
    Status s = preflight(p.port(0), kThumbprint);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().find("HTTP 404"), std::string::npos) << s.error();
    EXPECT_NE(s.error().find("acme_thumbprint"), std::string::npos) << s.error();
    EXPECT_EQ(p.stop(), 0);
}

TEST(EdgeAcmePreflight, SaysWhenTheNameDoesNotReachTheFleet) {
    // Port 1 on loopback: nothing listens there.
    Status s = preflight(1, kThumbprint);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().find("does the name point at the fleet?"), std::string::npos) << s.error();
}

}  // namespace
}  // namespace anyedge::testing
