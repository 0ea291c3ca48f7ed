// Node config validation (errors name the key) and BIRD config rendering.
#include "bgp-hooks/config/node_config.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bgp-hooks/templates/bird_config.h"
#include "bgp-hooks/templates/wireguard_config.h"

namespace anyedge::hooks {
namespace {

using nlohmann::json;

json minimal() {
    return json{{"node", "e1"},
                {"anycast", {{"ipv4", {"203.0.113.10/32"}}, {"ipv6", {"2001:db8:a::10/128"}}}},
                {"edge", {{"admin", "127.0.0.1:9000"}}},
                {"bird",
                 {{"router_id", "192.0.2.2"},
                  {"local_as", 64601},
                  {"upstreams", {{{"name", "up1"}, {"neighbor", "192.0.2.1"}, {"as", 64500}}}}}}};
}

std::string error_of(const json& j) {
    auto r = parse_node_config(j.dump());
    return r ? "" : r.error();
}

TEST(NodeConfig, ShippedExampleParses) {
    std::ifstream in(std::string(ANYEDGE_SOURCE_DIR) + "/bgp-hooks/templates/node.example.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = parse_node_config(ss.str());
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->node, "edge1");
    EXPECT_EQ(r->bird.upstreams.size(), 2u);
    EXPECT_TRUE(r->bird.upstreams[1].ipv6);
    EXPECT_EQ(r->interval_ms, 200);
    EXPECT_TRUE(r->canary.enabled);
    EXPECT_EQ(r->deprefer.communities, std::vector<std::string>{"64601:100"});
}

TEST(NodeConfig, Defaults) {
    auto r = parse_node_config(minimal().dump());
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->backend, "bird");
    EXPECT_EQ(r->interval_ms, 200);
    EXPECT_EQ(r->policy.fail_threshold, 3);
    EXPECT_EQ(r->bird.hold_time_s, 3);
    EXPECT_EQ(r->bird.keepalive_time_s, 1);
    EXPECT_TRUE(r->withdraw_on_exit);
    // The drain's SYN hold is on by default, under the 1 s initial RTO.
    EXPECT_EQ(r->policy.drain_hold_time.count(), 900);
    EXPECT_EQ(r->policy.drain_hold_lead.count(), 150);
}

TEST(NodeConfig, DrainHoldCanBeTurnedOff) {
    auto j = minimal();
    j["policy"] = {{"drain_hold_ms", 0}, {"drain_hold_lead_ms", 150}};
    auto r = parse_node_config(j.dump());
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->policy.drain_hold_time.count(), 0);
}

TEST(NodeConfig, HttpsCanary) {
    auto j = minimal();
    j["checks"] = {{"canary",
                    {{"address", "203.0.113.10:443"},
                     {"host", "blog.example"},
                     {"expected_etag", "ab"},
                     {"tls", true},
                     {"ca_file", "/etc/anyedge/ca.pem"}}}};
    auto r = parse_node_config(j.dump());
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->canary.tls);
    EXPECT_EQ(r->canary.ca_file, "/etc/anyedge/ca.pem");
    j["checks"]["canary"]["tls"] = false;
    EXPECT_NE(error_of(j).find("checks.canary.ca_file"), std::string::npos) << error_of(j);
    j["checks"]["canary"]["tls"] = true;
    j["checks"]["canary"].erase("host");
    EXPECT_NE(error_of(j).find("checks.canary.server_name"), std::string::npos) << error_of(j);
    j["checks"]["canary"]["server_name"] = "blog.example";
    EXPECT_EQ(error_of(j), "");
}

TEST(NodeConfig, Forwarding) {
    auto j = minimal();
    EXPECT_FALSE(parse_node_config(j.dump())->forwarding.enabled);
    j["forwarding"] = {
        {"interfaces", {"eth0"}},
        {"peers",
         {{{"name", "e2"}, {"interface", "wg-e2"}}, {{"name", "e3"}, {"interface", "wg-e3"}}}}};
    auto r = parse_node_config(j.dump());
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->forwarding.enabled);  // on where configured
    EXPECT_EQ(r->forwarding.interfaces, std::vector<std::string>{"eth0"});
    ASSERT_EQ(r->forwarding.peers.size(), 2u);
    EXPECT_EQ(r->forwarding.peers[1].name, "e3");
    EXPECT_EQ(r->forwarding.peers[1].interface, "wg-e3");
    j["forwarding"]["enabled"] = false;
    EXPECT_FALSE(parse_node_config(j.dump())->forwarding.enabled);

    j["forwarding"] = {{"interfaces", json::array()}};
    EXPECT_NE(error_of(j).find("forwarding.interfaces"), std::string::npos) << error_of(j);
    j["forwarding"] = {{"interfaces", {"eth0"}}, {"peers", {{{"name", "e2"}}}}};
    EXPECT_NE(error_of(j).find("forwarding.peers[0].interface"), std::string::npos) << error_of(j);
    j["forwarding"] = {{"interfaces", {"an-interface-name-too-long"}}};
    EXPECT_NE(error_of(j).find("forwarding.interfaces[0]"), std::string::npos) << error_of(j);
    j["forwarding"] = {{"interfaces", {"eth0"}}, {"peer", json::array()}};
    EXPECT_NE(error_of(j).find("forwarding.peer"), std::string::npos) << error_of(j);
}

// The tunnels come from the same file as the forwarding that uses them.
TEST(WireguardTemplate, OneTunnelPerPeerFromTheNodeConfig) {
    auto j = minimal();
    const std::string key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
    j["forwarding"] = {
        {"interfaces", {"eth0"}},
        {"tunnel", {{"private_key_file", "/etc/anyedge/wg.key"}, {"address", "203.0.113.101"}}},
        {"peers",
         {{{"name", "e2"},
           {"interface", "wg-e2"},
           {"endpoint", "192.0.2.19:51821"},
           {"public_key", key},
           {"listen_port", 51812},
           {"address", "203.0.113.102"}},
          {{"name", "e3"},
           {"interface", "wg-e3"},
           {"endpoint", "[2001:db8::34]:51831"},
           {"public_key", key},
           {"listen_port", 51813}}}}};
    auto c = parse_node_config(j.dump());
    ASSERT_TRUE(c) << c.error();
    auto files = render_wireguard_configs(*c);
    ASSERT_TRUE(files) << files.error();
    ASSERT_EQ(files->size(), 2u);
    const std::string& t = (*files)[0].text;
    EXPECT_EQ((*files)[0].interface, "wg-e2");
    for (const char* line :
         {"ListenPort = 51812\n", "Table = off\n",
          "PostUp = wg set %i private-key /etc/anyedge/wg.key\n",
          "PostUp = ip address add 203.0.113.101/32 peer 203.0.113.102/32 dev %i\n",
          "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n",
          "Endpoint = 192.0.2.19:51821\n", "AllowedIPs = 0.0.0.0/0, ::/0\n"}) {
        EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
    }
    EXPECT_EQ(t.find("PrivateKey"), std::string::npos) << "the key stays in its file";
    EXPECT_NE((*files)[1].text.find("Endpoint = [2001:db8::34]:51831"), std::string::npos);
    EXPECT_EQ((*files)[1].text.find("ip address add"), std::string::npos);  // no address given

    j["forwarding"]["peers"][1].erase("public_key");
    files = render_wireguard_configs(*parse_node_config(j.dump()));
    ASSERT_FALSE(files);
    EXPECT_NE(files.error().find("forwarding.peers[1].public_key"), std::string::npos);
    j["forwarding"]["peers"][1]["public_key"] = "not a key";
    EXPECT_NE(error_of(j).find("forwarding.peers[1].public_key"), std::string::npos);
    j["forwarding"]["peers"][1]["public_key"] = key;
    j["forwarding"]["peers"][1]["endpoint"] = "blog.example:51831";
    EXPECT_NE(error_of(j).find("forwarding.peers[1].endpoint"), std::string::npos);
}

TEST(NodeConfig, ErrorsNameTheKey) {
    struct Case {
        std::function<void(json&)> edit;
        const char* expect;
    };
    const std::vector<Case> cases = {
        {[](json& j) {
             j["checks"] = {{"interval_ms", "fast"}};
         },
         "checks.interval_ms: expected an integer"},
        {[](json& j) {
             j["checks"] = {{"intervall_ms", 100}};
         },
         "checks.intervall_ms: unknown key"},
        {[](json& j) { j["colour"] = "blue"; }, "colour: unknown key"},
        {[](json& j) { j.erase("node"); }, "node: missing"},
        {[](json& j) { j["anycast"]["ipv4"][0] = "203.0.113.300/32"; },
         "anycast.ipv4[0]: not an IPv4"},
        {[](json& j) { j["anycast"]["ipv6"][0] = "203.0.113.1/32"; },
         "anycast.ipv6[0]: not an IPv6"},
        {[](json& j) { j["bird"]["upstreams"][0]["neighbor"] = "router1"; },
         "bird.upstreams[0].neighbor: not an IP address"},
        {[](json& j) { j["bird"]["upstreams"][0]["name"] = "up-1"; }, "bird.upstreams[0].name"},
        {[](json& j) { j["bird"]["upstreams"][0]["as"] = 0; },
         "bird.upstreams[0].as: must be between"},
        {[](json& j) { j["bird"]["hold_time_s"] = 2; }, "bird.hold_time_s"},
        {[](json& j) { j["bird"]["keepalive_time_s"] = 2; }, "bird.keepalive_time_s"},
        {[](json& j) { j["bird"]["state_file"] = "/tmp/x\"; include \"/etc/passwd"; },
         "bird.state_file: contains a quote"},
        {[](json& j) {
             j["deprefer"] = {{"communities", {"65535:0"}}};
         },
         "deprefer.communities[0]"},
        {[](json& j) {
             j["deprefer"] = {{"prepend", 0}};
         },
         "deprefer: needs a prepend"},
        {[](json& j) { j["backend"] = "gobgp"; }, "backend: must be bird or exabgp"},
        {[](json& j) { j["edge"]["admin"] = "localhost"; }, "edge.admin"},
        {[](json& j) {
             j["checks"] = {{"canary", {{"address", "127.0.0.1:80"}}}};
         },
         "checks.canary: needs expected_etag or manifest_dir"},
        {[](json& j) {
             j["policy"] = {{"hold_down_ms", 10}, {"max_hold_down_ms", 5}};
         },
         "policy.max_hold_down_ms"},
        {[](json& j) {
             j["policy"] = {{"drain_hold_ms", 10001}};
         },
         "policy.drain_hold_ms: must be between 0 and 10000"},
        {[](json& j) {
             j["policy"] = {{"drain_hold_ms", 500}, {"drain_hold_lead_ms", 500}};
         },
         "policy.drain_hold_lead_ms: must be less than drain_hold_ms"},
        {[](json& j) { j["withdraw_on_exit"] = "yes"; },
         "withdraw_on_exit: expected true or false"},
    };
    for (const auto& c : cases) {
        json j = minimal();
        c.edit(j);
        std::string e = error_of(j);
        EXPECT_NE(e.find(c.expect), std::string::npos) << "got: '" << e << "' want: " << c.expect;
    }
    auto bad = parse_node_config("{\"node\": ");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("not valid JSON"), std::string::npos);
}

TEST(BirdTemplate, EdgeConfigHasTheSafetyProperties) {
    auto c = parse_node_config(minimal().dump());
    ASSERT_TRUE(c) << c.error();
    auto text = render_edge_bird_config(*c);
    ASSERT_TRUE(text) << text.error();
    for (const char* want :
         {"graceful restart off;", "hold time 3;", "keepalive time 1;", "bfd on;", "import none;",
          "export filter anycast_export4;", "if DRAIN = 3 then reject;",
          "bgp_community.add((65535, 0));", "include \"/var/lib/anyedge/bird-route-state.conf\";",
          "route 203.0.113.10/32 blackhole;", "route 2001:db8:a::10/128 blackhole;", "protocol bfd",
          "bgp_path.prepend(LOCAL_AS);"}) {
        EXPECT_NE(text->find(want), std::string::npos) << want;
    }
    EXPECT_EQ(text->find("graceful restart on"), std::string::npos);
    // An IPv4-only upstream list: the v6 prefix is still originated, no v6 session exists.
    EXPECT_EQ(text->find("ipv6 {"), std::string::npos);
}

TEST(BirdTemplate, NeedsRouterIdAsAndUpstreams) {
    json j = minimal();
    j["bird"].erase("router_id");
    auto c = parse_node_config(j.dump());
    ASSERT_TRUE(c);
    auto r = render_edge_bird_config(*c);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("bird.router_id"), std::string::npos);
}

TEST(BirdTemplate, UpstreamSnippetHonoursGracefulShutdown) {
    auto c = parse_node_config(minimal().dump());
    ASSERT_TRUE(c);
    auto s = render_upstream_snippet(*c);
    EXPECT_NE(s.find("if (65535, 0) ~ bgp_community then bgp_local_pref = 0;"), std::string::npos);
    EXPECT_NE(s.find("203.0.113.10/32"), std::string::npos);
    EXPECT_NE(s.find("2001:db8:a::10/128"), std::string::npos);
}

}  // namespace
}  // namespace anyedge::hooks
