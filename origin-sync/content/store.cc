#include "origin-sync/content/store.h"

#include <algorithm>
#include <set>

#include "origin-sync/content/digest.h"
#include "origin-sync/content/signing.h"

namespace anyedge {

fs::path blob_path(const fs::path& root, std::string_view sha) { return root / blob_url_path(sha); }

std::string blob_url_path(std::string_view sha) {
    std::string s(sha);
    if (s.size() < 3) return "objects/sha256/" + s;
    return "objects/sha256/" + s.substr(0, 2) + "/" + s.substr(2);
}

std::string manifest_url_path(uint64_t generation) {
    return "generations/" + std::to_string(generation) + ".json";
}

fs::path manifest_path(const fs::path& root, uint64_t generation) {
    return root / manifest_url_path(generation);
}

fs::path manifest_sig_path(const fs::path& root, uint64_t generation) {
    return root / (manifest_url_path(generation) + ".sig");
}

fs::path current_file_path(const fs::path& root) { return root / "current"; }
fs::path current_sig_path(const fs::path& root) { return root / "current.sig"; }
fs::path next_file_path(const fs::path& root) { return root / "next"; }
fs::path next_sig_path(const fs::path& root) { return root / "next.sig"; }

std::vector<uint64_t> list_generations(const fs::path& root) {
    std::vector<uint64_t> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root / "generations", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (!name.ends_with(".json")) continue;
        std::string num = name.substr(0, name.size() - 5);
        if (num.empty() || num.size() > 19 ||
            num.find_first_not_of("0123456789") != std::string::npos || num[0] == '0') {
            continue;
        }
        out.push_back(std::stoull(num));
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Manifests of a few hundred thousand files stay well below this.
constexpr uint64_t kMaxManifestBytes = 256ull << 20;
constexpr uint64_t kMaxPointerBytes = 64 << 10;

Result<Generation> load_generation(const fs::path& state_dir, uint64_t generation,
                                   const std::string* expected_sha256, const VerifyKey* key) {
    fs::path p = manifest_path(state_dir, generation);
    auto bytes = read_file(p, kMaxManifestBytes);
    if (!bytes) return bytes.forward_error();
    if (expected_sha256 && sha256_hex(*bytes) != *expected_sha256) {
        return make_error(p.string() + ": hash does not match current.manifest_sha256");
    }
    if (key) {
        auto sig = read_file(manifest_sig_path(state_dir, generation), kMaxPointerBytes);
        if (!sig) return sig.forward_error();
        if (Status s = key->verify(*bytes, *sig); !s) {
            return make_error(p.string() + ": " + s.error());
        }
    }
    auto m = parse_manifest(*bytes);
    if (!m) return make_error(p.string() + ": " + m.error());
    if (m->generation != generation) {
        return make_error(p.string() + ": carries generation " + std::to_string(m->generation));
    }
    return Generation{std::move(*m), std::move(*bytes)};
}

Result<LiveGeneration> load_live_generation(const fs::path& state_dir, const VerifyKey* key) {
    fs::path cp = current_file_path(state_dir);
    auto cur_bytes = read_file(cp, kMaxPointerBytes);
    if (!cur_bytes) return cur_bytes.forward_error();
    if (key) {
        auto sig = read_file(current_sig_path(state_dir), kMaxPointerBytes);
        if (!sig) return sig.forward_error();
        if (Status s = key->verify(*cur_bytes, *sig); !s) {
            return make_error(cp.string() + ": " + s.error());
        }
    }
    auto cur = parse_current(*cur_bytes);
    if (!cur) return make_error(cp.string() + ": " + cur.error());
    auto gen = load_generation(state_dir, cur->generation, &cur->manifest_sha256, key);
    if (!gen) return gen.forward_error();
    return LiveGeneration{std::move(*cur), std::move(gen->manifest),
                          std::move(gen->manifest_bytes)};
}

Result<Generation> load_previous_generation(const fs::path& state_dir, const Manifest& live,
                                            const VerifyKey* key) {
    if (live.parent == 0) {
        return make_error("generation " + std::to_string(live.generation) + " has no parent");
    }
    return load_generation(state_dir, live.parent, nullptr, key);
}

std::vector<std::string> referenced_blobs(const Manifest& m) {
    std::set<std::string> seen;
    for (const auto& [_, f] : m.files) {
        seen.insert(f.sha256);
        for (const auto& [__, sha] : f.encodings) seen.insert(sha);
    }
    return {seen.begin(), seen.end()};
}

Status check_blobs(const fs::path& root, const Manifest& m) {
    for (const auto& [path, f] : m.files) {
        std::error_code ec;
        auto size = fs::file_size(blob_path(root, f.sha256), ec);
        if (ec) return make_error("blob " + f.sha256 + " of " + path + " is missing");
        if (size != f.size) {
            return make_error("blob " + f.sha256 + " of " + path + " has size " +
                              std::to_string(size) + ", manifest says " + std::to_string(f.size));
        }
        for (const auto& [enc, sha] : f.encodings) {
            if (!fs::exists(blob_path(root, sha), ec)) {
                return make_error(enc + " blob " + sha + " of " + path + " is missing");
            }
        }
    }
    return ok_status();
}

}  // namespace anyedge
