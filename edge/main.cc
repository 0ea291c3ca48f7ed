// cdn-edge: flags and config, then wiring. See edge/server/worker.h for the data path.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "edge/quic/connection_ids.h"
#include "edge/quic/quic_tls.h"
#include "edge/quic/udp_socket.h"
#include "edge/server/admin_api.h"
#include "edge/server/certificate_placeholder.h"
#include "edge/server/config.h"
#include "edge/server/forward_peers.h"
#include "edge/server/listener.h"
#include "edge/server/origin_upload.h"
#include "edge/server/quic_tls_files.h"
#include "edge/server/site_reload.h"
#include "edge/server/worker.h"
#include "edge/tls/self_signed.h"
#include "edge/tls/tls_context.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/log_line.h"
#include "origin-sync/content/store.h"

#include <sodium.h>

using namespace anyedge;

namespace {

int fail(const std::string& message) {
    log_line(message);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    server::EdgeConfig cfg;
    server::EdgeConfig flags;
    std::string config_file;
    CLI::App app{"cdn-edge: the anyedge io_uring HTTP/TLS edge server"};
    app.add_option("--config", config_file, "JSON config file (same keys as the long flags)");
    app.add_option("--site", flags.site, "plain folder to serve");
    app.add_option("--state", flags.state, "node state directory (published generations)");
    app.add_option("--listen", flags.listen, "HTTP address, 127.0.0.1:8080 or [::1]:8080");
    app.add_option("--tls-listen", flags.tls_listen, "HTTPS address");
    app.add_option("--cert", flags.cert, "certificate chain PEM (repeat for SNI)");
    app.add_option("--key", flags.key, "private key PEM (one per --cert)");
    app.add_option("--ticket-keys", flags.ticket_keys, "session-ticket key file shared by nodes");
    auto* preference = app.add_option("--tls-cipher-preference", flags.tls_cipher_preference,
                                      "who orders the TLS suites: server (default) or client");
    auto* x25519 = app.add_option("--tls-x25519", flags.tls_x25519,
                                  "who computes X25519: libsodium (default) or openssl");
    auto* tls13_kdf = app.add_option("--tls13-kdf", flags.tls13_kdf,
                                     "who derives TLS 1.3 keys: anyedge (default) or openssl");
    app.add_option("--admin", flags.admin, "admin listener: 127.0.0.1:PORT or unix:PATH");
    app.add_option("--admin-token-file", flags.admin_token_file, "bearer token for admin POSTs");
    app.add_option("--upload-token-file", flags.upload_token_file,
                   "origin role: accept PUT uploads of the --site tree with this bearer token");
    app.add_option("--node-name", flags.node_name, "name sent as X-Served-By");
    auto* grace = app.add_option("--skew-grace", flags.skew_grace_s,
                                 "seconds the previous generation stays servable after a switch");
    auto* threads = app.add_option("--threads", flags.threads, "worker threads (one ring each)");
    app.add_option("--access-log", flags.access_log, "access log path, '-' for stdout");
    app.add_option("--hsts", flags.hsts, "Strict-Transport-Security value on HTTPS responses");
    app.add_flag("--redirect-http", flags.redirect_http, "answer plain HTTP with 301 to HTTPS");
    // HTTP/2 and HTTP/3 are on by default, as Caddy has them; --http2 stays for old scripts.
    app.add_flag("--http2", flags.http2, "offer HTTP/2 (ALPN h2) on TLS listeners (default)");
    bool no_http2 = false;
    app.add_flag("--no-http2", no_http2, "TLS listeners offer only http/1.1");
    bool no_http3 = false;
    app.add_flag("--no-http3", no_http3, "no HTTP/3 (QUIC) on the TLS listeners' UDP ports");
    app.add_option("--quic-cid-key", flags.quic_cid_key,
                   "fleet key file (32 hex digits) for QUIC connection IDs and resets");
    auto* node_id = app.add_option("--node-id", flags.node_id,
                                   "this node's ID (0..65535), carried in QUIC connection IDs");
    app.add_option("--quic-forward-listen", flags.quic_forward_listen,
                   "ADDR:PORT on the tunnel between nodes: take QUIC packets peers forward");
    app.add_option("--quic-forward-peer", flags.quic_forward_peers,
                   "NODE_ID=ADDR:PORT: send packets of that node's QUIC connections there");
    app.add_option("--hooks-status", flags.hooks_status,
                   "cdn-hooks' status file: report stray forwarding in /status and /metrics");
    app.add_option("--acme-thumbprint", flags.acme_thumbprint,
                   "fleet ACME account's JWK thumbprint: answer HTTP-01 challenges");
    app.add_flag("--compress", flags.compress,
                 "--site: make br/gzip of text files that have no .br/.gz beside them");
    CLI11_PARSE(app, argc, argv);
    set_log_name("cdn-edge");

    if (!config_file.empty()) {
        if (auto st = server::load_config_file(config_file, cfg); !st) return fail(st.error());
    }
    // Flags override the file.
    if (!flags.site.empty()) cfg.site = flags.site;
    if (!flags.state.empty()) cfg.state = flags.state;
    if (!flags.listen.empty()) cfg.listen = flags.listen;
    if (!flags.tls_listen.empty()) cfg.tls_listen = flags.tls_listen;
    if (!flags.cert.empty()) cfg.cert = flags.cert;
    if (!flags.key.empty()) cfg.key = flags.key;
    if (!flags.ticket_keys.empty()) cfg.ticket_keys = flags.ticket_keys;
    if (preference->count() > 0) cfg.tls_cipher_preference = flags.tls_cipher_preference;
    if (x25519->count() > 0) cfg.tls_x25519 = flags.tls_x25519;
    if (tls13_kdf->count() > 0) cfg.tls13_kdf = flags.tls13_kdf;
    if (!flags.admin.empty()) cfg.admin = flags.admin;
    if (!flags.admin_token_file.empty()) cfg.admin_token_file = flags.admin_token_file;
    if (!flags.upload_token_file.empty()) cfg.upload_token_file = flags.upload_token_file;
    if (!flags.node_name.empty()) cfg.node_name = flags.node_name;
    if (!flags.access_log.empty()) cfg.access_log = flags.access_log;
    if (threads->count() > 0) cfg.threads = flags.threads;
    if (!flags.hsts.empty()) cfg.hsts = flags.hsts;
    if (grace->count() > 0) cfg.skew_grace_s = flags.skew_grace_s;
    if (flags.redirect_http) cfg.redirect_http = true;
    if (no_http2) cfg.http2 = false;
    if (no_http3) cfg.http3 = false;
    if (!flags.quic_cid_key.empty()) cfg.quic_cid_key = flags.quic_cid_key;
    if (node_id->count() > 0) cfg.node_id = flags.node_id;
    if (!flags.quic_forward_listen.empty()) cfg.quic_forward_listen = flags.quic_forward_listen;
    if (!flags.quic_forward_peers.empty()) cfg.quic_forward_peers = flags.quic_forward_peers;
    if (!flags.hooks_status.empty()) cfg.hooks_status = flags.hooks_status;
    if (flags.compress) cfg.compress = true;
    if (!flags.acme_thumbprint.empty()) cfg.acme_thumbprint = flags.acme_thumbprint;
    std::string self_signed_dir;  // removed once the certificate is loaded
    if (!cfg.tls_listen.empty() && cfg.cert.empty()) {
        // Out of the box HTTPS: a self-signed ECDSA P-256 certificate for localhost, made now.
        char tmpl[] = "/tmp/cdn-edge-selfsigned-XXXXXX";
        if (!mkdtemp(tmpl)) return fail(std::string("mkdtemp: ") + strerror(errno));
        const std::string dir = self_signed_dir = tmpl;
        const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
        const std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
        if (auto st = tls::generate_self_signed(cert, key, names); !st) return fail(st.error());
        log_line("no --cert given: using a self-signed certificate for localhost");
        cfg.cert = {cert};
        cfg.key = {key};
    }
    if (auto st = server::validate(cfg); !st) return fail(st.error());
    if (auto st = server::write_placeholder_certificates(cfg, log_line); !st) {
        return fail(st.error());
    }

    std::unique_ptr<tls::TlsContext> tls_context;
    std::unique_ptr<quic::QuicTlsStore> quic_tls;
    if (!cfg.tls_listen.empty()) {
        tls::TlsConfig tcfg;
        for (size_t i = 0; i < cfg.cert.size(); ++i) {
            tcfg.certificates.push_back({cfg.cert[i], cfg.key[i], {}});
        }
        tcfg.ticket_key_file = cfg.ticket_keys;
        tcfg.server_cipher_preference = cfg.tls_cipher_preference == "server";
        tcfg.tickets_per_handshake = static_cast<int>(cfg.tls_tickets_per_handshake);
        tcfg.session_lifetime_seconds = cfg.tls_session_lifetime_s;
        tcfg.x25519_by_libsodium = cfg.tls_x25519 == "libsodium";
        tcfg.tls13_kdf_by_anyedge = cfg.tls13_kdf == "anyedge";
        if (cfg.http2) tcfg.alpn = {"h2", "http/1.1"};
        if (!self_signed_dir.empty()) {
            tcfg.certificates.front().label = "self-signed for localhost, made at start";
        }
        if (cfg.http3) {
            // GnuTLS loads the same files for QUIC (before a self-signed key is removed).
            std::vector<quic::CertificateFiles> files;
            for (const auto& c : tcfg.certificates) files.push_back({c.cert_path, c.key_path});
            auto q = server::load_quic_tls(files, cfg.ticket_keys);
            if (!q) {
                if (!self_signed_dir.empty()) std::filesystem::remove_all(self_signed_dir);
                return fail(q.error());
            }
            quic_tls = std::make_unique<quic::QuicTlsStore>(std::move(*q));
        }
        auto ctx = tls::TlsContext::create(std::move(tcfg));
        // The throwaway key is in the SSL_CTX now: leave no copy on disk.
        if (!self_signed_dir.empty()) std::filesystem::remove_all(self_signed_dir);
        if (!ctx) return fail(ctx.error());
        tls_context = std::move(*ctx);
    }

    // Block the stop signals in every thread; the main thread waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    cache::SnapshotOptions snap_opts;
    snap_opts.node_name = cfg.node_name;
    snap_opts.extra_headers = cfg.headers;
    snap_opts.cache_rules = cfg.cache_rules;
    snap_opts.mmap_threshold = cfg.mmap_threshold;

    server::SharedState shared;
    // Certificates (renewed in place) and ticket keys (rotated on every node together) are
    // re-read on SIGHUP and with every reload. The self-signed certificate has no files.
    server::SiteReload site(cfg, snap_opts, shared, tls_context.get(), self_signed_dir.empty(),
                            quic_tls.get());
    if (auto st = site.load_initial(); !st) return fail(st.error());

    std::vector<std::vector<server::ListenerSocket>> per_worker(cfg.threads);
    std::vector<int> public_listeners;  // every HTTP, TLS and QUIC socket: the SYN hold
    for (const auto& text : cfg.listen) {
        auto addr = server::parse_listen_address(text);
        if (!addr) return fail(addr.error());
        auto fds = server::open_listeners(*addr, cfg.threads, 4096, int(cfg.send_buffer));
        if (!fds) return fail(fds.error());
        for (unsigned i = 0; i < cfg.threads; ++i) {
            per_worker[i].push_back({(*fds)[i], false, nullptr});
        }
        public_listeners.insert(public_listeners.end(), fds->begin(), fds->end());
        std::cout << "listening http " << addr->to_string() << std::endl;
    }
    uint16_t https_port = 0;
    int alt_svc_port = 0;  // the port every TLS listener shares, -1 when they differ
    for (const auto& text : cfg.tls_listen) {
        auto addr = server::parse_listen_address(text);
        if (!addr) return fail(addr.error());
        auto fds =
            server::open_tls_listeners(*addr, cfg.threads, 4096, int(cfg.send_buffer), cfg.http3);
        if (!fds) return fail(fds.error());
        for (unsigned i = 0; i < cfg.threads; ++i) {
            per_worker[i].push_back({fds->tcp[i], true, nullptr});
        }
        public_listeners.insert(public_listeners.end(), fds->tcp.begin(), fds->tcp.end());
        if (https_port == 0) https_port = addr->port;
        std::cout << "listening https " << addr->to_string() << std::endl;
        if (!cfg.http3) continue;
        // The UDP side of the same address and port, one SO_REUSEPORT socket per worker.
        for (unsigned i = 0; i < cfg.threads; ++i) {
            per_worker[i].push_back({fds->udp[i], true, nullptr, true});
        }
        public_listeners.insert(public_listeners.end(), fds->udp.begin(), fds->udp.end());
        if (alt_svc_port == 0) alt_svc_port = addr->port;
        if (alt_svc_port != addr->port) alt_svc_port = -1;  // several ports: say nothing
        std::cout << "listening h3 " << addr->to_string() << std::endl;
    }
    std::optional<quic::ConnectionIds> quic_ids;
    if (cfg.http3 && !cfg.tls_listen.empty()) {
        Result<quic::ConnectionIds> ids = make_error("unset");
        if (cfg.quic_cid_key.empty()) {
            ids = quic::ConnectionIds::with_random_key(uint16_t(cfg.node_id));
        } else {
            auto key = quic::ConnectionIds::read_key_file(cfg.quic_cid_key);
            if (!key) return fail(key.error());
            ids = quic::ConnectionIds::create(*key, uint16_t(cfg.node_id));
            sodium_memzero(key->data(), key->size());
        }
        if (!ids) return fail(ids.error());
        quic_ids.emplace(std::move(*ids));
    }
    // Packets of other nodes' QUIC connections (the route moved) go to their owners; this
    // node takes its own on the forward address, one SO_REUSEPORT socket per worker, steered
    // to the worker its connection ID names as on the public port.
    quic::PeerAddresses forward_peers;
    if (quic_ids && !cfg.quic_forward_listen.empty()) {
        auto peers = server::parse_forward_peers(cfg.quic_forward_peers, uint16_t(cfg.node_id));
        if (!peers) return fail(peers.error());
        forward_peers = std::move(*peers);
        auto addr = server::parse_listen_address(cfg.quic_forward_listen);
        if (!addr || addr->port == 0) {
            return fail("quic_forward_listen: " +
                        (addr ? std::string("needs a port") : addr.error()));
        }
        if (auto held = server::refuse_if_port_held(addr->addr, addr->addr_len, SOCK_DGRAM);
            !held) {
            return fail("quic_forward_listen: " + held.error());
        }
        for (unsigned i = 0; i < cfg.threads; ++i) {
            auto fd = quic::open_udp_socket(addr->addr, addr->addr_len);
            if (!fd) return fail("quic_forward_listen " + addr->to_string() + ": " + fd.error());
            if (i == 0) {
                if (auto st = quic::steer_to_owning_worker(*fd); !st) return fail(st.error());
            }
            server::ListenerSocket l{*fd, false, nullptr, true};
            l.forward = true;
            per_worker[i].push_back(l);
        }
        std::cout << "listening quic-forward " << addr->to_string() << std::endl;
    }

    server::WorkerOptions wopts;
    wopts.connection.session.parser.max_header_bytes = cfg.max_header_bytes;
    wopts.connection.session.parser.max_target_bytes = cfg.max_target_bytes;
    wopts.connection.session.parser.max_field_bytes = cfg.max_field_bytes;
    wopts.connection.session.max_requests_per_connection = cfg.max_requests_per_connection;
    wopts.max_connections = std::max(1u, cfg.max_connections / cfg.threads);
    wopts.connection.header_timeout_ms = cfg.header_timeout_ms;
    wopts.connection.idle_timeout_ms = cfg.idle_timeout_ms;
    wopts.connection.send_timeout_ms = cfg.send_timeout_ms;
    wopts.stop_timeout_ms = cfg.stop_timeout_ms;
    wopts.tls = tls_context.get();
    if (!cfg.access_log.empty()) {
        wopts.access_log_fd =
            cfg.access_log == "-"
                ? dup(1)
                : open(cfg.access_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (wopts.access_log_fd < 0) {
            return fail("access log " + cfg.access_log + ": " + strerror(errno));
        }
    }
    if (!cfg.hsts.empty())
        wopts.connection.tls_extra_headers =
            http::HeaderLines("Strict-Transport-Security: " + cfg.hsts + "\r\n");
    wopts.quic_tls = quic_tls.get();
    wopts.quic_ids = quic_ids ? &*quic_ids : nullptr;
    wopts.quic_peers = &forward_peers;
    wopts.h3.idle_timeout_ms = cfg.idle_timeout_ms;
    wopts.h3.handshake_timeout_ms = cfg.header_timeout_ms;
    wopts.h3.header_timeout_ms = cfg.header_timeout_ms;
    wopts.h3.max_field_section = cfg.max_header_bytes;
    wopts.h3.retry_above_per_s = cfg.quic_retry_above_per_s;
    // HTTP/3's own responses say nothing of Alt-Svc; TCP's advertise it (RFC 7838).
    std::string alt_svc;
    if (quic_ids && alt_svc_port > 0) {
        alt_svc = "Alt-Svc: h3=\":" + std::to_string(alt_svc_port) +
                  "\"; ma=" + std::to_string(cfg.alt_svc_max_age_s) + "\r\n";
        wopts.connection.tls_extra_headers_alt_svc =
            http::HeaderLines(wopts.connection.tls_extra_headers.text + alt_svc);
    }
    if (cfg.redirect_http) wopts.connection.redirect_https_port = https_port;
    wopts.connection.acme_thumbprint = cfg.acme_thumbprint;

    std::function<Result<uint64_t>()> reload = [&site] { return site.reload(); };
    // The origin role: the site listeners also take the publisher's uploads.
    std::unique_ptr<server::OriginUpload> origin_upload;
    if (!cfg.upload_token_file.empty()) {
        auto token = read_token_file(cfg.upload_token_file);
        if (!token) return fail("upload_token_file: " + token.error());
        origin_upload = std::make_unique<server::OriginUpload>(cfg.site, *token, reload);
        for (auto& listeners : per_worker) {
            for (auto& l : listeners) l.handler = origin_upload.get();
        }
        wopts.connection.session.parser.max_body_bytes = 512ull << 20;  // a blob is one PUT body
        log_line("origin role: accepting uploads into " + cfg.site);
    }
    std::vector<std::unique_ptr<server::Worker>> workers;
    std::vector<std::thread> threads_run;
    std::atomic<int> failed{0};
    for (unsigned i = 0; i < cfg.threads; ++i) {
        workers.push_back(
            std::make_unique<server::Worker>(i, std::move(per_worker[i]), wopts, shared));
    }

    // The admin API runs on a worker of its own: a reload (disk reads, hashing) never blocks
    // the workers that serve the site.
    std::unique_ptr<server::AdminApi> admin_api;
    if (!cfg.admin.empty()) {
        auto admin = server::open_admin_listener(cfg.admin);
        if (!admin) return fail(admin.error());
        if (!admin->is_unix) std::cout << "listening admin " << admin->address << std::endl;
        server::AdminOptions aopts;
        aopts.node_name = cfg.node_name;
        aopts.state_dir = cfg.state;
        aopts.hooks_status = cfg.hooks_status;
        if (!cfg.admin_token_file.empty()) {
            auto token = read_token_file(cfg.admin_token_file);
            if (!token) return fail("admin_token_file: " + token.error());
            aopts.token = *token;
        } else if (!admin->is_unix) {
            log_line("warning: TCP admin listener without --admin-token-file");
        }
        aopts.reload = reload;
        aopts.tls = tls_context.get();
        aopts.public_listeners = public_listeners;
        for (const auto& [node, addr] : forward_peers) aopts.quic_peers.push_back(node);
        std::vector<const server::WorkerCounters*> counters;
        for (auto& w : workers) counters.push_back(&w->counters());
        admin_api = std::make_unique<server::AdminApi>(std::move(aopts), shared, counters);
        server::WorkerOptions admin_opts = wopts;
        admin_opts.max_connections = 64;
        admin_opts.recv_buffers = 64;
        admin_opts.ring_entries = 256;
        admin_opts.tls = nullptr;
        admin_opts.connection.redirect_https_port = 0;
        admin_opts.access_log_fd = -1;
        workers.push_back(std::make_unique<server::Worker>(
            cfg.threads, std::vector<server::ListenerSocket>{{admin->fd, false, admin_api.get()}},
            admin_opts, shared));
    }
    for (unsigned i = 0; i < workers.size(); ++i) {
        threads_run.emplace_back([&, i] {
            const std::string err = workers[i]->run();
            if (!err.empty()) {
                log_line("worker " + std::to_string(i) + ": " + err);
                failed = 1;
                shared.stopping = true;
                kill(getpid(), SIGTERM);  // wake the main thread's sigwait
            }
        });
    }

    int sig = 0;
    for (;;) {
        sigwait(&stop_signals, &sig);
        if (sig != SIGHUP) break;
        site.reload_tls("SIGHUP");
    }
    if (!failed) log_line("signal " + std::to_string(sig) + ", finishing in-flight responses");
    shared.stopping = true;
    for (auto& t : threads_run) t.join();
    return failed ? 1 : 0;
}
