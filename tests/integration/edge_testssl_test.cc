// testssl.sh (Debian's `testssl`) against a real cdn-edge: protocols, cipher categories, forward
// secrecy, server picks and defaults (tickets, ALPN), HTTP headers (HSTS) and every vulnerability
// check, once for the ECDSA certificate and once, by a wildcard SNI name, for the RSA one. Both
// certificates come from a throwaway CA that the scan is told to trust, so the served chain is
// checked too.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

// One testssl JSON line: {"id": ..., "severity": ..., "finding": ...}.
struct Finding {
    std::string id;
    std::string severity;
    std::string finding;
};

struct Scan {
    std::vector<Finding> findings;
    std::string output;  // what testssl printed, for failure messages

    const Finding* find(const std::string& id) const {
        for (const Finding& f : findings) {
            if (f.id == id) return &f;
        }
        return nullptr;
    }
    void replace(const Finding& with) {
        for (Finding& f : findings) {
            if (f.id == with.id) f = with;
        }
    }
};

void make_ca_signed_cert(const fs::path& dir, const std::string& name, const std::string& keyopt,
                         const std::string& san, const std::string& usage) {
    const std::string d = dir.string();
    std::ofstream(dir / (name + ".ext"))
        << "subjectAltName=" << san << "\nbasicConstraints=CA:FALSE\nkeyUsage=" << usage
        << "\nextendedKeyUsage=serverAuth\n";
    run_command("openssl req -newkey " + keyopt + " -nodes -subj /CN=" + name + " -keyout " + d +
                "/" + name + ".key -out " + d + "/" + name + ".csr");
    run_command("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " +
                d + "/ca.key -CAcreateserial -days 200 -extfile " + d + "/" + name + ".ext -out " +
                d + "/" + name + ".leaf");
    // The chain file an operator would install: the leaf, then its issuer.
    std::ofstream(dir / (name + ".pem")) << read_file_bytes((dir / (name + ".leaf")).string())
                                         << read_file_bytes((dir / "ca.pem").string());
}

Scan run_testssl(const fs::path& dir, const std::string& host, uint16_t port,
                 const std::string& checks) {
    const fs::path json = dir / (host + ".json");
    fs::remove(json);
    Scan scan;
    // Bounded: testssl's own timeouts per connection, and `timeout` for the whole scan.
    scan.output = run_command(
        "timeout 400 testssl --quiet --color 0 --warnings off --nodns none --connect-timeout 10 "
        "--openssl-timeout 10 --ip 127.0.0.1 --add-ca " +
        (dir / "ca.pem").string() + " " + checks + " --jsonfile " + json.string() + " " + host +
        ":" + std::to_string(port));
    const nlohmann::json doc =
        nlohmann::json::parse(read_file_bytes(json.string()), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_array()) return scan;
    for (const auto& item : doc) {
        scan.findings.push_back(
            {item.value("id", ""), item.value("severity", ""), item.value("finding", "")});
    }
    return scan;
}

// The full scan, with testssl's ticket check repeated (bounded) when it lost its race: it runs
// `openssl s_client -sess_out </dev/null`, which shuts down as soon as its own handshake is done,
// so it keeps a ticket only if the server's (sent once the client's Finished arrives) is already
// there. It loses about one time in six, against nginx as against cdn-edge (measured on
// loopback), and testssl then reports "check failed because of connect problem".
Scan scan_with_ticket_recheck(const fs::path& dir, const std::string& host, uint16_t port) {
    Scan scan = run_testssl(dir, host, port, "-p -s -f -P -S -h -U");
    for (int attempt = 0; attempt < 5; ++attempt) {
        const Finding* ticket = scan.find("sessionresumption_ticket");
        if (ticket == nullptr || ticket->finding.find("connect problem") == std::string::npos) {
            break;
        }
        const Scan again = run_testssl(dir, host, port, "-S");
        if (const Finding* rechecked = again.find("sessionresumption_ticket")) {
            scan.replace(*rechecked);
        }
    }
    return scan;
}

// Findings about the machine that runs the scan, not about the server: testssl warns when the
// local /usr/bin/openssl lacks engine (GOST) support, which depends on how that openssl was
// built and configured. Every other finding stays asserted.
bool about_the_scanner(const Finding& f) {
    return f.id == "engine_problem" || f.finding.find("your /usr/bin/openssl") != std::string::npos;
}

void expect_clean_scan(const Scan& scan, const std::string& key_type) {
    ASSERT_GT(scan.findings.size(), 50u) << "testssl produced no report:\n" << scan.output;
    const auto finding = [&](const std::string& id) -> std::string {
        const Finding* f = scan.find(id);
        return f ? f->finding : "(missing)";
    };
    const auto severity = [&](const std::string& id) -> std::string {
        const Finding* f = scan.find(id);
        return f ? f->severity : "(missing)";
    };

    // TLS 1.2 and 1.3 only.
    for (const char* old : {"SSLv2", "SSLv3", "TLS1", "TLS1_1"}) {
        EXPECT_EQ(finding(old), "not offered") << old;
    }
    EXPECT_EQ(finding("TLS1_2"), "offered");
    EXPECT_TRUE(finding("TLS1_3").starts_with("offered")) << finding("TLS1_3");

    // No weak cipher category, forward secrecy always, the server's order.
    for (const char* weak : {"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                             "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"}) {
        EXPECT_EQ(finding(weak), "not offered") << weak;
    }
    EXPECT_EQ(finding("cipherlist_STRONG"), "offered");
    EXPECT_EQ(finding("PFS"), "offered");
    EXPECT_EQ(finding("cipher_order"), "server");

    // The certificate chosen by SNI, its chain complete and trusted.
    EXPECT_TRUE(finding("cert_keySize").starts_with(key_type)) << finding("cert_keySize");
    EXPECT_EQ(severity("cert_chain_of_trust"), "OK") << finding("cert_chain_of_trust");
    EXPECT_EQ(severity("cert_trust"), "OK") << finding("cert_trust");

    EXPECT_EQ(finding("ALPN"), "http/1.1");
    EXPECT_EQ(finding("sessionresumption_ticket"), "supported");
    EXPECT_EQ(severity("HSTS_time"), "OK") << finding("HSTS_time");
    EXPECT_EQ(severity("X-Content-Type-Options"), "OK");

    for (const char* vuln :
         {"heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
          "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
          "LOGJAM", "LOGJAM-common_primes", "BEAST", "LUCKY13", "RC4"}) {
        EXPECT_EQ(severity(vuln), "OK") << vuln << ": " << finding(vuln);
    }

    // Nothing worse than INFO anywhere, save one point about the throwaway CA itself: its
    // certificates name no CRL or OCSP responder (a property of the certificate, not the server).
    for (const Finding& f : scan.findings) {
        if (f.severity == "OK" || f.severity == "INFO" || f.id == "cert_revocation") continue;
        if (about_the_scanner(f)) continue;
        ADD_FAILURE() << f.severity << " " << f.id << ": " << f.finding;
    }
}

TEST(EdgeTestssl, EcdsaAndRsaCertificatesScanClean) {
    ANYEDGE_REQUIRE_IO_URING();
    ASSERT_EQ(run_command("command -v testssl >/dev/null && echo yes"), "yes\n")
        << "testssl not installed (apt-get install testssl.sh; tests/run.sh installs it)";
    const fs::path dir = fresh_test_dir("testssl");
    const std::string d = dir.string();
    run_command(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=anyedge-test-ca -keyout " +
        d + "/ca.key -out " + d + "/ca.pem");
    make_ca_signed_cert(dir, "a.example", "ec -pkeyopt ec_paramgen_curve:P-256", "DNS:a.example",
                        "digitalSignature");
    make_ca_signed_cert(dir, "w.example", "rsa:2048", "DNS:*.w.example",
                        "digitalSignature,keyEncipherment");

    EdgeProcess edge(edge_binary(), {"--site", source_dir() + "/site", "--tls-listen",
                                     "127.0.0.1:0", "--cert", d + "/a.example.pem", "--key",
                                     d + "/a.example.key", "--cert", d + "/w.example.pem", "--key",
                                     d + "/w.example.key", "--hsts", "max-age=63072000"});
    ASSERT_TRUE(edge.started()) << edge.log();

    {
        SCOPED_TRACE("ECDSA certificate (a.example)");
        expect_clean_scan(scan_with_ticket_recheck(dir, "a.example", edge.port()), "EC 256");
    }
    {
        SCOPED_TRACE("RSA certificate by wildcard SNI (x.w.example)");
        expect_clean_scan(scan_with_ticket_recheck(dir, "x.w.example", edge.port()), "RSA 2048");
    }
    EXPECT_EQ(edge.stop(), 0) << edge.log();
    fs::remove_all(dir);
}

}  // namespace
}  // namespace anyedge::testing
