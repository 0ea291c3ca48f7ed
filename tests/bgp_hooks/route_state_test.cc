// Route state file rendering, parsing and atomic writing; the ExaBGP line backend.
#include "bgp-hooks/policy/route_state.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "bgp-hooks/policy/backend.h"

namespace anyedge::policy {
namespace {

namespace fs = std::filesystem;

TEST(RouteStateFile, RoundTripsEveryState) {
    for (auto s : {RouteState::announce, RouteState::deprefer, RouteState::graceful_shutdown,
                   RouteState::withdraw}) {
        auto text = render_state_file(s, "why\nnot");
        EXPECT_EQ(parse_state_file(text), s) << text;
        EXPECT_NE(text.find("define DRAIN = " + std::to_string(static_cast<int>(s)) + ";\n"),
                  std::string::npos);
        EXPECT_NE(text.find("# reason: why not\n"), std::string::npos);
        EXPECT_EQ(route_state_from_string(to_string(s)), s);
    }
}

TEST(RouteStateFile, RejectsMalformed) {
    EXPECT_FALSE(parse_state_file("").has_value());
    EXPECT_FALSE(parse_state_file("define DRAIN = 7;\n").has_value());
    EXPECT_FALSE(parse_state_file("define DRAIN = ;\n").has_value());
    EXPECT_FALSE(parse_state_file("# define DRAIN = 1;\n").has_value());
    EXPECT_FALSE(route_state_from_string("announced").has_value());
}

TEST(ExabgpBackend, LinesPerState) {
    std::ostringstream out;
    ExabgpBackend b(out, {"203.0.113.10/32", "2001:db8:a::10/128"}, 64600,
                    DepreferConfig{2, {"64600:100"}});
    EXPECT_EQ(b.lines(RouteState::announce)[0], "announce route 203.0.113.10/32 next-hop self");
    EXPECT_EQ(b.lines(RouteState::withdraw)[1], "withdraw route 2001:db8:a::10/128 next-hop self");
    EXPECT_EQ(b.lines(RouteState::graceful_shutdown)[0],
              "announce route 203.0.113.10/32 next-hop self community [65535:0]");
    EXPECT_EQ(b.lines(RouteState::deprefer)[0],
              "announce route 203.0.113.10/32 next-hop self as-path [64600 64600] "
              "community [64600:100]");
    ASSERT_TRUE(b.apply(RouteState::withdraw, "start").ok());
    ASSERT_TRUE(b.apply(RouteState::withdraw, "again").ok());  // no duplicate lines
    ASSERT_TRUE(b.apply(RouteState::announce, "healthy").ok());
    EXPECT_EQ(out.str(),
              "withdraw route 203.0.113.10/32 next-hop self\n"
              "withdraw route 2001:db8:a::10/128 next-hop self\n"
              "announce route 203.0.113.10/32 next-hop self\n"
              "announce route 2001:db8:a::10/128 next-hop self\n");
}

TEST(Community, Validation) {
    EXPECT_TRUE(valid_community("65535:0"));
    EXPECT_TRUE(valid_community("64512:100"));
    EXPECT_FALSE(valid_community("65536:0"));
    EXPECT_FALSE(valid_community("1:"));
    EXPECT_FALSE(valid_community(":1"));
    EXPECT_FALSE(valid_community("1:2:3"));
    EXPECT_FALSE(valid_community("a:b"));
}

}  // namespace
}  // namespace anyedge::policy
