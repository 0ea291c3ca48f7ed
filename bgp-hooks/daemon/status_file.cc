#include "bgp-hooks/daemon/status_file.h"

#include <nlohmann/json.hpp>

#include "origin-sync/base/file_io.h"

namespace anyedge::hooks {

namespace {

nlohmann::json counters_json(const policy::Counters& k) {
    return {{"rounds", k.rounds},
            {"hard_failures", k.hard_failures},
            {"soft_failures", k.soft_failures},
            {"transitions", k.transitions},
            {"announces", k.announces},
            {"withdrawals", k.withdrawals},
            {"depreferrals", k.depreferrals},
            {"flaps", k.flaps},
            {"drains", k.drains},
            {"syn_holds", k.syn_holds},
            {"drain_timeouts", k.drain_timeouts},
            {"edge_deaths", k.edge_deaths}};
}

nlohmann::json forwarding_json(const ForwardStatus& f) {
    nlohmann::json peers = nlohmann::json::array();
    for (const ForwardPeerStatus& p : f.peers) {
        peers.push_back({{"name", p.name},
                         {"interface", p.interface},
                         {"up", p.up},
                         {"forwarded_packets", p.packets},
                         {"forwarded_bytes", p.bytes},
                         {"received_delivered", p.received_delivered},
                         {"received_dropped", p.received_dropped}});
    }
    return {{"state", to_string(f.state)},
            {"detail", f.detail},
            {"peers", peers},
            {"strays_forwarded", f.strays},
            {"strays_without_peer", f.strays_no_peer},
            {"tunnel_delivered", f.tunnel_local},
            {"tunnel_dropped", f.tunnel_dropped},
            {"forward_errors", f.forward_errors},
            {"filter_runs", f.filter_runs},
            {"filter_run_ns", f.filter_run_ns}};
}

}  // namespace

std::string render_status(const StatusReport& r) {
    nlohmann::json j = {
        {"node", r.node},
        {"state", policy::to_string(r.state)},
        {"drain_phase", r.state == policy::State::draining ? policy::to_string(r.drain_phase) : ""},
        {"syn_hold_requests", {{"ok", r.syn_holds_ok}, {"failed", r.syn_hold_failures}}},
        {"route", policy::to_string(r.route)},
        {"route_applied", r.route_applied},
        {"reason", r.reason},
        {"since", r.since},
        {"hold_down_ms", r.hold_down.count()},
        {"counters", counters_json(r.counters)},
        {"edge",
         {{"generation", r.edge.generation},
          {"generation_age_s", r.edge.generation_age_s},
          {"watching_pid", r.watching_pid}}},
        {"last_error", r.last_error},
        {"last_check",
         {{"hard_ok", r.last_check.hard_ok},
          {"hard_reason", r.last_check.hard_reason},
          {"soft_ok", r.last_check.soft_ok},
          {"soft_reason", r.last_check.soft_reason},
          {"drain_requested", r.last_check.drain_requested}}},
    };
    if (r.origin_generation) j["origin_generation"] = *r.origin_generation;
    j["forwarding"] = forwarding_json(r.forwarding);
    return j.dump(2) + "\n";
}

Status write_status_file(const std::string& path, const StatusReport& report) {
    return atomic_write_file(path, render_status(report));
}

}  // namespace anyedge::hooks
