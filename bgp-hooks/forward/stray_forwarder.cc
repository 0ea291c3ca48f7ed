#include "bgp-hooks/forward/stray_forwarder.h"

#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "bgp-hooks/forward/filter_maps.h"
#include "bgp-hooks/forward/stray_forward_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

namespace anyedge::hooks {

const char* to_string(ForwardStatus::State s) {
    switch (s) {
        case ForwardStatus::State::off:
            return "off";
        case ForwardStatus::State::active:
            return "active";
        case ForwardStatus::State::degraded:
            return "degraded";
        case ForwardStatus::State::failed:
            return "failed";
    }
    return "?";
}

namespace {

// Our filters' place on each interface's clsact ingress hook, so that a restarted cdn-hooks
// replaces them and leaves other filters alone.
constexpr uint32_t kHandle = 0xae17;
constexpr uint32_t kPriority = 0xae;
using filter::kMaxPeers;
using filter::Peer;
using filter::Traffic;

// libbpf's messages (the verifier's log among them) go into the load error, not to stderr.
thread_local std::string* g_libbpf_log = nullptr;
int collect_libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG || !g_libbpf_log || g_libbpf_log->size() > 4096) return 0;
    char line[512];
    std::vsnprintf(line, sizeof line, fmt, args);
    *g_libbpf_log += line;
    return 0;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

bool interface_up(unsigned ifindex) {
    char name[IF_NAMESIZE] = {};
    if (!if_indextoname(ifindex, name)) return false;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ifreq r{};
    std::memcpy(r.ifr_name, name, sizeof r.ifr_name);
    bool up =
        ::ioctl(fd, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP) && (r.ifr_flags & IFF_RUNNING);
    ::close(fd);
    return up;
}

}  // namespace

struct StrayForwarder::Impl {
    ForwardSettings settings;
    bpf_object* object = nullptr;
    int forward_fd = -1, drop_fd = -1;
    int settings_map = -1, peers_map = -1, forwarded_map = -1, counters_map = -1;
    filter::Settings filter_settings;  // the prefixes, set at load; the peer count, each refresh
    int tunnel_peer_map = -1, received_map = -1;
    uint32_t forward_id = 0, drop_id = 0;
    int cpus = 1;
    int stats_fd = -1;  // held while the kernel times BPF programs (measure_cost)
    // Interface name -> the ifindex our filter is attached to (0: not attached).
    std::map<std::string, unsigned> attached;

    ~Impl() {
        for (auto& [name, ifindex] : attached) {
            if (ifindex != 0 && if_nametoindex(name.c_str()) == ifindex) detach(ifindex);
        }
        if (object) bpf_object__close(object);
        if (stats_fd >= 0) ::close(stats_fd);
    }

    static bpf_tc_hook ingress(unsigned ifindex) {
        bpf_tc_hook hook{};
        hook.sz = sizeof hook;
        hook.ifindex = static_cast<int>(ifindex);
        hook.attach_point = BPF_TC_INGRESS;
        return hook;
    }
    static bpf_tc_opts our_place() {
        bpf_tc_opts opts{};
        opts.sz = sizeof opts;
        opts.handle = kHandle;
        opts.priority = kPriority;
        return opts;
    }

    static int attach(unsigned ifindex, int prog_fd) {
        bpf_tc_hook hook = ingress(ifindex);
        int err = bpf_tc_hook_create(&hook);
        if (err && err != -EEXIST) return err;
        bpf_tc_opts opts = our_place();
        opts.prog_fd = prog_fd;
        opts.flags = BPF_TC_F_REPLACE;
        return bpf_tc_attach(&hook, &opts);
    }

    static void detach(unsigned ifindex) {
        bpf_tc_hook hook = ingress(ifindex);
        bpf_tc_opts opts = our_place();
        bpf_tc_detach(&hook, &opts);
    }

    // Is our program (prog_id) the filter at our place on this interface?
    static bool attached_here(unsigned ifindex, uint32_t prog_id) {
        bpf_tc_hook hook = ingress(ifindex);
        bpf_tc_opts opts = our_place();
        return bpf_tc_query(&hook, &opts) == 0 && opts.prog_id == prog_id;
    }

    // Attaches where missing; returns the interface's ifindex when our filter is on it, else 0.
    unsigned ensure(const std::string& name, int prog_fd, uint32_t prog_id, std::string& why) {
        unsigned ifindex = if_nametoindex(name.c_str());
        if (ifindex == 0) {
            why = name + ": no such interface";
            attached[name] = 0;
            return 0;
        }
        if (attached[name] == ifindex && attached_here(ifindex, prog_id)) return ifindex;
        if (int err = attach(ifindex, prog_fd); err != 0) {
            why = name + ": attaching the tc filter: " + errno_text(err);
            attached[name] = 0;
            return 0;
        }
        attached[name] = ifindex;
        return ifindex;
    }

    uint64_t sum_counter(uint32_t slot) {
        std::vector<uint64_t> v(cpus);
        if (bpf_map_lookup_elem(counters_map, &slot, v.data()) != 0) return 0;
        uint64_t total = 0;
        for (uint64_t x : v) total += x;
        return total;
    }

    Traffic sum_forwarded(uint32_t slot) { return sum_pairs(forwarded_map, slot); }
    Traffic sum_received(uint32_t slot) { return sum_pairs(received_map, slot); }
    Traffic sum_pairs(int map, uint32_t slot) {
        std::vector<Traffic> v(cpus);
        Traffic total{};
        if (bpf_map_lookup_elem(map, &slot, v.data()) != 0) return total;
        for (const Traffic& t : v) {
            total.packets += t.packets;
            total.bytes += t.bytes;
        }
        return total;
    }
};

StrayForwarder::StrayForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StrayForwarder::~StrayForwarder() = default;

Result<std::unique_ptr<StrayForwarder>> StrayForwarder::load(
    const ForwardSettings& settings, const std::vector<std::string>& anycast) {
    if (settings.peers.size() > kMaxPeers) {
        return make_error("forwarding.peers: at most " + std::to_string(kMaxPeers));
    }
    auto impl = std::make_unique<Impl>();
    impl->settings = settings;
    std::string log;
    g_libbpf_log = &log;
    libbpf_set_print(collect_libbpf_log);
    auto failed = [&](const std::string& what, int err) {
        g_libbpf_log = nullptr;
        std::string m = what + ": " + errno_text(err);
        if (err == -EPERM || err == EPERM) {
            m += " (needs CAP_BPF and CAP_NET_ADMIN)";
        } else if (!log.empty()) {
            m += "\n" + log;  // the verifier's reasons, for a kernel that refuses the program
        }
        return make_error(m);
    };

    LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "stray_forward");
    impl->object = bpf_object__open_mem(kStrayForwardObject, kStrayForwardObjectSize, &open_opts);
    if (!impl->object) return failed("opening the eBPF object", errno);
    if (int err = bpf_object__load(impl->object); err != 0) {
        return failed("loading the eBPF program", err);
    }
    g_libbpf_log = nullptr;
    auto prog = [&](const char* name) {
        bpf_program* p = bpf_object__find_program_by_name(impl->object, name);
        return p ? bpf_program__fd(p) : -1;
    };
    auto map = [&](const char* name) {
        bpf_map* m = bpf_object__find_map_by_name(impl->object, name);
        return m ? bpf_map__fd(m) : -1;
    };
    impl->forward_fd = prog("forward_strays");
    impl->drop_fd = prog("drop_strays");
    impl->settings_map = map("settings");
    impl->peers_map = map("peers");
    impl->forwarded_map = map("forwarded");
    impl->counters_map = map("counters");
    impl->tunnel_peer_map = map("tunnel_peer");
    impl->received_map = map("received");
    if (impl->forward_fd < 0 || impl->drop_fd < 0 || impl->settings_map < 0 ||
        impl->peers_map < 0 || impl->forwarded_map < 0 || impl->counters_map < 0 ||
        impl->tunnel_peer_map < 0 || impl->received_map < 0) {
        return make_error("the eBPF object lacks a program or map (a build mismatch)");
    }
    auto prog_id = [](int fd) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0u;
    };
    impl->forward_id = prog_id(impl->forward_fd);
    impl->drop_id = prog_id(impl->drop_fd);
    impl->cpus = std::max(1, libbpf_num_possible_cpus());
    if (settings.measure_cost) impl->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

    for (const std::string& p : anycast) {
        if (auto st = filter::add_prefix(impl->filter_settings, p); !st) {
            return st.forward_error("forwarding: ");
        }
    }
    auto forwarder = std::unique_ptr<StrayForwarder>(new StrayForwarder(std::move(impl)));
    // The uplinks must take the filter now; a tunnel may come up later (refresh retries).
    for (const std::string& name : settings.interfaces) {
        std::string why;
        if (forwarder->impl_->ensure(name, forwarder->impl_->forward_fd,
                                     forwarder->impl_->forward_id, why) == 0) {
            return make_error("forwarding: " + why);
        }
    }
    forwarder->refresh();
    return forwarder;
}

ForwardStatus StrayForwarder::refresh() {
    Impl& m = *impl_;
    ForwardStatus st;
    st.state = ForwardStatus::State::active;
    std::string why;
    for (const std::string& name : m.settings.interfaces) {
        if (m.ensure(name, m.forward_fd, m.forward_id, why) == 0) {
            st.state = ForwardStatus::State::failed;
            st.detail = why;
        }
    }
    // The peer table: the tunnels that are up, in the configured order.
    uint32_t n = 0;
    for (uint32_t id = 0; id < m.settings.peers.size(); ++id) {
        const ForwardPeer& peer = m.settings.peers[id];
        ForwardPeerStatus ps{peer.name, peer.interface};
        std::string peer_why;
        unsigned ifindex = m.ensure(peer.interface, m.drop_fd, m.drop_id, peer_why);
        if (ifindex != 0) bpf_map_update_elem(m.tunnel_peer_map, &ifindex, &id, BPF_ANY);
        ps.up = ifindex != 0 && interface_up(ifindex);
        if (!ps.up && peer_why.empty()) peer_why = peer.interface + ": down";
        if (ps.up) {
            Peer v{ifindex, id};
            bpf_map_update_elem(m.peers_map, &n, &v, BPF_ANY);
            ++n;
        } else if (st.state == ForwardStatus::State::active) {
            st.state = ForwardStatus::State::degraded;
            st.detail = "peer " + peer.name + ": " + peer_why;
        }
        st.peers.push_back(std::move(ps));
    }
    for (uint32_t i = n; i < kMaxPeers && i < m.settings.peers.size(); ++i) {
        Peer none{0, 0};
        bpf_map_update_elem(m.peers_map, &i, &none, BPF_ANY);
    }
    uint32_t zero = 0;
    m.filter_settings.peer_count = n;
    bpf_map_update_elem(m.settings_map, &zero, &m.filter_settings, BPF_ANY);
    if (n == 0 && st.state != ForwardStatus::State::failed) {
        st.state = ForwardStatus::State::failed;
        st.detail = "no peer tunnel is up";
    }

    for (uint32_t id = 0; id < st.peers.size(); ++id) {
        Traffic t = m.sum_forwarded(id);
        st.peers[id].packets = t.packets;
        st.peers[id].bytes = t.bytes;
        Traffic r = m.sum_received(id);  // same shape: {delivered, dropped}
        st.peers[id].received_delivered = r.packets;
        st.peers[id].received_dropped = r.bytes;
    }
    st.strays = m.sum_counter(filter::kStrays);
    st.strays_no_peer = m.sum_counter(filter::kStrayNoPeer);
    st.tunnel_local = m.sum_counter(filter::kTunnelLocal);
    st.tunnel_dropped = m.sum_counter(filter::kTunnelDropped);
    st.forward_errors = m.sum_counter(filter::kForwardErrors);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(m.forward_fd, &info, &len) == 0) {
        st.filter_runs = info.run_cnt;
        st.filter_run_ns = info.run_time_ns;
    }
    return st;
}

}  // namespace anyedge::hooks
