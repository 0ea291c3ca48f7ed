#include "edge/server/certificate_placeholder.h"

#include <filesystem>
#include <vector>

#include "edge/tls/self_signed.h"

namespace anyedge::server {

Status write_placeholder_certificates(const EdgeConfig& cfg,
                                      const std::function<void(const std::string&)>& log) {
    if (cfg.acme_thumbprint.empty()) return ok_status();
    std::vector<std::string> names = {"localhost"};
    if (!cfg.node_name.empty()) names.insert(names.begin(), cfg.node_name);
    for (size_t i = 0; i < cfg.cert.size() && i < cfg.key.size(); ++i) {
        std::error_code ec;
        if (std::filesystem::exists(cfg.cert[i], ec) || std::filesystem::exists(cfg.key[i], ec)) {
            continue;
        }
        if (Status s = tls::generate_self_signed(cfg.cert[i], cfg.key[i], names); !s) {
            return s.forward_error("placeholder certificate " + cfg.cert[i] + ": ");
        }
        log("no certificate at " + cfg.cert[i] + " yet: serving a self-signed placeholder until " +
            "the fleet's certificate is installed there (acme_thumbprint is set)");
    }
    return ok_status();
}

}  // namespace anyedge::server
