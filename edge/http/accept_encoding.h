// accept_encoding: content-coding negotiation (RFC 9110 §12.5.3) among the precompressed
// variants a file may have.
//
// Owns: parsing Accept-Encoding with qvalues and choosing br, zstd, gzip or identity.
// Invariants: pure, no allocation (runs on every request); qvalues are kept as integer
// thousandths so that ties are exact.
// Threads: any.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace anyedge::http {

enum class ContentCoding : std::uint8_t { identity = 0, gzip = 1, br = 2, zstd = 3 };

// The token sent in Content-Encoding ("" for identity, which is never sent).
std::string_view content_coding_token(ContentCoding coding);
// The coding a variant's name ("br", "zstd", "gzip") stands for; nullopt for any other.
std::optional<ContentCoding> content_coding_of(std::string_view token);

// A set of codings, e.g. the variants present for a file, each with its size in bytes (0 when
// unknown), which breaks ties between equally weighted codings.
class CodingSet {
  public:
    constexpr CodingSet() = default;
    constexpr CodingSet(std::initializer_list<ContentCoding> codings) {
        for (ContentCoding c : codings) {
            add(c);
        }
    }
    constexpr void add(ContentCoding c, std::uint64_t size = 0) {
        bits_ |= bit(c);
        sizes_[static_cast<unsigned>(c)] = size;
    }
    constexpr bool contains(ContentCoding c) const { return (bits_ & bit(c)) != 0; }
    constexpr std::uint64_t size(ContentCoding c) const { return sizes_[static_cast<unsigned>(c)]; }

  private:
    static constexpr std::uint8_t bit(ContentCoding c) {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(c));
    }
    std::uint8_t bits_ = 0;
    std::uint64_t sizes_[4] = {};
};

// The weight, in thousandths (0..1000), that a field value gives each coding we know. A coding
// not listed takes the weight of `*` if present, else 0. identity, when neither it nor `*` is
// listed, is implicitly acceptable and ranks below any explicit non-zero weight (RFC 9110
// §12.5.3: acceptable "unless specifically excluded"). "x-gzip" counts as gzip (§8.4.1.3).
// Names are case-insensitive; members with a malformed weight or other parameters are ignored;
// when a coding is listed twice its first member counts.
struct CodingWeights {
    int br = 0;
    int zstd = 0;
    int gzip = 0;
    int identity = 0;               // meaningful only when !identity_implicit
    bool identity_implicit = true;  // neither "identity" nor "*" was listed
};

CodingWeights parse_accept_encoding(std::string_view field_value);

// Chooses what to send among `available` (identity is normally always available):
// the acceptable coding with the highest weight; among equal weights the smallest variant
// (`available`'s sizes), then br > zstd > gzip > identity; and an implicitly acceptable
// identity only if nothing explicit is acceptable. An absent or empty
// field means "no preference" here, and we answer it with identity: a client that said nothing
// may not be able to decode anything else (§12.5.3 permits any choice).
// nullopt: nothing available is acceptable; the caller answers 406 or, as §12.5.3 allows,
// sends identity anyway.
std::optional<ContentCoding> choose_content_coding(std::string_view accept_encoding,
                                                   CodingSet available);

}  // namespace anyedge::http
