// An origin reached over HTTP(S) that accepts uploads: GET/HEAD to read, PUT to write, with a
// bearer token (the edge in its origin role checks each blob's hash on arrival). It cannot
// list generations or take a lock: two publishers at once must be avoided by the operator.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "origin-sync/net/http_client.h"
#include "origin-sync/publish/origin.h"

namespace anyedge::cdnctl {

class HttpOrigin : public publish::Origin {
  public:
    HttpOrigin(net::Url url, std::string ca_file, std::chrono::milliseconds timeout,
               std::string token);
    std::string describe() const override;
    Status lock() override { return ok_status(); }
    Result<std::optional<std::string>> get(const std::string& rel) override;
    Result<bool> exists(const std::string& rel) override;
    Status put(const std::string& rel, std::string_view bytes) override;
    std::vector<uint64_t> list_generations() override { return {}; }

  private:
    std::map<std::string, std::string> auth() const;
    net::Url url_;
    net::HttpClient client_;
    std::string token_;
};

}  // namespace anyedge::cdnctl
