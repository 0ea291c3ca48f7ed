#include "origin-sync/replicate/fleet_status.h"

#include <gtest/gtest.h>

namespace anyedge::replicate {
namespace {

TEST(ParseUrl, Forms) {
    auto u = parse_url("https://origin.example/site");
    ASSERT_TRUE(u.ok()) << u.error();
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->host, "origin.example");
    EXPECT_EQ(u->port, "443");
    EXPECT_EQ(u->path, "/site/");
    u = parse_url("127.0.0.1:9000");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->port, "9000");
    EXPECT_EQ(u->path, "/");
    u = parse_url("http://[::1]:8080/");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, "8080");
    EXPECT_FALSE(parse_url("ftp://x/").ok());
    EXPECT_FALSE(parse_url("http://:80/").ok());
    EXPECT_FALSE(parse_url("http://host:8x/").ok());
}

TEST(NodeStatus, ParsesAdminAnswer) {
    HttpResponse r;
    r.status = 200;
    r.body = R"({"node":"edge-a","generation":7,"generation_age_s":12.5,"healthy":true,
                 "sync":{"last_error":"blob x: HTTP 404"}})";
    NodeStatus s = parse_node_status("http://127.0.0.1:1", r);
    EXPECT_TRUE(s.reachable);
    EXPECT_EQ(s.node, "edge-a");
    EXPECT_EQ(s.generation, 7u);
    EXPECT_DOUBLE_EQ(s.generation_age_s, 12.5);
    EXPECT_TRUE(s.healthy);
    EXPECT_EQ(s.sync_error, "blob x: HTTP 404");
    std::string table = format_status_table({s});
    EXPECT_NE(table.find("edge-a"), std::string::npos);
    EXPECT_NE(table.find("healthy"), std::string::npos);
    EXPECT_NE(table.find("blob x: HTTP 404"), std::string::npos);
}

TEST(NodeStatus, UnreachableAndBadAnswers) {
    NodeStatus down = parse_node_status("n1", Error{"connection refused"});
    EXPECT_FALSE(down.reachable);
    EXPECT_EQ(down.error, "connection refused");
    EXPECT_NE(format_status_table({down}).find("DOWN"), std::string::npos);
    HttpResponse r;
    r.status = 503;
    EXPECT_FALSE(parse_node_status("n", r).reachable);
    r.status = 200;
    r.body = "not json";
    EXPECT_FALSE(parse_node_status("n", r).reachable);
    r.body = R"({"generation":"seven"})";
    NodeStatus odd = parse_node_status("n", r);
    EXPECT_TRUE(odd.reachable);
    EXPECT_EQ(odd.generation, 0u);
    EXPECT_FALSE(odd.healthy);
}

}  // namespace
}  // namespace anyedge::replicate
