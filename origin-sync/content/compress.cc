#include "origin-sync/content/compress.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>

#include <zstd.h>

namespace anyedge {

Result<std::string> brotli_compress(std::string_view in, Effort effort) {
    // Quality 11 is slow; past a few MB the gain is small, so big files use 9.
    int quality = in.size() > (4u << 20) ? 9 : BROTLI_MAX_QUALITY;
    if (effort == Effort::kFast) quality = 5;
    size_t out_size = BrotliEncoderMaxCompressedSize(in.size());
    if (out_size == 0) out_size = in.size() + 1024;
    std::string out(out_size, '\0');
    if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in.size(),
                               reinterpret_cast<const uint8_t*>(in.data()), &out_size,
                               reinterpret_cast<uint8_t*>(out.data()))) {
        return make_error("brotli compression failed");
    }
    out.resize(out_size);
    return out;
}

Result<std::string> gzip_compress(std::string_view in, Effort effort) {
    z_stream zs{};
    const int level = effort == Effort::kFast ? 6 : Z_BEST_COMPRESSION;
    // windowBits 15 + 16: zlib writes a gzip header (mtime 0, no name) and trailer.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        return make_error("gzip: deflateInit2 failed");
    }
    std::string out(deflateBound(&zs, in.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) return make_error("gzip: deflate failed");
    out.resize(produced);
    return out;
}

Result<std::string> zstd_compress(std::string_view in, Effort effort) {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    if (cctx == nullptr) return make_error("zstd: out of memory");
    // Levels up to 19 keep zstd's window at 8 MiB or less, as HTTP's "zstd" coding requires
    // (RFC 9659 §3); 20-22 ("ultra") would not.
    // As for brotli, big files take a cheaper level: 19 runs at a few MB/s.
    int level = in.size() > (4u << 20) ? 9 : 19;
    if (effort == Effort::kFast) level = 3;
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(n)) n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    if (!ZSTD_isError(n)) n = ZSTD_compress2(cctx, out.data(), out.size(), in.data(), in.size());
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) return make_error(std::string("zstd: ") + ZSTD_getErrorName(n));
    out.resize(n);
    return out;
}

Result<std::string> zstd_decompress(std::string_view in) {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (dctx == nullptr) return make_error("zstd: out of memory");
    // The same window bound a browser applies (RFC 9659 §3).
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 23);
    std::string out;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    size_t rc = 0;
    for (;;) {
        char buf[16384];
        ZSTD_outBuffer output{buf, sizeof buf, 0};
        rc = ZSTD_decompressStream(dctx, &output, &input);
        if (ZSTD_isError(rc)) break;
        out.append(buf, output.pos);
        if (rc == 0 && input.pos == input.size) break;                   // every frame decoded
        if (input.pos == input.size && output.pos < output.size) break;  // wants more input
    }
    ZSTD_freeDCtx(dctx);
    if (ZSTD_isError(rc)) return make_error(std::string("zstd: ") + ZSTD_getErrorName(rc));
    if (rc != 0) return make_error("zstd: truncated frame");
    return out;
}

Result<std::string> brotli_decompress(std::string_view in) {
    BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (!st) return make_error("brotli: out of memory");
    std::string out;
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    BrotliDecoderResult r;
    do {
        uint8_t buf[16384];
        size_t avail_out = sizeof buf;
        uint8_t* next_out = buf;
        r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
        out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
    } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
    BrotliDecoderDestroyInstance(st);
    if (r != BROTLI_DECODER_RESULT_SUCCESS) return make_error("brotli: corrupt stream");
    return out;
}

Result<std::string> gzip_decompress(std::string_view in) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return make_error("gzip: inflateInit2 failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::string out;
    int rc;
    do {
        char buf[16384];
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
    } while (rc == Z_OK);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) return make_error("gzip: corrupt stream");
    return out;
}

}  // namespace anyedge
