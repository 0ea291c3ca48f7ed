#include "origin-sync/acme/cert_bundle.h"

#include <nlohmann/json.hpp>

#include "origin-sync/base/base64.h"
#include "origin-sync/base/json_object.h"

namespace anyedge::acme {

std::string encode_bundle(const CertBundle& b) {
    nlohmann::json keys = nlohmann::json::object();
    for (const auto& [node, sealed] : b.sealed_keys) keys[node] = base64_encode(sealed);
    return json_dump(nlohmann::json{{"format", kBundleFormat},
                                    {"names", b.names},
                                    {"serial", b.serial},
                                    {"not_before", b.not_before},
                                    {"not_after", b.not_after},
                                    {"issued", b.issued},
                                    {"chain", b.chain_pem},
                                    {"keys", keys}},
                     1) +
           "\n";
}

Result<CertBundle> decode_bundle(const std::string& json_text) {
    return read_json_object(json_text, "certificate bundle", [](JsonObject& o) {
        if (o.str("format") != kBundleFormat)
            o.fail("format", std::string("expected ") + kBundleFormat);
        CertBundle b;
        b.names = o.strings("names");
        b.serial = o.str("serial");
        b.not_before = o.integer("not_before");
        b.not_after = o.integer("not_after");
        b.issued = o.integer("issued");
        b.chain_pem = o.str("chain");
        JsonObject keys = o.object("keys");
        for (const auto& node : keys.keys()) {
            auto raw = base64_decode(keys.str(node));
            if (!raw) keys.fail(node, "not base64");
            b.sealed_keys[node] = std::move(*raw);
        }
        keys.finish();
        o.finish();
        return b;
    });
}

std::string encode_issuer_status(const IssuerStatus& s) {
    return json_dump(nlohmann::json{{"state", s.state},
                                    {"error", s.error},
                                    {"last_attempt", s.last_attempt},
                                    {"last_success", s.last_success},
                                    {"next_attempt", s.next_attempt},
                                    {"serial", s.serial},
                                    {"not_after", s.not_after},
                                    {"failures", s.failures}}) +
           "\n";
}

Result<IssuerStatus> decode_issuer_status(const std::string& json_text) {
    return read_json_object(json_text, "issuer status", [](JsonObject& o) {
        IssuerStatus s;
        s.state = o.str("state");
        s.error = o.str("error", "");
        s.last_attempt = o.integer("last_attempt", 0);
        s.last_success = o.integer("last_success", 0);
        s.next_attempt = o.integer("next_attempt", 0);
        s.serial = o.str("serial", "");
        s.not_after = o.integer("not_after", 0);
        s.failures = static_cast<int>(o.integer("failures", 0, 0, 1000000));
        o.finish();
        return s;
    });
}

}  // namespace anyedge::acme
