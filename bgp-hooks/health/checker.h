// One round of health checks for the local edge, turned into a policy::Observation.
//
// Hard (local) checks: the edge's admin GET /healthz answers 200 {"status":"ok"}, and the
// canary GET on the service address answers 200 with the ETag the live manifest predicts (a
// wedged edge times out, a wrong-content edge fails the ETag). Soft (possibly global) checks:
// the node's generation lags the origin's longer than the grace, the origin is unreachable
// longer than the grace, or the generation is older than max_generation_age_s.
// The drain request is the drain file or the edge's own /status drain state; while the drain
// file exists the edge is told to drain too (POST /drain), and /undrain when the file goes.
// The drain's SYN hold is asked for by the loop (hold_syns) when the state machine says so.
// Blocking; runs on the main loop's thread; every request is bounded by checks.timeout_ms.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "bgp-hooks/config/node_config.h"
#include "bgp-hooks/policy/state_machine.h"
#include "origin-sync/net/http_client.h"

namespace anyedge::health {

struct EdgeStatus {
    bool ok = false;
    uint64_t generation = 0;
    double generation_age_s = 0;
    policy::EdgeDrain drain = policy::EdgeDrain::unknown;
    std::string drain_detail;
};

// Pure: parses the edge's /status JSON.
Result<EdgeStatus> parse_edge_status(std::string_view json);

// Polls the origin's `current` pointer on its own thread: the origin may be far away or down,
// and a slow answer must never delay the local checks that can withdraw the route.
class OriginPoller {
  public:
    struct Snapshot {
        std::optional<uint64_t> generation;  // last generation seen
        std::optional<policy::Clock::time_point> failing_since;
        std::string error;
    };
    OriginPoller(const net::Url& current_url, std::chrono::milliseconds period,
                 std::chrono::milliseconds timeout);
    ~OriginPoller();
    OriginPoller(const OriginPoller&) = delete;
    OriginPoller& operator=(const OriginPoller&) = delete;
    Snapshot snapshot() const;

  private:
    void run();
    net::HttpClient client_;  // used by thread_ only
    std::string target_;
    std::chrono::milliseconds period_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    Snapshot snap_;
    std::thread thread_;
};

class Checker {
  public:
    explicit Checker(const hooks::NodeConfig& config);

    // Runs the checks; `abort_fd` (the edge's pidfd, or -1) cuts a request short.
    policy::Observation run_round(policy::Clock::time_point now, int abort_fd);

    // Last values seen, for the status file.
    const EdgeStatus& last_status() const { return status_; }
    // What the drain file last made the checker do to the edge (POST /drain, /undrain), once.
    std::string take_drain_note() { return std::exchange(drain_note_, std::string()); }
    // POST /hold-syn?ms=N to the edge (the drain's SYN hold), bounded by checks.timeout_ms.
    Status hold_syns(std::chrono::milliseconds duration);
    std::optional<uint64_t> origin_generation() const {
        return origin_ ? origin_->snapshot().generation : std::nullopt;
    }

  private:
    Result<uint64_t> check_healthz(int abort_fd);
    Status check_canary(uint64_t generation, int abort_fd);
    Result<std::string> expected_etag(uint64_t generation);
    std::string soft_fault(policy::Clock::time_point now, uint64_t generation, bool have_status);
    Result<net::HttpResponse> admin_request(const std::string& method, const std::string& target,
                                            std::chrono::milliseconds timeout, int abort_fd);
    Status post_admin(const std::string& target, std::chrono::milliseconds timeout);
    void sync_edge_drain(bool drain_file_present);
    void note(std::string text);

    const hooks::NodeConfig& c_;
    std::optional<net::Endpoint> admin_;
    std::string admin_error_;
    std::unique_ptr<net::HttpClient> canary_;
    std::string canary_error_;
    std::unique_ptr<OriginPoller> origin_;
    std::chrono::milliseconds timeout_;

    EdgeStatus status_;
    bool edge_drain_requested_ = false;  // sticky while the edge cannot be asked
    bool posted_drain_ = false;          // this checker drained the edge (drain file)
    std::string drain_note_;             // last drain-file action, for the log
    std::string last_drain_note_;
    uint64_t etag_generation_ = 0;
    std::string etag_current_;  // the `current` bytes the cached ETag was derived from
    std::string etag_;

    std::optional<policy::Clock::time_point> lagging_since_;
};

}  // namespace anyedge::health
