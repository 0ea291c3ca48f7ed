#include "tests/fuzz/fuzz_tls_context.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "edge/tls/self_signed.h"

namespace anyedge::fuzz {

tls::TlsContext& fuzz_server_context() {
    static std::unique_ptr<tls::TlsContext> ctx = [] {
        const auto dir = std::filesystem::temp_directory_path() /
                         ("anyedge-fuzz-tls-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        const std::string crt = (dir / "c.pem").string(), key = (dir / "k.pem").string();
        if (!tls::generate_self_signed(crt, key).ok()) std::abort();
        tls::TlsConfig config;
        config.certificates = {{crt, key, {}}};
        config.alpn = {"h2", "http/1.1"};
        auto made = tls::TlsContext::create(config);
        std::filesystem::remove_all(dir);
        if (!made.ok()) std::abort();
        return std::move(*made);
    }();
    return *ctx;
}

}  // namespace anyedge::fuzz
