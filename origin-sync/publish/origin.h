// Where `cdnctl publish` writes: an Origin holds the content tree of DESIGN.md ("objects/",
// "generations/", "current"). LocalOrigin is a directory on this machine (served to the nodes
// by any static HTTP server). Paths are relative to the tree root ("objects/sha256/ab/...").
//
// Contract: put() makes an object visible only when it is complete (LocalOrigin: tmp + fsync +
// rename). Single-threaded use by one publisher; lock() excludes concurrent publishers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::publish {

class Origin {
  public:
    virtual ~Origin() = default;
    virtual std::string describe() const = 0;
    // Takes an exclusive publish lock held until the Origin is destroyed.
    virtual Status lock() = 0;
    // The object's bytes, or nullopt when it does not exist.
    virtual Result<std::optional<std::string>> get(const std::string& rel) = 0;
    virtual Result<bool> exists(const std::string& rel) = 0;
    virtual Status put(const std::string& rel, std::string_view bytes) = 0;
    // Generation numbers with a manifest at the origin, when the origin can list them (a
    // directory can; plain HTTP cannot, and returns an empty list).
    virtual std::vector<uint64_t> list_generations() = 0;
};

class LocalOrigin : public Origin {
  public:
    explicit LocalOrigin(std::filesystem::path root) : root_(std::move(root)) {}
    ~LocalOrigin() override;
    std::string describe() const override { return root_.string(); }
    Status lock() override;
    Result<std::optional<std::string>> get(const std::string& rel) override;
    Result<bool> exists(const std::string& rel) override;
    Status put(const std::string& rel, std::string_view bytes) override;
    std::vector<uint64_t> list_generations() override;

  private:
    std::filesystem::path root_;
    int lock_fd_ = -1;
};

}  // namespace anyedge::publish
