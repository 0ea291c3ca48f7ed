#include "bgp-hooks/forward/filter_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bgp-hooks/forward/stray_forward_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

namespace anyedge::hooks {

namespace {

int listen_on_loopback() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 &&
        (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

}  // namespace

struct FilterProbe::Impl {
    int home = -1;
    bool entered = false;
    bpf_object* object = nullptr;
    int forward = -1, settings = -1, counters = -1, forwarded = -1;
    filter::Settings filter_settings;

    ~Impl() {
        if (object) bpf_object__close(object);
        if (entered) ::setns(home, CLONE_NEWNET);
        if (home >= 0) ::close(home);
    }

    uint64_t percpu_sum(int map, uint32_t key, size_t words, size_t word) const {
        const int cpus = std::max(1, libbpf_num_possible_cpus());
        std::vector<uint64_t> v(size_t(cpus) * words);
        if (bpf_map_lookup_elem(map, &key, v.data()) != 0) return 0;
        uint64_t total = 0;
        for (int c = 0; c < cpus; ++c) total += v[size_t(c) * words + word];
        return total;
    }
};

FilterProbe::FilterProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FilterProbe::~FilterProbe() = default;

Result<std::unique_ptr<FilterProbe>> FilterProbe::create() {
    auto m = std::make_unique<Impl>();
    m->home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (m->home < 0 || ::unshare(CLONE_NEWNET) != 0) {
        return make_error(std::string("a private network namespace (unshare): ") +
                          std::strerror(errno));
    }
    m->entered = true;
    // `ip` runs in a child, which is born in this thread's namespace.
    if (std::system("ip link set lo up && ip link add t0 type veth peer name t1 && "
                    "ip link set t0 up && ip link set t1 up") != 0) {
        return make_error("ip link: cannot make the probe's interfaces");
    }
    m->object = bpf_object__open_mem(kStrayForwardObject, kStrayForwardObjectSize, nullptr);
    if (!m->object) return make_error("opening the eBPF object");
    if (int err = bpf_object__load(m->object); err != 0) {
        return make_error(std::string("loading the eBPF program: ") + std::strerror(-err));
    }
    auto map = [&](const char* n) {
        return bpf_map__fd(bpf_object__find_map_by_name(m->object, n));
    };
    m->forward = bpf_program__fd(bpf_object__find_program_by_name(m->object, "forward_strays"));
    m->settings = map("settings");
    m->counters = map("counters");
    m->forwarded = map("forwarded");
    const int peers = map("peers");
    uint32_t zero = 0;
    filter::Peer peer{if_nametoindex("t0"), 0};
    if (!filter::add_prefix(m->filter_settings, "127.0.0.1/32") ||
        bpf_map_update_elem(peers, &zero, &peer, BPF_ANY) != 0) {
        return make_error("filling the filter's maps");
    }
    auto probe = std::unique_ptr<FilterProbe>(new FilterProbe(std::move(m)));
    if (auto st = probe->set_peer_count(1); !st) return st.forward_error();
    return probe;
}

Status FilterProbe::set_peer_count(uint32_t n) {
    uint32_t zero = 0;
    impl_->filter_settings.peer_count = n;
    if (bpf_map_update_elem(impl_->settings, &zero, &impl_->filter_settings, BPF_ANY) != 0) {
        return make_error("setting the peer count");
    }
    return ok_status();
}

std::vector<uint8_t> FilterProbe::tcp_packet(const char* dst, uint16_t sport, uint16_t dport,
                                             bool syn, bool ack) {
    std::vector<uint8_t> p(14 + 20 + 20, 0);
    p[12] = 0x08;  // ETH_P_IP
    uint8_t* ip = p.data() + 14;
    ip[0] = 0x45;
    ip[3] = 40;  // total length
    ip[8] = 64;  // TTL
    ip[9] = IPPROTO_TCP;
    inet_pton(AF_INET, "127.0.0.1", ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    uint8_t* tcp = ip + 20;
    tcp[0] = uint8_t(sport >> 8);
    tcp[1] = uint8_t(sport);
    tcp[2] = uint8_t(dport >> 8);
    tcp[3] = uint8_t(dport);
    tcp[12] = 5 << 4;
    tcp[13] = uint8_t((syn ? 0x02 : 0) | (ack ? 0x10 : 0));
    return p;
}

int FilterProbe::run(const std::vector<uint8_t>& packet) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = packet.data(),
                .data_size_in = static_cast<uint32_t>(packet.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(impl_->forward, &o) != 0) return -1;
    return static_cast<int>(o.retval);
}

uint32_t FilterProbe::time(const std::vector<uint8_t>& packet, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = packet.data(),
                .data_size_in = static_cast<uint32_t>(packet.size()), .repeat = repeat);
    if (bpf_prog_test_run_opts(impl_->forward, &o) != 0) return 0;
    return o.duration;
}

uint64_t FilterProbe::counter(filter::Counter c) const {
    return impl_->percpu_sum(impl_->counters, c, 1, 0);
}

uint64_t FilterProbe::forwarded_to_peer() const {
    return impl_->percpu_sum(impl_->forwarded, 0, 2, 0);  // struct traffic {packets, bytes}
}

Result<FilterCost> measure_filter_cost(int repeat) {
    auto probe = FilterProbe::create();
    if (!probe) return probe.forward_error();
    const int listener = listen_on_loopback();
    if (listener < 0) return make_error("a listener on 127.0.0.1");
    const uint16_t port = local_port(listener);
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FilterCost cost;
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const auto seg = FilterProbe::tcp_packet("127.0.0.1", local_port(client), port);
        cost.local_segment_ns = (*probe)->time(seg, repeat);
        const auto other = FilterProbe::tcp_packet("127.0.0.2", local_port(client), port);
        cost.other_address_ns = (*probe)->time(other, repeat);
    }
    ::close(client);
    ::close(listener);
    if (cost.local_segment_ns == 0) return make_error("the kernel would not run the filter");
    return cost;
}

}  // namespace anyedge::hooks
