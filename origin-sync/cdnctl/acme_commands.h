// `cdnctl acme ...`: the fleet's certificates (origin-sync/acme/issuer.h).
//   cdnctl acme thumbprint --account-key F   make the account key if absent; print the
//                                            thumbprint every node's acme_thumbprint holds
//   cdnctl acme node-key --key F             on a node: make its sealing key if absent; print
//                                            the public half for the issuer's config
//   cdnctl acme account --config F           register (or find) the account at the CA
//   cdnctl acme issue --config F [--force]   issue when due, publish the bundle
//   cdnctl acme run --config F               issue whenever due, until SIGINT/SIGTERM
#pragma once

#include <CLI/CLI.hpp>

namespace anyedge::cdnctl {

class AcmeCommands {
  public:
    explicit AcmeCommands(CLI::App& app);
    bool parsed() const;
    int run();

  private:
    CLI::App* acme_;
    CLI::App *thumbprint_, *node_key_, *account_, *issue_, *run_;
    std::string account_key_, node_key_file_, config_;
    bool force_ = false;
};

}  // namespace anyedge::cdnctl
