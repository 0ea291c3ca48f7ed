// The health checker's pure parts: the edge's /status JSON and ETag normalization.
#include <gtest/gtest.h>

#include "bgp-hooks/health/checker.h"

namespace anyedge::health {
namespace {

TEST(EdgeStatus, Parse) {
    auto s = parse_edge_status(
        R"({"node":"e1","generation":12,"generation_age_s":3.5,"open_connections":4,)"
        R"("drain":{"state":"draining","in_flight":2,"last_accept_age_ms":40}})");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->generation, 12u);
    EXPECT_DOUBLE_EQ(s->generation_age_s, 3.5);
    EXPECT_EQ(s->drain, policy::EdgeDrain::draining);
    EXPECT_EQ(s->drain_detail, "in_flight=2 open_connections=4 last_accept_age_ms=40");
    EXPECT_FALSE(parse_edge_status(R"({"drain":{"state":"sleeping"}})"));
    EXPECT_FALSE(parse_edge_status("[1]"));
}

}  // namespace
}  // namespace anyedge::health
