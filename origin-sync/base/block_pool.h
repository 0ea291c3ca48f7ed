// block_pool: per-thread free lists of small blocks, for the C libraries that allocate and free
// a handful of small objects per request (nghttp2's streams and frame items, ngtcp2's packet
// records, nghttp3's stream state) through a malloc-like hook of theirs.
//
// Why: under load those objects outnumber glibc's per-thread cache (7 blocks per size), so most
// frees and mallocs took glibc's slower arena path. Here a block goes back to its thread's list
// and the next request of its size class takes it, in a few instructions.
// Bounds: sizes up to kLargestPooled bytes are pooled, in power-of-two classes; each class keeps
// at most kCachedBytesPerClass bytes of free blocks, so a thread caches under 200 KB, however
// busy it was. Larger requests go to malloc.
// Threads: any; a block may be freed on another thread than the one that took it (it joins that
// thread's list). A thread's cached blocks are freed when it exits.
// Under AddressSanitizer every call goes straight to malloc and free, so that the sanitizer still
// sees each use after free.
#pragma once

#include <cstddef>

namespace anyedge {

constexpr std::size_t kLargestPooled = 2048;
constexpr std::size_t kCachedBytesPerClass = 24 * 1024;

// The malloc family, for blocks that only these functions free and resize. nullptr when memory
// runs out (block_malloc(0) returns a valid, freeable block).
void* block_malloc(std::size_t size);
void* block_calloc(std::size_t count, std::size_t size);
void* block_realloc(void* block, std::size_t size);
void block_free(void* block);

// The pool as a C library's allocator struct: nghttp2_mem, ngtcp2_mem and nghttp3_mem all take
// {user data, malloc, free, calloc, realloc}, each hook with the user data last.
template <class Mem>
Mem block_pool_hooks() {
    return Mem{
        nullptr,
        [](std::size_t size, void*) { return block_malloc(size); },
        [](void* block, void*) { block_free(block); },
        [](std::size_t count, std::size_t size, void*) { return block_calloc(count, size); },
        [](void* block, std::size_t size, void*) { return block_realloc(block, size); },
    };
}

// Blocks of each size class now cached by the calling thread (for tests).
std::size_t block_pool_cached(std::size_t size);

}  // namespace anyedge
