// Stray-packet forwarding (tc clsact ingress; DESIGN.md "Continuity across route changes").
//
// After a route change, segments of TCP connections opened on another node reach this one.
// The kernel would answer them with RST and break the connection. Instead:
//   forward_strays (on the anycast-facing interfaces): a non-SYN segment for an anycast address
//     that matches no local socket goes to every forwarding peer's tunnel (one copy each) and
//     is not delivered here. Exactly one node owns the connection; the others drop their copy.
//   drop_strays (on the tunnel interfaces): a forwarded segment that matches no socket here
//     is dropped, never answered and never forwarded again: the hop budget is one tunnel hop,
//     so forwarding cannot loop.
// SYNs are never forwarded: a new connection belongs to the node the route chose.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_PEERS 64
#define MAX_PREFIXES 8  // anycast prefixes per address family

// Keep in sync with bgp-hooks/forward/forward_maps.h.
enum counter {
    COUNTER_UNUSED = 0,      // (local segments are not counted: that is the hot path)
    COUNTER_STRAY_NO_PEER,   // stray with no peer configured: left to the kernel (RST)
    COUNTER_TUNNEL_LOCAL,    // forwarded to us and ours: delivered
    COUNTER_TUNNEL_DROPPED,  // forwarded to us and not ours: dropped (hop budget spent)
    COUNTER_FORWARD_ERRORS,  // a copy the kernel refused to send to a peer's tunnel
    COUNTER_STRAYS,          // strays sent to the peers (each counted once, not per copy)
    COUNTER_MAX,
};

struct traffic {
    __u64 packets;
    __u64 bytes;
};

// The anycast prefixes are compared inline, in network byte order: on the serving path every
// packet is checked, and a compare costs less than a trie lookup.
struct prefix4 {
    __u32 addr;
    __u32 mask;
};
struct prefix6 {
    __u32 addr[4];
    __u32 mask[4];
};
struct settings {
    __u32 peer_count;
    __u32 n4;
    __u32 n6;
    __u32 unused;
    struct prefix4 v4[MAX_PREFIXES];
    struct prefix6 v6[MAX_PREFIXES];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct settings);
} settings SEC(".maps");

// The peers whose tunnels are up, slots 0..peer_count-1: the tunnel's ifindex and the peer's
// place in the node config (which `forwarded` counts by).
struct peer {
    __u32 ifindex;
    __u32 id;
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_PEERS);
    __type(key, __u32);
    __type(value, struct peer);
} peers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MAX_PEERS);
    __type(key, __u32);
    __type(value, struct traffic);
} forwarded SEC(".maps");

// What arrives from each peer's tunnel: ifindex -> the peer's place in the node config, and
// per peer the segments delivered here and those dropped (not ours).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_PEERS);
    __type(key, __u32);
    __type(value, __u32);
} tunnel_peer SEC(".maps");

struct received {
    __u64 delivered;
    __u64 dropped;
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MAX_PEERS);
    __type(key, __u32);
    __type(value, struct received);
} received SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, COUNTER_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64* v = bpf_map_lookup_elem(&counters, &which);
    if (v) *v += 1;
}

enum verdict { NOT_OURS, LOCAL, STRAY };

static __always_inline int anycast4(const struct settings* s, __u32 daddr) {
    for (__u32 i = 0; i < MAX_PREFIXES; i++) {
        if (i >= s->n4) break;
        if ((daddr & s->v4[i].mask) == s->v4[i].addr) return 1;
    }
    return 0;
}

static __always_inline int anycast6(const struct settings* s, const __u32* daddr) {
    for (__u32 i = 0; i < MAX_PREFIXES; i++) {
        if (i >= s->n6) break;
        const struct prefix6* p = &s->v6[i];
        if ((daddr[0] & p->mask[0]) == p->addr[0] && (daddr[1] & p->mask[1]) == p->addr[1] &&
            (daddr[2] & p->mask[2]) == p->addr[2] && (daddr[3] & p->mask[3]) == p->addr[3]) {
            return 1;
        }
    }
    return 0;
}

// Is this a non-SYN TCP segment for an anycast address, and does a local socket own it?
static __always_inline enum verdict classify(struct __sk_buff* skb, __u32 l3,
                                             const struct settings* s) {
    void* data = (void*)(long)skb->data;
    void* end = (void*)(long)skb->data_end;
    struct bpf_sock_tuple tuple = {};
    __u32 tuple_size;
    struct tcphdr* th;
    void* iph;
    __u32 iph_len;

    if (skb->protocol == bpf_htons(ETH_P_IP)) {
        struct iphdr* ip4 = data + l3;
        if ((void*)(ip4 + 1) > end) return NOT_OURS;
        if (ip4->protocol != IPPROTO_TCP || (ip4->frag_off & bpf_htons(0x1fff))) return NOT_OURS;
        iph_len = ip4->ihl * 4;
        if (iph_len < sizeof(*ip4)) return NOT_OURS;
        th = data + l3 + iph_len;
        if ((void*)(th + 1) > end) return NOT_OURS;
        if (!anycast4(s, ip4->daddr)) return NOT_OURS;
        tuple.ipv4.saddr = ip4->saddr;
        tuple.ipv4.daddr = ip4->daddr;
        tuple.ipv4.sport = th->source;
        tuple.ipv4.dport = th->dest;
        tuple_size = sizeof(tuple.ipv4);
        iph = ip4;
        iph_len = sizeof(*ip4);  // the syncookie check reads the fixed header only
    } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr* ip6 = data + l3;
        if ((void*)(ip6 + 1) > end) return NOT_OURS;
        if (ip6->nexthdr != IPPROTO_TCP) return NOT_OURS;
        iph_len = sizeof(*ip6);
        th = (void*)(ip6 + 1);
        if ((void*)(th + 1) > end) return NOT_OURS;
        __u32 daddr[4];
        __builtin_memcpy(daddr, &ip6->daddr, 16);
        if (!anycast6(s, daddr)) return NOT_OURS;
        __builtin_memcpy(tuple.ipv6.saddr, &ip6->saddr, 16);
        __builtin_memcpy(tuple.ipv6.daddr, &ip6->daddr, 16);
        tuple.ipv6.sport = th->source;
        tuple.ipv6.dport = th->dest;
        tuple_size = sizeof(tuple.ipv6);
        iph = ip6;
    } else {
        return NOT_OURS;
    }
    if (th->syn) return LOCAL;

    struct bpf_sock* sk = bpf_skc_lookup_tcp(skb, &tuple, tuple_size, BPF_F_CURRENT_NETNS, 0);
    if (!sk) return STRAY;
    enum verdict v = LOCAL;
    if (sk->state == BPF_TCP_TIME_WAIT) {
        // A connection closed here. The client may have opened a new one from the same port
        // on another node (the server closed first, so the client's port is free again): this
        // node's stack would answer it with the old connection's ACK and stall it.
        v = STRAY;
    } else if (sk->state == BPF_TCP_LISTEN) {
        // Only the listener matched: the segment is ours only if it completes a handshake
        // this node answered with a SYN cookie.
        if (bpf_tcp_check_syncookie(sk, iph, iph_len, th, sizeof(*th)) != 0) v = STRAY;
    }
    bpf_sk_release(sk);
    return v;
}

SEC("tc")
int forward_strays(struct __sk_buff* skb) {
    __u32 zero = 0;
    const struct settings* s = bpf_map_lookup_elem(&settings, &zero);
    if (!s) return TC_ACT_OK;
    enum verdict v = classify(skb, sizeof(struct ethhdr), s);
    if (v != STRAY) return TC_ACT_OK;
    __u32 n = s->peer_count;
    if (n == 0) {
        count(COUNTER_STRAY_NO_PEER);
        return TC_ACT_OK;
    }
    count(COUNTER_STRAYS);
    __u32 len = skb->len;
    for (__u32 i = 0; i < MAX_PEERS; i++) {
        if (i >= n) break;
        // The loop counter stays in a register: a key whose address a helper takes lives on
        // the stack, where the verifier loses its value and cannot see the loop end.
        __u32 slot = i;
        struct peer* p = bpf_map_lookup_elem(&peers, &slot);
        if (!p || p->ifindex == 0) continue;
        __u32 id = p->id;
        if (bpf_clone_redirect(skb, p->ifindex, 0) != 0) {
            count(COUNTER_FORWARD_ERRORS);
            continue;
        }
        struct traffic* t = bpf_map_lookup_elem(&forwarded, &id);
        if (t) {
            t->packets += 1;
            t->bytes += len;
        }
    }
    return TC_ACT_SHOT;
}

SEC("tc")
int drop_strays(struct __sk_buff* skb) {
    // A tunnel interface carries bare IP packets: no link-layer header.
    __u32 zero = 0;
    const struct settings* s = bpf_map_lookup_elem(&settings, &zero);
    if (!s) return TC_ACT_OK;
    enum verdict v = classify(skb, 0, s);
    if (v == NOT_OURS) return TC_ACT_OK;
    __u32 ifindex = skb->ingress_ifindex;
    __u32* peer = bpf_map_lookup_elem(&tunnel_peer, &ifindex);
    struct received* r = 0;
    if (peer) {
        __u32 id = *peer;
        r = bpf_map_lookup_elem(&received, &id);
    }
    if (v == LOCAL) {
        count(COUNTER_TUNNEL_LOCAL);
        if (r) r->delivered += 1;
        return TC_ACT_OK;
    }
    count(COUNTER_TUNNEL_DROPPED);
    if (r) r->dropped += 1;
    return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
