// Route backends: how a desired RouteState reaches the BGP speaker.
//
// BirdBackend: writes the DRAIN include file atomically, then `configure check` and
// `configure` over BIRD's control socket. It remembers the desired state and re-applies it when
// BIRD restarts (a new control-socket session) or when an earlier attempt failed.
// ExabgpBackend: prints ExaBGP process-API lines ("announce route ..." / "withdraw route ...")
// to a stream, for nodes that run ExaBGP with this program as its `process`.
// Both run on the caller's thread; neither is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "bgp-hooks/bird/client.h"
#include "bgp-hooks/policy/route_state.h"
#include "origin-sync/base/result.h"

namespace anyedge::policy {

using LogFn = std::function<void(const std::string&)>;

class RouteBackend {
  public:
    virtual ~RouteBackend() = default;
    // Makes the BGP speaker carry `s`. Safe to call again with the same state.
    virtual Status apply(RouteState s, std::string_view reason) = 0;
    // Called every round: re-applies after a speaker restart or an earlier failure.
    virtual Status maintain() = 0;
};

class BirdBackend : public RouteBackend {
  public:
    BirdBackend(std::string state_file, std::string socket_path, std::chrono::milliseconds timeout,
                LogFn log);

    Status apply(RouteState s, std::string_view reason) override;
    Status maintain() override;

    // True when the desired state has been accepted by the BIRD currently running.
    bool in_sync() const { return in_sync_; }
    bird::Client& client() { return client_; }

  private:
    Status push();

    std::string state_file_;
    bird::Client client_;
    LogFn log_;
    std::optional<RouteState> desired_;
    std::string reason_;
    bool in_sync_ = false;
    bool file_written_ = false;  // the file holds desired_ (retries while BIRD is down skip it)
    uint64_t synced_connection_ = 0;
};

struct DepreferConfig {
    int prepend = 2;                       // extra copies of the local AS
    std::vector<std::string> communities;  // "ASN:VALUE", 16-bit each
};
// Checks an "a:b" standard community (both 0..65535).
bool valid_community(std::string_view c);

class ExabgpBackend : public RouteBackend {
  public:
    ExabgpBackend(std::ostream& out, std::vector<std::string> prefixes, uint32_t local_as,
                  DepreferConfig deprefer);

    Status apply(RouteState s, std::string_view reason) override;
    Status maintain() override { return ok_status(); }

    // The lines apply() prints for `s`, one per prefix (pure; used by tests).
    std::vector<std::string> lines(RouteState s) const;

  private:
    std::ostream& out_;
    std::vector<std::string> prefixes_;
    uint32_t local_as_;
    DepreferConfig deprefer_;
    std::optional<RouteState> last_;
};

}  // namespace anyedge::policy
