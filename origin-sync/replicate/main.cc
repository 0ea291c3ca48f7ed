// cdn-sync: keeps this node's state directory on the origin's live generation.
//   cdn-sync --origin URL --state DIR --pubkey PEM [--edge-admin URL] [--edge-token FILE]
//            [--interval-ms 1000] [--keep 3] [--parallel 4] [--ca FILE]
//            [--node-name N --node-key FILE --cert-file PEM --key-file PEM]  (fleet certificates)
// Runs until SIGINT/SIGTERM. Logs to stderr; the last state is in DIR/sync-status.json.
#include <atomic>
#include <csignal>

#include <CLI/CLI.hpp>

#include "origin-sync/base/log_line.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/replicate/sync_agent.h"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
    using namespace anyedge;
    CLI::App app{"cdn-sync: follow an anyedge origin into a node's state directory"};
    replicate::SyncOptions o;
    std::string pubkey;
    int interval_ms = 1000, max_backoff_ms = 30000, timeout_ms = 10000, throttle_ms = 0;
    bool once = false;
    replicate::CertFollowOptions cert;
    int cert_interval_ms = 10000;
    app.add_option("--origin", o.origin_url, "origin base URL (http:// or https://)")->required();
    app.add_option("--state", o.state_dir, "the node's state directory")->required();
    app.add_option("--pubkey", pubkey, "Ed25519 public key PEM that signs the site")->required();
    app.add_option("--edge-admin", o.edge_admin_url, "edge admin URL to POST /reload to");
    app.add_option("--edge-token", o.edge_token_file, "file with the admin bearer token");
    app.add_option("--ca", o.ca_file, "CA bundle to verify an https origin");
    app.add_option("--interval-ms", interval_ms, "poll interval");
    app.add_option("--max-backoff-ms", max_backoff_ms, "longest pause between failing polls");
    app.add_option("--timeout-ms", timeout_ms, "per-request timeout");
    app.add_option("--keep", o.keep, "generations kept on disk");
    app.add_option("--parallel", o.parallel, "concurrent blob downloads");
    app.add_option("--throttle-ms", throttle_ms,
                   "pause after each blob per connection, to spare a busy origin");
    app.add_flag("--once", once, "poll once and exit (status 0 when in sync)");
    auto* cert_file =
        app.add_option("--cert-file", cert.cert_file,
                       "install the fleet certificate chain here (the edge's --cert)");
    app.add_option("--key-file", cert.key_file, "install its private key here (the edge's --key)")
        ->needs(cert_file);
    app.add_option("--node-name", cert.node_name, "this node's name in the issuer's config")
        ->needs(cert_file);
    app.add_option("--node-key", cert.node_key_file,
                   "this node's sealing key (made on first use, 0600)")
        ->needs(cert_file);
    app.add_option("--cert-interval-ms", cert_interval_ms, "how often to check for a certificate");
    cert_file->needs("--key-file")->needs("--node-name")->needs("--node-key");
    CLI11_PARSE(app, argc, argv);
    set_log_name("cdn-sync");
    o.interval = std::chrono::milliseconds(interval_ms);
    o.max_backoff = std::chrono::milliseconds(max_backoff_ms);
    o.timeout = std::chrono::milliseconds(timeout_ms);
    o.throttle = std::chrono::milliseconds(throttle_ms);

    auto key = VerifyKey::load(pubkey);
    if (!key) {
        log_line("fatal: " + key.error());
        return 1;
    }
    replicate::SyncAgent agent(o, *key, log_line);
    if (!cert.cert_file.empty()) {
        cert.state_dir = o.state_dir;
        cert.interval = std::chrono::milliseconds(cert_interval_ms);
        std::error_code ec;
        std::filesystem::create_directories(o.state_dir, ec);
        auto follower = replicate::CertFollower::open(cert, *key, log_line);
        if (!follower) {
            log_line("fatal: " + follower.error());
            return 1;
        }
        agent.follow_certificates(std::move(*follower));
    }
    if (once) {
        std::error_code ec;
        std::filesystem::create_directories(o.state_dir, ec);
        Status s = agent.poll_once();
        return s ? 0 : 1;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    log_line("following " + o.origin_url + " into " + o.state_dir.string());
    agent.run(g_stop);
    log_line("stopped");
    return 0;
}
