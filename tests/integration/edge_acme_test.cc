// cdn-edge's part in fleet certificates, as a real process: the issuer's preflight against it
// (before a CA is asked to validate, the issuer fetches the challenge through the fleet itself,
// so a wrong thumbprint or a name that does not reach the fleet fails with a clear error), and
// a node that starts before its first certificate has arrived.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

// A node configured for fleet certificates whose files are not there yet serves a self-signed
// placeholder written at those paths; the certificate cdn-sync installs later is served after
// the reload. Without acme_thumbprint a missing file is still a startup error.
TEST(EdgeAcmeBootstrap, PlaceholderUntilTheFleetCertificateArrives) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::filesystem::path d = fresh_test_dir("anyedge-acme-boot");
    const std::string cert = (d / "fleet.pem").string(), key = (d / "fleet.key").string();

    EdgeProcess refused(
        edge_binary(), {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0", "--tls-listen",
                        "127.0.0.1:0", "--cert", cert, "--key", key});
    EXPECT_FALSE(refused.started());
    EXPECT_NE(refused.log().find("fleet.pem"), std::string::npos) << refused.log();
    EXPECT_FALSE(std::filesystem::exists(cert));

    EdgeProcess edge(
        edge_binary(),
        {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0",
         "--cert", cert, "--key", key, "--acme-thumbprint", kThumbprint, "--node-name", "e9"},
        2);
    ASSERT_TRUE(edge.started()) << edge.log();
    EXPECT_NE(edge.log().find("self-signed placeholder"), std::string::npos) << edge.log();
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    const std::string fingerprint = "openssl x509 -noout -fingerprint -sha256";
    auto served = [&] {
        return run_command(
            "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(edge.port(1)) +
            " -servername blog.example </dev/null 2>/dev/null | " + fingerprint);
    };
    const std::string placeholder = run_command(fingerprint + " -in " + cert);
    ASSERT_FALSE(placeholder.empty());
    EXPECT_EQ(served(), placeholder);

    // cdn-sync installs the fleet certificate (key first, then chain) and asks for a reload.
    run_command(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=blog.example -addext subjectAltName=DNS:blog.example -keyout " +
        (d / "new.key").string() + " -out " + (d / "new.pem").string() + " 2>&1");
    std::filesystem::rename(d / "new.key", key);
    std::filesystem::rename(d / "new.pem", cert);
    const std::string fleet = run_command(fingerprint + " -in " + cert);
    ASSERT_NE(fleet, placeholder);
    kill(edge.pid(), SIGHUP);
    std::string now;
    for (int i = 0; i < 100 && (now = served()) != fleet; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(now, fleet) << edge.log();
    EXPECT_EQ(edge.stop(), 0) << edge.log();
    std::filesystem::remove_all(d);
}

// /metrics relays cdn-sync's certificate report (STATE/sync-status.json); a report with mistyped
// members (a corrupt file, another version) reads as "not reported" and never takes the edge
// down.
TEST(EdgeAcmeMetrics, CertificateReportFromCdnSyncMistypedOrNot) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::filesystem::path d = fresh_test_dir("anyedge-acme-metrics");
    std::filesystem::create_directories(d / "state");
    EdgeProcess edge(
        edge_binary(),
        {"--state", (d / "state").string(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"},
        2);
    ASSERT_TRUE(edge.started()) << edge.log();
    auto metrics = [&](const std::string& report) {
        std::ofstream(d / "state" / "sync-status.json") << report;
        return admin_request(edge.port(1), "GET", "/metrics");
    };
    AdminReply m = metrics(R"({"state":"ok","certificate":{"state":"error","not_after":"x",
        "issuer":{"state":7,"last_success":[1]}}})");
    ASSERT_TRUE(m.raw.starts_with("HTTP/1.1 200")) << m.raw;
    EXPECT_NE(m.body.find("anyedge_certificate_install_failing 1\n"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("anyedge_certificate_installed_not_after_seconds 0\n"),
              std::string::npos);
    EXPECT_NE(m.body.find("anyedge_acme_issuer_failing 0\n"), std::string::npos) << m.body;

    m = metrics(R"({"state":"ok","certificate":{"state":"ok","not_after":1900000000,
        "issuer":{"state":"error","last_success":1800000000}}})");
    ASSERT_TRUE(m.raw.starts_with("HTTP/1.1 200")) << m.raw;
    EXPECT_NE(m.body.find("anyedge_certificate_install_failing 0\n"), std::string::npos);
    EXPECT_NE(m.body.find("anyedge_certificate_installed_not_after_seconds 1900000000\n"),
              std::string::npos);
    EXPECT_NE(m.body.find("anyedge_acme_issuer_failing 1\n"), std::string::npos);
    EXPECT_NE(m.body.find("anyedge_acme_issuer_last_success_seconds 1800000000\n"),
              std::string::npos);
    EXPECT_EQ(edge.stop(), 0) << edge.log();
    std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace anyedge::testing
