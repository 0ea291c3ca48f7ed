#include "edge/http/mime.h"

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

TEST(Mime, ByExtension) {
    const std::pair<const char*, const char*> cases[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"/post/a/INDEX.HTML", "text/html; charset=utf-8"},
        {"style.936e26fd.css", "text/css; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"feed.xml", "application/xml; charset=utf-8"},
        {"a.svg", "image/svg+xml; charset=utf-8"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.JPEG", "image/jpeg"},
        {"favicon.ico", "image/x-icon"},
        {"robots.txt", "text/plain; charset=utf-8"},
        {"font.woff2", "font/woff2"},
        {"data.json", "application/json"},
        {"noext", "application/octet-stream"},
        {"trailing.", "application/octet-stream"},
        {"dir.d/file", "application/octet-stream"},
        {"x.unknownext", "application/octet-stream"},
    };
    for (const auto& [name, type] : cases) EXPECT_EQ(mime_type_for(name), type) << name;
}

TEST(Mime, Compressible) {
    EXPECT_TRUE(is_compressible("text/html; charset=utf-8"));
    EXPECT_TRUE(is_compressible("image/svg+xml; charset=utf-8"));
    EXPECT_TRUE(is_compressible("application/json"));
    EXPECT_FALSE(is_compressible("image/png"));
    EXPECT_FALSE(is_compressible("image/jpeg"));
    EXPECT_FALSE(is_compressible("font/woff2"));
}

}  // namespace
}  // namespace anyedge::http
