#include "origin-sync/replicate/fleet_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "origin-sync/base/file_io.h"
#include "origin-sync/replicate/node_drain.h"

namespace anyedge::replicate {
namespace {

TEST(ParseUrl, Forms) {
    auto u = net::parse_url("https://origin.example/site");
    ASSERT_TRUE(u.ok()) << u.error();
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->host, "origin.example");
    EXPECT_EQ(u->port, "443");
    EXPECT_EQ(u->path, "/site/");
    u = net::parse_url("127.0.0.1:9000");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->port, "9000");
    EXPECT_EQ(u->path, "/");
    u = net::parse_url("http://[::1]:8080/");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, "8080");
    EXPECT_FALSE(net::parse_url("ftp://x/").ok());
    EXPECT_FALSE(net::parse_url("http://:80/").ok());
    EXPECT_FALSE(net::parse_url("http://host:8x/").ok());
}

TEST(NodeStatus, ParsesAdminAnswer) {
    net::HttpResponse r;
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
    net::HttpResponse r;
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

// The edge relays cdn-sync's sync-status.json as "sync"; older edges (or --site) do not.
TEST(NodeStatus, SyncObjectPresentOrAbsent) {
    net::HttpResponse r;
    r.status = 200;
    r.body = R"({"node":"n1","generation":4,"healthy":true,"drain":{"state":"draining"},
                 "sync":{"state":"error","last_error":"GET current: Connection refused",
                         "staged_generation":5,"stale":false,"live_generation":4}})";
    NodeStatus s = parse_node_status("u", r);
    EXPECT_TRUE(s.has_sync);
    EXPECT_EQ(s.sync_state, "error");
    EXPECT_EQ(s.staged_generation, 5u);
    EXPECT_EQ(s.drain_state, "draining");
    std::string table = format_status_table({s});
    EXPECT_NE(table.find("sync: GET current: Connection refused"), std::string::npos) << table;
    EXPECT_NE(table.find("draining"), std::string::npos) << table;

    r.body = R"({"node":"n1","generation":4,"healthy":true,"sync":{"stale":true,"state":"ok"}})";
    s = parse_node_status("u", r);
    EXPECT_TRUE(s.stale);
    EXPECT_NE(format_status_table({s}).find("STALE"), std::string::npos);

    r.body = R"({"node":"n1","generation":4,"healthy":true,"last_reload_error":"blob missing"})";
    s = parse_node_status("u", r);
    EXPECT_FALSE(s.has_sync);
    EXPECT_EQ(s.sync_error, "");
    table = format_status_table({s});
    EXPECT_NE(table.find("reload: blob missing"), std::string::npos) << table;
    EXPECT_NE(table.find(" - "), std::string::npos) << table;  // no sync column value

    // Certificate facts: the earliest expiry served, install and issuer errors; mistyped
    // members (an older or a corrupt cdn-sync) are "not reported", never a crash.
    r.body = R"({"node":"n1","generation":4,"healthy":true,
                 "tls":{"certificates":[{"not_after":4102444800},{"not_after":4000000000},
                                        {"not_after":"soon"},7]},
                 "sync":{"state":"ok","certificate":{"error":"no key sealed to node n1",
                                                     "issuer":{"error":"HTTP 429: rateLimited"}}}})";
    s = parse_node_status("u", r);
    EXPECT_EQ(s.cert_not_after, 4000000000);
    EXPECT_EQ(s.cert_error, "no key sealed to node n1");
    EXPECT_EQ(s.issuer_error, "HTTP 429: rateLimited");
    table = format_status_table({s});
    EXPECT_NE(table.find("certificate: no key sealed to node n1"), std::string::npos) << table;
    EXPECT_NE(table.find("issuer: HTTP 429: rateLimited"), std::string::npos) << table;
    r.body = R"({"node":"n1","generation":4,"tls":{"certificates":"none"},
                 "sync":{"certificate":{"error":12,"issuer":{"error":["x"]}}}})";
    s = parse_node_status("u", r);
    EXPECT_TRUE(s.reachable);
    EXPECT_EQ(s.cert_not_after, 0);
    EXPECT_EQ(s.cert_error, "");
    EXPECT_EQ(s.issuer_error, "");

    r.body = R"({"node":"n1","generation":4,"sync":"garbage","drain":7})";
    s = parse_node_status("u", r);
    EXPECT_TRUE(s.reachable);
    EXPECT_FALSE(s.has_sync);
    EXPECT_EQ(s.drain_state, "");
}

// Stray forwarding as the edge relays it from cdn-hooks: shown in its column, and a forwarder
// that is down is named with its reason (the node still serves).
TEST(NodeStatus, Forwarding) {
    net::HttpResponse r;
    r.status = 200;
    r.body = R"({"node":"n1","generation":4,"healthy":true,
                 "forwarding":{"state":"active","detail":"","peers":[]}})";
    NodeStatus s = parse_node_status("u", r);
    EXPECT_EQ(s.forwarding_state, "active");
    EXPECT_FALSE(forwarding_failing(s));
    std::string table = format_status_table({s});
    EXPECT_NE(table.find("FORWARD"), std::string::npos) << table;
    EXPECT_NE(table.find(" active "), std::string::npos) << table;

    r.body = R"({"node":"n1","generation":4,"healthy":true,
                 "forwarding":{"state":"degraded","detail":"peer e2: wg-e2: down"}})";
    s = parse_node_status("u", r);
    EXPECT_TRUE(forwarding_failing(s));
    table = format_status_table({s});
    EXPECT_NE(table.find("DEGRADED"), std::string::npos) << table;
    EXPECT_NE(table.find("forwarding: peer e2: wg-e2: down"), std::string::npos) << table;

    r.body = R"({"node":"n1","generation":4,"healthy":true})";  // not configured
    s = parse_node_status("u", r);
    EXPECT_EQ(s.forwarding_state, "");
    EXPECT_FALSE(forwarding_failing(s));
}

TEST(Drain, ParsesStatusAndNamesTheBlocker) {
    net::HttpResponse r;
    r.status = 200;
    r.body = R"({"drain":{"state":"draining","in_flight":3,"open_connections":2,
                 "last_accept_age_ms":150}})";
    auto s = parse_drain_status(r);
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(s->state, "draining");
    EXPECT_EQ(s->in_flight, 3u);
    EXPECT_EQ(s->open_connections, 2u);
    EXPECT_EQ(s->last_accept_age_ms, 150);
    std::string why = drain_blocker(*s);
    EXPECT_NE(why.find("3 requests still in flight"), std::string::npos) << why;
    EXPECT_NE(why.find("new connections still arriving (last one 150 ms ago)"), std::string::npos)
        << why;
    EXPECT_NE(why.find("2 connections open"), std::string::npos) << why;

    s->in_flight = 1;
    s->last_accept_age_ms = -1;  // no connection since the edge started
    s->open_connections = 0;
    EXPECT_EQ(drain_blocker(*s), "1 request still in flight");
    s->state = "drained";
    EXPECT_EQ(drain_blocker(*s), "");
    s->state = "serving";
    EXPECT_NE(drain_blocker(*s).find("not draining"), std::string::npos);
}

TEST(Drain, RefusesUnusableAnswers) {
    EXPECT_FALSE(parse_drain_status(Error{"connection refused"}).ok());
    net::HttpResponse r;
    r.status = 500;
    EXPECT_FALSE(parse_drain_status(r).ok());
    r.status = 200;
    r.body = "[]";
    EXPECT_FALSE(parse_drain_status(r).ok());
    r.body = R"({"generation":1})";
    auto s = parse_drain_status(r);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().find("no drain state"), std::string::npos);
    r.body = R"({"drain":{"in_flight":0}})";
    EXPECT_FALSE(parse_drain_status(r).ok());
    // open_connections may come from the top level of older answers.
    r.body = R"({"open_connections":4,"drain":{"state":"draining"}})";
    s = parse_drain_status(r);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->open_connections, 4u);
}

TEST(Drain, TokenFile) {
    char tmpl[] = "/tmp/anyedge-token-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "s3cret \n", 8), 8);
    ::close(fd);
    auto t = read_token_file(tmpl);
    ASSERT_TRUE(t.ok()) << t.error();
    EXPECT_EQ(*t, "s3cret");
    fd = ::open(tmpl, O_WRONLY | O_TRUNC);
    ::close(fd);
    EXPECT_FALSE(read_token_file(tmpl).ok());
    ::unlink(tmpl);
    EXPECT_FALSE(read_token_file(tmpl).ok());
}

}  // namespace
}  // namespace anyedge::replicate
