// cdnctl: the author's and operator's CLI for the content plane.
//   cdnctl keygen --out DIR
//   cdnctl publish DIR --origin ORIGIN --key KEY [--expires 7d] [--wait --nodes URL,...]
//   cdnctl rollback [--to N] --origin ORIGIN --key KEY
//   cdnctl status --nodes URL,...
//   cdnctl drain --node ADMIN_URL [--token-file F] [--timeout S]
//   cdnctl undrain --node ADMIN_URL [--token-file F]
//   cdnctl acme thumbprint|node-key|account|issue|run ...   (see cdnctl/acme_commands.h)
// ORIGIN is a local directory or an http(s):// URL of an origin accepting PUT uploads.
// Exit status: 0 success; 1 refused or failed (publish refused, fleet not converged, not
// drained within --timeout: the message says why); `status`: 2 when a node is down or
// unhealthy, 3 when a node's cdn-sync reports an error or stale content, or a certificate or
// issuance error.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "origin-sync/base/file_io.h"
#include "origin-sync/cdnctl/acme_commands.h"
#include "origin-sync/cdnctl/http_origin.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/content/store.h"
#include "origin-sync/publish/publish.h"
#include "origin-sync/replicate/fleet_status.h"
#include "origin-sync/replicate/node_drain.h"

namespace {

using namespace anyedge;
using Clock = std::chrono::steady_clock;

int fail(const std::string& message) {
    std::cerr << "cdnctl: " << message << "\n";
    return 1;
}

std::string human_bytes(uint64_t n) {
    char buf[32];
    if (n >= (1u << 20)) {
        std::snprintf(buf, sizeof buf, "%.1f MB", n / 1048576.0);
    } else if (n >= 1024) {
        std::snprintf(buf, sizeof buf, "%.1f kB", n / 1024.0);
    } else {
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
    }
    return buf;
}

// Renders publish progress: a redrawn bar on a terminal, a few plain lines otherwise.
class ProgressView {
  public:
    ProgressView() : tty_(::isatty(STDERR_FILENO) == 1) {}
    void operator()(const publish::Progress& p) {
        using Phase = publish::Progress::Phase;
        if (p.phase == Phase::kHashing) {
            if (tty_) {
                int width = 30;
                int filled =
                    p.files_total ? static_cast<int>(width * p.files_done / p.files_total) : width;
                std::string item =
                    p.item.size() > 40 ? "..." + p.item.substr(p.item.size() - 37) : p.item;
                std::fprintf(stderr, "\r\033[K[%s%s] %llu/%llu files, %s uploaded  %s",
                             std::string(filled, '#').c_str(),
                             std::string(width - filled, ' ').c_str(),
                             static_cast<unsigned long long>(p.files_done),
                             static_cast<unsigned long long>(p.files_total),
                             human_bytes(p.bytes_uploaded).c_str(), item.c_str());
            } else {
                uint64_t step = std::max<uint64_t>(1, p.files_total / 10);
                if (p.files_done % step == 0 || p.files_done == p.files_total) {
                    if (p.files_done != last_) {
                        std::fprintf(stderr, "hashed %llu/%llu files, %s uploaded\n",
                                     static_cast<unsigned long long>(p.files_done),
                                     static_cast<unsigned long long>(p.files_total),
                                     human_bytes(p.bytes_uploaded).c_str());
                    }
                    last_ = p.files_done;
                }
            }
        } else {
            if (tty_) std::fprintf(stderr, "\n");
            std::fprintf(stderr, "%s\n",
                         p.phase == Phase::kStaging
                             ? ("staging: wrote " + p.item + " and next").c_str()
                             : "committing: writing current");
        }
    }

  private:
    bool tty_;
    uint64_t last_ = UINT64_MAX;
};

Result<std::unique_ptr<publish::Origin>> open_origin(const std::string& spec,
                                                     const std::string& token_file,
                                                     const std::string& ca_file) {
    if (spec.starts_with("http://") || spec.starts_with("https://")) {
        auto url = net::parse_url(spec);
        if (!url) return url.forward_error();
        std::string token;
        if (!token_file.empty()) {
            auto t = read_token_file(token_file);
            if (!t) return t.forward_error();
            token = *t;
        }
        return std::unique_ptr<publish::Origin>(
            std::make_unique<cdnctl::HttpOrigin>(*url, ca_file, std::chrono::seconds(30), token));
    }
    return std::unique_ptr<publish::Origin>(std::make_unique<publish::LocalOrigin>(spec));
}

std::vector<std::string> split_nodes(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos) comma = s.size();
        if (comma > start) out.push_back(s.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

int wait_fleet(const std::vector<std::string>& nodes, uint64_t generation, int timeout_s) {
    bool tty = ::isatty(STDERR_FILENO) == 1;
    size_t last_live = SIZE_MAX;
    auto w = replicate::wait_for_generation(
        nodes, generation, std::chrono::seconds(timeout_s), std::chrono::milliseconds(200),
        [&](size_t live, size_t total) {
            if (tty) {
                std::fprintf(stderr, "\r\033[Kwaiting: %zu/%zu nodes on generation %llu", live,
                             total, static_cast<unsigned long long>(generation));
            } else if (live != last_live) {
                std::fprintf(stderr, "waiting: %zu/%zu nodes on generation %llu\n", live, total,
                             static_cast<unsigned long long>(generation));
            }
            last_live = live;
        });
    if (tty) std::fprintf(stderr, "\n");
    double secs = static_cast<double>(w.elapsed.count()) / 1000.0;
    if (w.converged) {
        std::printf("all %zu nodes live on generation %llu %.1fs after current moved\n",
                    nodes.size(), static_cast<unsigned long long>(generation), secs);
        return 0;
    }
    std::string list;
    for (const auto& l : w.laggards) list += (list.empty() ? "" : ", ") + l;
    std::cerr << replicate::format_status_table(
        replicate::fetch_fleet_status(w.laggards, std::chrono::seconds(2)));
    return fail("not every node reached generation " + std::to_string(generation) + " after " +
                std::to_string(timeout_s) + "s: " + list);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"cdnctl: publish a static site to an anyedge origin and watch the fleet"};
    app.require_subcommand(1);

    std::string out_dir;
    auto* keygen = app.add_subcommand("keygen", "make an Ed25519 key pair (private.pem 0600)");
    keygen->add_option("--out", out_dir, "directory for private.pem and public.pem")->required();

    std::string site, origin_spec, key_file, pubkey_file, nodes_csv, token_file, ca_file;
    int64_t expires_s = 7 * 24 * 3600, stage_s = 0;
    int wait_timeout_s = 60;
    bool wait = false;
    auto* pub = app.add_subcommand("publish", "publish DIR as a new generation");
    pub->add_option("dir", site, "the built site")->required();
    pub->add_option("--origin", origin_spec, "origin directory or http(s):// URL")->required();
    pub->add_option("--key", key_file, "Ed25519 private key PEM")->required();
    pub->add_option("--pubkey", pubkey_file, "refuse unless the key matches this public key");
    pub->add_option("--expires", expires_s, "seconds the signed `current` stays fresh");
    pub->add_option("--stage-seconds", stage_s,
                    "pause between staging (manifest + next) and flipping (current)");
    pub->add_flag("--wait", wait, "wait until every node in --nodes serves the new generation");
    pub->add_option("--nodes", nodes_csv, "edge admin URLs, comma-separated");
    pub->add_option("--wait-timeout", wait_timeout_s, "seconds to wait for the fleet");
    pub->add_option("--token-file", token_file, "bearer token for an upload origin");
    pub->add_option("--ca", ca_file, "CA bundle for an https origin");

    std::optional<uint64_t> to;
    auto* rb = app.add_subcommand("rollback", "publish an earlier manifest as a new generation");
    rb->add_option("--to", to, "generation to go back to (default: the live one's parent)");
    rb->add_option("--origin", origin_spec, "origin directory or http(s):// URL")->required();
    rb->add_option("--key", key_file, "Ed25519 private key PEM")->required();
    rb->add_option("--expires", expires_s, "seconds the signed `current` stays fresh");
    rb->add_option("--token-file", token_file, "bearer token for an upload origin");
    rb->add_option("--ca", ca_file, "CA bundle for an https origin");
    rb->add_flag("--wait", wait, "wait until every node in --nodes serves the new generation");
    rb->add_option("--nodes", nodes_csv, "edge admin URLs, comma-separated");
    rb->add_option("--wait-timeout", wait_timeout_s, "seconds to wait for the fleet");

    auto* st = app.add_subcommand("status", "print each node's generation, age and health");
    st->add_option("--nodes", nodes_csv, "edge admin URLs, comma-separated")->required();

    std::string admin_node;
    int drain_timeout_s = 60;
    auto* dr = app.add_subcommand(
        "drain", "make an edge close keep-alive connections and wait until nothing is in flight");
    dr->add_option("--node", admin_node, "the edge's admin URL")->required();
    dr->add_option("--token-file", token_file, "bearer token for the admin POSTs");
    dr->add_option("--timeout", drain_timeout_s, "seconds to wait for `drained`");
    auto* udr = app.add_subcommand("undrain", "let a drained edge keep connections open again");
    udr->add_option("--node", admin_node, "the edge's admin URL")->required();
    udr->add_option("--token-file", token_file, "bearer token for the admin POSTs");

    cdnctl::AcmeCommands acme(app);

    CLI11_PARSE(app, argc, argv);

    if (acme.parsed()) return acme.run();

    if (dr->parsed() || udr->parsed()) {
        replicate::DrainOptions o;
        o.admin_url = admin_node;
        o.token_file = token_file;
        o.timeout = std::chrono::seconds(drain_timeout_s);
        if (udr->parsed()) {
            auto state = replicate::undrain_node(o);
            if (!state) return fail("undrain " + admin_node + ": " + state.error());
            std::printf("%s: %s\n", admin_node.c_str(), state->c_str());
            return 0;
        }
        std::string last;
        auto out = replicate::drain_node(o, [&](const replicate::DrainStatus& s) {
            char line[256];
            std::snprintf(
                line, sizeof line, "%s: %s, in_flight %llu, open %llu, last_accept_age_ms %lld\n",
                admin_node.c_str(), s.state.c_str(), static_cast<unsigned long long>(s.in_flight),
                static_cast<unsigned long long>(s.open_connections),
                static_cast<long long>(s.last_accept_age_ms));
            if (line != last) std::fputs(line, stderr);  // only changes: no line per poll
            last = line;
        });
        if (!out) return fail("drain " + admin_node + ": " + out.error());
        double secs = static_cast<double>(out->elapsed.count()) / 1000.0;
        if (!out->drained) {
            return fail("drain " + admin_node + ": not drained after " +
                        std::to_string(drain_timeout_s) + "s: " + out->why_not +
                        " (the edge keeps draining; `cdnctl undrain` to cancel)");
        }
        std::printf("%s: drained after %.1fs\n", admin_node.c_str(), secs);
        return 0;
    }

    if (keygen->parsed()) {
        if (Status s = write_keypair(out_dir); !s) return fail(s.error());
        std::printf("wrote %s/private.pem (keep it secret) and %s/public.pem\n", out_dir.c_str(),
                    out_dir.c_str());
        return 0;
    }
    if (st->parsed()) {
        auto fleet = replicate::fetch_fleet_status(split_nodes(nodes_csv), std::chrono::seconds(3));
        std::cout << replicate::format_status_table(fleet);
        // 2: a node is down or unhealthy; 3: a node's cdn-sync reports an error or staleness,
        // a certificate error, or its stray forwarding is down (the node serves regardless).
        int code = 0;
        for (const auto& n : fleet) {
            if (!n.reachable || !n.healthy) code = 2;
            if (code == 0 && n.has_sync && (n.sync_state != "ok" || n.stale)) code = 3;
            if (code == 0 && (!n.cert_error.empty() || !n.issuer_error.empty())) code = 3;
            if (code == 0 && replicate::forwarding_failing(n)) code = 3;
        }
        return code;
    }

    std::vector<std::string> nodes = split_nodes(nodes_csv);
    if (wait && nodes.empty()) return fail("--wait needs --nodes");
    auto key = SigningKey::load(key_file);
    if (!key) return fail(key.error());
    auto origin = open_origin(origin_spec, token_file, ca_file);
    if (!origin) return fail(origin.error());

    Result<publish::PublishReport> report = make_error("no command");
    if (pub->parsed()) {
        publish::PublishOptions o;
        o.site_dir = site;
        o.expires_seconds = expires_s;
        o.stage_seconds = stage_s;
        if (!pubkey_file.empty()) {
            auto pk = VerifyKey::load(pubkey_file);
            if (!pk) return fail(pk.error());
            o.expected_public_key = *pk;
        }
        o.progress = ProgressView();
        if (wait) {
            // Two-phase across the fleet: `current` moves once every node has staged the new
            // generation (or the wait times out: then the stragglers fetch after the flip).
            o.wait_staged = [&nodes, wait_timeout_s](uint64_t generation) {
                std::fprintf(stderr, "staging generation %llu on %zu nodes\n",
                             static_cast<unsigned long long>(generation), nodes.size());
                auto staged = replicate::wait_for_nodes(
                    nodes,
                    [generation](const replicate::NodeStatus& n) {
                        return n.reachable &&
                               (n.generation >= generation || n.staged_generation >= generation);
                    },
                    std::chrono::seconds(wait_timeout_s), std::chrono::milliseconds(200),
                    [](size_t done, size_t total) {
                        std::fprintf(stderr, "\rstaged %zu/%zu nodes", done, total);
                    });
                std::fprintf(stderr, "\n");
                if (staged.converged) {
                    std::fprintf(stderr, "every node staged generation %llu in %.1fs\n",
                                 static_cast<unsigned long long>(generation),
                                 staged.elapsed.count() / 1000.0);
                } else {
                    std::string names;
                    for (const auto& l : staged.laggards) names += " " + l;
                    std::fprintf(stderr, "warning: not staged in time:%s (flipping anyway)\n",
                                 names.c_str());
                }
            };
        }
        report = publish::publish_site(o, *key, **origin);
        if (!report) return fail("publish refused: " + report.error());
        std::printf(
            "published generation %llu (parent %llu): %llu files, uploaded %llu blobs "
            "(%s), %llu already at the origin\n",
            static_cast<unsigned long long>(report->generation),
            static_cast<unsigned long long>(report->parent),
            static_cast<unsigned long long>(report->files),
            static_cast<unsigned long long>(report->blobs_uploaded),
            human_bytes(report->bytes_uploaded).c_str(),
            static_cast<unsigned long long>(report->blobs_present));
    } else {
        publish::RollbackOptions o;
        o.to = to;
        o.expires_seconds = expires_s;
        report = publish::rollback(o, *key, **origin);
        if (!report) return fail("rollback refused: " + report.error());
        std::printf(
            "rolled back: generation %llu now serves the files of an earlier one "
            "(parent %llu)\n",
            static_cast<unsigned long long>(report->generation),
            static_cast<unsigned long long>(report->parent));
    }
    std::fflush(stdout);
    if (wait) return wait_fleet(nodes, report->generation, wait_timeout_s);
    return 0;
}
