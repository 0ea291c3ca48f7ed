// MappedFile: a read-only mmap of a whole file (RAII). Large site files live here so that a
// response points straight into the page cache and is never copied per request.
#pragma once

#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge::cache {

class MappedFile {
  public:
    static Result<MappedFile> open(const std::string& path);
    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::string_view bytes() const { return {static_cast<const char*>(addr_), size_}; }

  private:
    void* addr_ = nullptr;
    size_t size_ = 0;
};

}  // namespace anyedge::cache
