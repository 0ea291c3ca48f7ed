#include "origin-sync/base/block_pool.h"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#if defined(__SANITIZE_ADDRESS__)
#define ANYEDGE_BLOCK_POOL_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ANYEDGE_BLOCK_POOL_PASSTHROUGH 1
#endif
#endif

namespace anyedge {

#if defined(ANYEDGE_BLOCK_POOL_PASSTHROUGH)

void* block_malloc(std::size_t size) { return std::malloc(size); }
void* block_calloc(std::size_t count, std::size_t size) {
    // Refused here as in the pool: ASan's calloc aborts on an overflowing product.
    if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) return nullptr;
    return std::calloc(count, size);
}
void* block_realloc(void* block, std::size_t size) { return std::realloc(block, size); }
void block_free(void* block) { std::free(block); }
std::size_t block_pool_cached(std::size_t) { return 0; }

#else

namespace {

// Every block starts with a header that names its class, so that free needs no size; 16 bytes
// keep the caller's part as aligned as malloc's.
constexpr std::size_t kHeader = 16;
constexpr std::size_t kSmallest = 32;  // class 0 holds up to 32 bytes, class k up to 32 << k
constexpr std::size_t kClasses = 7;    // ... up to 2048
constexpr std::uint32_t kUnpooled = std::numeric_limits<std::uint32_t>::max();
static_assert((kSmallest << (kClasses - 1)) == kLargestPooled);

struct Header {
    std::uint32_t size_class;
};

struct FreeBlock {
    FreeBlock* next;
};

// Plain data, so that it stays usable while other thread-local objects are destroyed (a C
// library's object freed from one of their destructors); the guard below empties it.
struct Lists {
    FreeBlock* head[kClasses];
    std::size_t count[kClasses];
    bool closed;  // the thread is exiting: free to malloc from now on
};

thread_local Lists lists{};

struct ListsGuard {
    ~ListsGuard() {
        for (std::size_t c = 0; c < kClasses; ++c) {
            while (FreeBlock* b = lists.head[c]) {
                lists.head[c] = b->next;
                std::free(reinterpret_cast<char*>(b) - kHeader);
            }
            lists.count[c] = 0;
        }
        lists.closed = true;
    }
};

thread_local ListsGuard guard;

// The smallest class whose blocks hold `size` (at most kLargestPooled) bytes.
std::size_t class_of(std::size_t size) {
    if (size <= kSmallest) return 0;
    return static_cast<std::size_t>(std::bit_width(size - 1)) - std::bit_width(kSmallest - 1);
}

std::size_t capacity_of(std::uint32_t size_class) { return kSmallest << size_class; }

// Blocks a class may cache: kCachedBytesPerClass of them (a shift, not a division: free is hot).
std::size_t cache_limit(std::size_t size_class) {
    return (kCachedBytesPerClass / kSmallest) >> size_class;
}

Header* header_of(void* block) {
    return reinterpret_cast<Header*>(static_cast<char*>(block) - kHeader);
}

void* with_header(void* raw, std::uint32_t size_class) {
    if (raw == nullptr) return nullptr;
    static_cast<Header*>(raw)->size_class = size_class;
    return static_cast<char*>(raw) + kHeader;
}

}  // namespace

void* block_malloc(std::size_t size) {
    if (size > kLargestPooled) {
        if (size > std::numeric_limits<std::size_t>::max() - kHeader) return nullptr;
        return with_header(std::malloc(kHeader + size), kUnpooled);
    }
    const std::size_t c = class_of(size);
    if (FreeBlock* b = lists.head[c]) {
        lists.head[c] = b->next;
        --lists.count[c];
        return b;
    }
    (void)&guard;  // constructed on this thread's first new block, so that its list is freed
    return with_header(std::malloc(kHeader + capacity_of(static_cast<std::uint32_t>(c))),
                       static_cast<std::uint32_t>(c));
}

void* block_calloc(std::size_t count, std::size_t size) {
    if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) return nullptr;
    void* block = block_malloc(count * size);
    if (block != nullptr) std::memset(block, 0, count * size);
    return block;
}

void block_free(void* block) {
    if (block == nullptr) return;
    const std::uint32_t c = header_of(block)->size_class;
    if (c == kUnpooled || lists.closed || lists.count[c] >= cache_limit(c)) {
        std::free(header_of(block));
        return;
    }
    if (lists.count[c] == 0) (void)&guard;  // a thread that only frees still empties its lists
    auto* b = static_cast<FreeBlock*>(block);
    b->next = lists.head[c];
    lists.head[c] = b;
    ++lists.count[c];
}

void* block_realloc(void* block, std::size_t size) {
    if (block == nullptr) return block_malloc(size);
    const std::uint32_t c = header_of(block)->size_class;
    if (c != kUnpooled && size <= capacity_of(c)) return block;
    if (c == kUnpooled && size > kLargestPooled) {
        if (size > std::numeric_limits<std::size_t>::max() - kHeader) return nullptr;
        return with_header(std::realloc(header_of(block), kHeader + size), kUnpooled);
    }
    void* grown = block_malloc(size);
    if (grown == nullptr) return nullptr;
    // The old block's usable size: its class's capacity, or for an unpooled one what malloc
    // gave (at least what was asked, and it was asked for more than kLargestPooled).
    const std::size_t old = c == kUnpooled ? kLargestPooled : capacity_of(c);
    std::memcpy(grown, block, old < size ? old : size);
    block_free(block);
    return grown;
}

std::size_t block_pool_cached(std::size_t size) {
    return size > kLargestPooled ? 0 : lists.count[class_of(size)];
}

#endif

}  // namespace anyedge
