#include "origin-sync/cdnctl/acme_commands.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "origin-sync/acme/acme_client.h"
#include "origin-sync/acme/issuer.h"
#include "origin-sync/acme/node_key.h"
#include "origin-sync/base/clock.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/log_line.h"
#include "origin-sync/cdnctl/http_origin.h"

namespace anyedge::cdnctl {

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

int fail(const std::string& message) {
    std::cerr << "cdnctl acme: " << message << "\n";
    return 1;
}

Result<std::unique_ptr<publish::Origin>> open_issuer_origin(const acme::IssuerConfig& c) {
    if (c.origin.starts_with("http://") || c.origin.starts_with("https://")) {
        auto url = net::parse_url(c.origin);
        if (!url) return url.forward_error();
        std::string token;
        if (!c.origin_token_file.empty()) {
            auto t = read_token_file(c.origin_token_file);
            if (!t) return t.forward_error();
            token = *t;
        }
        return std::unique_ptr<publish::Origin>(
            std::make_unique<HttpOrigin>(*url, c.origin_ca_file, std::chrono::seconds(30), token));
    }
    return std::unique_ptr<publish::Origin>(std::make_unique<publish::LocalOrigin>(c.origin));
}

void print_outcome(const acme::IssueOutcome& o) {
    if (o.issued) {
        std::printf("issued certificate %s (valid until %lld) and published it to the fleet\n",
                    o.serial.c_str(), static_cast<long long>(o.not_after));
    } else {
        std::printf("not due: %s\n", o.why.c_str());
    }
    std::fflush(stdout);
}

}  // namespace

AcmeCommands::AcmeCommands(CLI::App& app) {
    acme_ = app.add_subcommand("acme", "the fleet's certificates from an ACME CA (RFC 8555)");
    acme_->require_subcommand(1);
    thumbprint_ = acme_->add_subcommand(
        "thumbprint", "make the account key if absent; print the thumbprint the nodes answer with");
    thumbprint_->add_option("--account-key", account_key_, "ES256 account key PEM")->required();
    node_key_ = acme_->add_subcommand(
        "node-key", "make this node's sealing key if absent; print its public half");
    node_key_->add_option("--key", node_key_file_, "the node's secret key file (0600)")->required();
    account_ = acme_->add_subcommand("account", "register or find the account at the CA");
    account_->add_option("--config", config_, "issuer config JSON")->required();
    issue_ = acme_->add_subcommand("issue", "issue a certificate when due and publish it");
    issue_->add_option("--config", config_, "issuer config JSON")->required();
    issue_->add_flag("--force", force_, "issue now even when the certificate is not due");
    run_ = acme_->add_subcommand("run", "issue whenever due, until SIGINT or SIGTERM");
    run_->add_option("--config", config_, "issuer config JSON")->required();
}

bool AcmeCommands::parsed() const { return acme_->parsed(); }

int AcmeCommands::run() {
    if (thumbprint_->parsed()) {
        auto key = acme::AccountKey::load_or_create(account_key_);
        if (!key) return fail(key.error());
        std::printf("%s\n", key->thumbprint().c_str());
        return 0;
    }
    if (node_key_->parsed()) {
        auto key = acme::NodeKey::load_or_create(node_key_file_);
        if (!key) return fail(key.error());
        std::printf("%s\n", key->public_base64().c_str());
        return 0;
    }
    auto config = acme::load_issuer_config(config_);
    if (!config) return fail(config.error());
    if (account_->parsed()) {
        auto key = acme::AccountKey::load_or_create(config->account_key);
        if (!key) return fail(key.error());
        acme::AcmeClientOptions o;
        o.directory_url = config->directory;
        o.ca_file = config->ca_file;
        o.timeout = std::chrono::milliseconds(config->timeout_ms);
        acme::AcmeClient client(o, *key);
        auto kid = client.account(config->contact);
        if (!kid) return fail(kid.error());
        std::printf("account %s\nthumbprint %s\n", kid->c_str(), key->thumbprint().c_str());
        return 0;
    }
    auto origin = open_issuer_origin(*config);
    if (!origin) return fail(origin.error());
    set_log_name("cdnctl acme");
    if (issue_->parsed()) {
        auto out = acme::issue_once(*config, **origin, force_, log_line);
        if (!out) return fail("issuance failed (the nodes keep their certificate): " + out.error());
        print_outcome(*out);
        return 0;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    log_line("issuer for " + config->origin + " started");
    while (!g_stop.load()) {
        int64_t next = unix_now() + config->retry_min_s;
        auto out = acme::issue_once(*config, **origin, false, log_line);
        if (out) {
            log_line(out->issued ? "issued " + out->serial : "not due: " + out->why);
            next = out->next_check;
        } else {
            log_line("issuance failed (the nodes keep their certificate): " + out.error());
        }
        // Sleep until the next check in one-second steps, so that a signal ends it promptly.
        while (!g_stop.load() && unix_now() < next)
            std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    log_line("issuer stopped");
    return 0;
}

}  // namespace anyedge::cdnctl
