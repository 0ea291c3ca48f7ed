#include "edge/http/chunked_body.h"

#include <algorithm>
#include <cstdint>

#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

// qdtext and the second byte of a quoted-pair (RFC 9110 §5.6.4).
bool is_qdtext(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || u == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) ||
           (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}
bool is_quoted_pair_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// RFC 9110 §6.5.1: fields a trailer must not carry. Framing and routing are refused, since a
// recipient that merged them into the header would frame or route differently.
bool forbidden_in_trailer(std::string_view name) {
    for (std::string_view f : {"content-length",
                               "transfer-encoding",
                               "host",
                               "trailer",
                               "content-encoding",
                               "content-type",
                               "content-range",
                               "expect",
                               "te",
                               "connection",
                               "keep-alive",
                               "upgrade",
                               "authorization",
                               "cache-control",
                               "max-forwards",
                               "range",
                               "if-match",
                               "if-none-match",
                               "if-modified-since",
                               "if-unmodified-since",
                               "if-range"}) {
        if (iequals(name, f)) return true;
    }
    return false;
}

}  // namespace

ChunkedBody::Status ChunkedBody::fail(int status, std::string_view reason) {
    error_status_ = status;
    error_reason_ = reason;
    return Status::kError;
}

// A trailer field line (RFC 9112 §5): token ":" OWS value OWS, no whitespace before the
// colon, no control characters in the value.
bool ChunkedBody::trailer_field_ok() {
    const auto colon = field_.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    const std::string_view name(field_.data(), colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return false;
    const std::string_view value = std::string_view(field_).substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), is_field_value_char)) return false;
    return !forbidden_in_trailer(name);
}

// After a chunk size or a complete extension: the line ends (CR), another extension follows
// (";"), or BWS comes before that ";". False for any other byte.
bool ChunkedBody::end_item(char c) {
    if (c == '\r') {
        state_ = State::kLineLf;
    } else if (c == ';') {
        state_ = State::kExtNameStart;
    } else if (is_ows(c)) {
        state_ = State::kExtSpace;
    } else {
        return false;
    }
    return true;
}

ChunkedBody::Status ChunkedBody::feed(std::string_view data, size_t& consumed, std::string* sink) {
    consumed = 0;
    if (error_status_ != 0) return Status::kError;
    size_t i = 0;
    while (i < data.size() && state_ != State::kDone) {
        if (state_ == State::kData) {
            const size_t n = size_t(std::min<uint64_t>(chunk_size_, data.size() - i));
            if (sink) sink->append(data.data() + i, n);
            chunk_size_ -= n;
            i += n;
            if (chunk_size_ == 0) state_ = State::kDataCr;
            continue;
        }
        const char c = data[i++];
        const bool on_size_line = state_ < State::kLineLf;
        if (on_size_line && ++line_bytes_ > limits_.max_line_bytes) {
            return fail(400, "chunk line too long");
        }
        switch (state_) {
            case State::kSizeStart:
                if (hex_value(c) < 0) return fail(400, "chunk size is not hexadecimal");
                chunk_size_ = uint64_t(hex_value(c));
                state_ = State::kSize;
                break;
            case State::kSize:
                if (const int d = hex_value(c); d >= 0) {
                    // RFC 9112 §7.1: a size that overflows must be refused; 2^63 - 1 is the
                    // largest any peer can mean (a signed offset).
                    if (chunk_size_ > (uint64_t(INT64_MAX) - uint64_t(d)) / 16) {
                        return fail(400, "chunk size overflows");
                    }
                    chunk_size_ = chunk_size_ * 16 + uint64_t(d);
                } else if (!end_item(c)) {
                    return fail(400, "chunk size is not hexadecimal");
                }
                break;
            case State::kExtSpace:
                if (c == ';') {
                    state_ = State::kExtNameStart;
                } else if (!is_ows(c)) {
                    return fail(400, "whitespace after a chunk size");
                }
                break;
            case State::kExtNameStart:
                if (is_tchar(c)) {
                    state_ = State::kExtName;
                } else if (!is_ows(c)) {
                    return fail(400, "malformed chunk extension");
                }
                break;
            case State::kExtName:
                if (c == '\r') {
                    state_ = State::kLineLf;
                } else if (c == ';') {
                    state_ = State::kExtNameStart;
                } else if (c == '=') {
                    state_ = State::kExtValueStart;
                } else if (is_ows(c)) {
                    state_ = State::kExtAfterName;
                } else if (!is_tchar(c)) {
                    return fail(400, "malformed chunk extension");
                }
                break;
            case State::kExtAfterName:
                if (c == ';') {
                    state_ = State::kExtNameStart;
                } else if (c == '=') {
                    state_ = State::kExtValueStart;
                } else if (!is_ows(c)) {
                    return fail(400, "malformed chunk extension");
                }
                break;
            case State::kExtValueStart:
                if (c == '"') {
                    state_ = State::kExtQuoted;
                } else if (is_tchar(c)) {
                    state_ = State::kExtToken;
                } else if (!is_ows(c)) {
                    return fail(400, "malformed chunk extension");
                }
                break;
            case State::kExtToken:
                if (!is_tchar(c) && !end_item(c)) return fail(400, "malformed chunk extension");
                break;
            case State::kExtQuoted:
                // A CR or LF cannot stand inside a quoted string: an unterminated one is an
                // error now, not a wait for a closing quote that may never come.
                if (c == '"') {
                    state_ = State::kExtAfterQuoted;
                } else if (c == '\\') {
                    state_ = State::kExtQuotedPair;
                } else if (!is_qdtext(c)) {
                    return fail(400, "unterminated quoted string in a chunk extension");
                }
                break;
            case State::kExtQuotedPair:
                if (!is_quoted_pair_char(c)) {
                    return fail(400, "unterminated quoted string in a chunk extension");
                }
                state_ = State::kExtQuoted;
                break;
            case State::kExtAfterQuoted:
                if (!end_item(c)) return fail(400, "malformed chunk extension");
                break;
            case State::kLineLf:
                if (c != '\n') return fail(400, "chunk line ended by a bare CR");
                line_bytes_ = 0;
                if (chunk_size_ == 0) {
                    state_ = State::kTrailerStart;
                    break;
                }
                if (chunk_size_ > limits_.max_body_bytes - body_bytes_) {
                    return fail(413, "request body too large");
                }
                body_bytes_ += chunk_size_;
                state_ = State::kData;
                break;
            case State::kDataCr:
                if (c != '\r') return fail(400, "chunk data longer than its size");
                state_ = State::kDataLf;
                break;
            case State::kDataLf:
                if (c != '\n') return fail(400, "chunk data not ended by CRLF");
                state_ = State::kSizeStart;
                break;
            case State::kTrailerStart:
                if (++trailer_bytes_ > limits_.max_trailer_bytes) {
                    return fail(431, "trailer section too large");
                }
                if (c == '\r') {
                    state_ = State::kFinalLf;
                } else if (is_ows(c)) {
                    return fail(400, "obsolete line folding in a trailer");
                } else if (c == '\n') {
                    return fail(400, "bare LF in a trailer");
                } else {
                    field_.assign(1, c);
                    state_ = State::kTrailerField;
                }
                break;
            case State::kTrailerField:
                if (++trailer_bytes_ > limits_.max_trailer_bytes) {
                    return fail(431, "trailer section too large");
                }
                if (c == '\r') {
                    state_ = State::kTrailerLf;
                } else if (c == '\n') {
                    return fail(400, "bare LF in a trailer");
                } else {
                    field_.push_back(c);
                }
                break;
            case State::kTrailerLf:
                if (c != '\n') return fail(400, "bare CR in a trailer");
                if (!trailer_field_ok()) return fail(400, "trailer field not allowed or malformed");
                field_.clear();
                state_ = State::kTrailerStart;
                break;
            case State::kFinalLf:
                if (c != '\n') return fail(400, "chunked body not ended by CRLF");
                state_ = State::kDone;
                break;
            case State::kData:
            case State::kDone:
                break;
        }
    }
    consumed = i;
    return state_ == State::kDone ? Status::kDone : Status::kNeedMore;
}

}  // namespace anyedge::http
