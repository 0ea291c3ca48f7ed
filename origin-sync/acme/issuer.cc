#include "origin-sync/acme/issuer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "origin-sync/acme/acme_client.h"
#include "origin-sync/acme/certificate_key.h"
#include "origin-sync/acme/certificate_order.h"
#include "origin-sync/acme/node_key.h"
#include "origin-sync/base/clock.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"
#include "origin-sync/content/signing.h"

namespace anyedge::acme {

namespace {

// A signed document at the origin: nullopt when absent; an error when its signature is bad.
Result<std::optional<std::string>> get_signed(publish::Origin& origin, const std::string& rel,
                                              const VerifyKey& key) {
    auto doc = origin.get(rel);
    if (!doc) return doc.forward_error();
    if (!doc->has_value()) return std::optional<std::string>();
    auto sig = origin.get(rel + ".sig");
    if (!sig) return sig.forward_error();
    if (!sig->has_value()) return make_error(rel + " has no signature");
    if (Status s = key.verify(**doc, **sig); !s) return make_error(rel + ": " + s.error());
    return doc;
}

Status put_signed(publish::Origin& origin, const std::string& rel, const std::string& bytes,
                  const SigningKey& key) {
    auto sig = key.sign(bytes);
    if (!sig) return sig.forward_error();
    // The document first: a node that reads between the two writes sees a signature mismatch
    // and tries again at its next poll.
    if (Status s = origin.put(rel, bytes); !s) return s;
    return origin.put(rel + ".sig", *sig);
}

struct Issued {
    CertBundle bundle;
};

Result<Issued> issue(const IssuerConfig& config, const IssuerLog& log) {
    auto account_key = AccountKey::load_or_create(config.account_key);
    if (!account_key) return account_key.forward_error("account key: ");
    AcmeClientOptions co;
    co.directory_url = config.directory;
    co.ca_file = config.ca_file;
    co.timeout = std::chrono::milliseconds(config.timeout_ms);
    AcmeClient client(co, *account_key);
    if (Status s = client.load_directory(); !s) return s.forward_error();
    auto kid = client.account(config.contact);
    if (!kid) return kid.forward_error();

    // The key is sealed to every node at once and wiped before the CA is contacted.
    auto key = CertificateKey::generate(config.names);
    if (!key) return key.forward_error();
    CertBundle b;
    for (const auto& [node, pub] : config.nodes) {
        auto sealed = seal_to_node(pub, key->private_pem());
        if (!sealed) return sealed.forward_error("node " + node + ": ");
        b.sealed_keys[node] = std::move(*sealed);
    }
    key->forget_private_key();

    OrderOptions oo;
    oo.names = config.names;
    oo.preflight = config.preflight;
    oo.challenge_port = config.challenge_port;
    oo.poll_limit = std::chrono::seconds(config.poll_limit_s);
    oo.log = log;
    auto chain = order_certificate(client, key->csr_der(), oo);
    if (!chain) return chain.forward_error();
    auto leaf = read_leaf(*chain);
    if (!leaf) return leaf.forward_error("issued certificate: ");
    if (leaf->public_pem != key->public_pem()) {
        return make_error("issued certificate: its public key is not the one in the CSR");
    }
    b.names = config.names;
    b.serial = leaf->serial_hex;
    b.not_before = leaf->not_before;
    b.not_after = leaf->not_after;
    b.issued = unix_now();
    b.chain_pem = std::move(*chain);
    return Issued{std::move(b)};
}

}  // namespace

Result<IssuerConfig> load_issuer_config(const std::filesystem::path& file) {
    auto text = read_file(file, 1 << 20);
    if (!text) return text.forward_error();
    auto cfg = read_json_object(*text, "", [](JsonObject& o) {
        IssuerConfig c;
        c.directory = o.str("directory");
        c.ca_file = o.str("ca_file", "");
        c.account_key = o.str("account_key");
        c.contact = o.strings("contact");
        c.names = o.strings("names");
        if (c.names.empty()) o.fail("names", "at least one name");
        JsonObject nodes = o.object("nodes");
        for (const auto& name : nodes.keys()) {
            std::string pub = nodes.str(name);
            if (!is_node_public_key(pub)) {
                nodes.fail(name, "not a node public key (`cdnctl acme node-key` prints it)");
            }
            c.nodes[name] = std::move(pub);
        }
        nodes.finish();
        if (c.nodes.empty()) o.fail("nodes", "at least one node");
        c.origin = o.str("origin");
        c.origin_token_file = o.str("origin_token_file", "");
        c.origin_ca_file = o.str("origin_ca_file", "");
        c.signing_key = o.str("signing_key");
        const int64_t renew_permille = o.integer("renew_at_permille", 667, 100, 950);
        c.renew_at = static_cast<double>(renew_permille) / 1000.0;
        c.preflight = o.boolean("preflight", true);
        c.challenge_port = std::to_string(o.integer("challenge_port", 80, 1, 65535));
        c.retry_min_s = o.integer("retry_min_s", 60, 1, 86400);
        c.retry_max_s = o.integer("retry_max_s", 6 * 3600, c.retry_min_s, 7 * 86400);
        c.check_interval_s = o.integer("check_interval_s", 3600, 1, 86400);
        c.poll_limit_s = o.integer("poll_limit_s", 120, 5, 3600);
        c.timeout_ms = o.integer("timeout_ms", 30000, 100, 600000);
        o.finish();
        return c;
    });
    if (!cfg) return cfg.forward_error(file.string() + ": ");
    return cfg;
}

Decision renewal_decision(const IssuerConfig& config, const CertBundle* bundle, int64_t now) {
    if (bundle == nullptr) return {true, "no certificate has been issued yet", 0};
    if (bundle->names != config.names) return {true, "the configured names changed", 0};
    for (const auto& [node, pub] : config.nodes) {
        if (!bundle->sealed_keys.contains(node)) {
            return {true, "node " + node + " has no sealed key (it joined the fleet)", 0};
        }
    }
    const int64_t lifetime = std::max<int64_t>(bundle->not_after - bundle->not_before, 0);
    const int64_t renew_time =
        bundle->not_before + static_cast<int64_t>(std::floor(lifetime * config.renew_at));
    if (now >= renew_time) {
        return {true,
                "renewal time reached (" + std::to_string(config.renew_at) +
                    " of the certificate's lifetime)",
                renew_time};
    }
    return {false,
            "valid until " + std::to_string(bundle->not_after) + ", renews at " +
                std::to_string(renew_time),
            renew_time};
}

int64_t retry_delay_s(const IssuerConfig& config, int failures) {
    int64_t d = config.retry_min_s;
    for (int i = 1; i < failures && d < config.retry_max_s; ++i) d *= 2;
    return std::min(d, config.retry_max_s);
}

Result<IssueOutcome> issue_once(const IssuerConfig& config, publish::Origin& origin, bool force,
                                const IssuerLog& log) {
    auto signer = SigningKey::load(config.signing_key);
    if (!signer) return signer.forward_error("signing key: ");
    const VerifyKey verify = signer->public_key();
    const int64_t now = unix_now();

    auto current = get_signed(origin, kBundlePath, verify);
    if (!current) return current.forward_error("reading the published bundle: ");
    std::optional<CertBundle> bundle;
    if (current->has_value()) {
        auto b = decode_bundle(**current);
        if (!b) return b.forward_error("the published bundle: ");
        bundle = std::move(*b);
    }
    IssuerStatus status;
    if (auto prev = get_signed(origin, kIssuerStatusPath, verify); prev && prev->has_value()) {
        if (auto s = decode_issuer_status(**prev)) status = *s;
    }

    Decision d = renewal_decision(config, bundle ? &*bundle : nullptr, now);
    if (force) d = {true, "forced", 0};
    IssueOutcome out;
    out.why = d.why;
    if (bundle) {
        out.serial = bundle->serial;
        out.not_after = bundle->not_after;
    }
    if (!d.due) {
        out.next_check = std::min(d.renew_time, now + config.check_interval_s);
        return out;
    }
    if (!force && status.failures > 0 && now < status.next_attempt) {
        out.why = d.why + "; backing off after " + std::to_string(status.failures) +
                  " failures: " + status.error;
        out.next_check = status.next_attempt;
        return out;
    }

    if (log)
        log("issuing for " + std::to_string(config.names.size()) + " name(s), " +
            std::to_string(config.nodes.size()) + " node(s): " + d.why);
    status.last_attempt = now;
    auto issued = issue(config, log);
    if (!issued) {
        status.state = "error";
        status.error = issued.error();
        status.failures += 1;
        status.next_attempt = now + retry_delay_s(config, status.failures);
        if (Status s = put_signed(origin, kIssuerStatusPath, encode_issuer_status(status), *signer);
            !s) {
            return make_error(issued.error() +
                              " (and publishing the issuer status failed: " + s.error() + ")");
        }
        return issued.forward_error();
    }
    const CertBundle& b = issued->bundle;
    if (Status s = put_signed(origin, kBundlePath, encode_bundle(b), *signer); !s) {
        return s.forward_error("publishing the bundle: ");
    }
    status.state = "ok";
    status.error.clear();
    status.failures = 0;
    status.last_success = now;
    status.serial = b.serial;
    status.not_after = b.not_after;
    Decision next = renewal_decision(config, &b, now);
    status.next_attempt = next.renew_time;
    if (Status s = put_signed(origin, kIssuerStatusPath, encode_issuer_status(status), *signer);
        !s) {
        return s.forward_error("publishing the issuer status: ");
    }
    out.issued = true;
    out.serial = b.serial;
    out.not_after = b.not_after;
    out.next_check = std::min(next.renew_time, now + config.check_interval_s);
    return out;
}

}  // namespace anyedge::acme
