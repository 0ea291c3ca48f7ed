#include "edge/tls/ticket_keys.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace anyedge::tls {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool decode_hex(std::string_view text, std::span<unsigned char, kTicketKeyBytes> out) {
    if (text.size() != 2 * kTicketKeyBytes) {
        return false;
    }
    for (std::size_t i = 0; i < kTicketKeyBytes; ++i) {
        const int hi = hex_value(text[2 * i]);
        const int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return true;
}

// Standard base64 (RFC 4648 §4) of exactly 80 bytes: 108 characters ending in one '='; the
// unpadded 107-character form is accepted too.
bool decode_base64(std::string_view text, std::span<unsigned char, kTicketKeyBytes> out) {
    if (text.size() == 108 && text.back() == '=') {
        text.remove_suffix(1);
    }
    if (text.size() != 107) {
        return false;
    }
    std::size_t n = 0;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = base64_value(c);
        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = static_cast<unsigned char>(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    // 107 characters carry 642 bits: 80 bytes and 2 leftover bits that must be zero.
    return n == kTicketKeyBytes && acc == 0;
}

bool parse_int(std::string_view text, std::int64_t& out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end;
}

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < line.size()) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) {
            ++pos;
        }
        std::size_t end = pos;
        while (end < line.size() && line[end] != ' ' && line[end] != '\t') {
            ++end;
        }
        if (end > pos) {
            fields.push_back(line.substr(pos, end - pos));
        }
        pos = end;
    }
    return fields;
}

void wipe(TicketKey& key) {
    OPENSSL_cleanse(key.name.data(), key.name.size());
    OPENSSL_cleanse(key.hmac_key.data(), key.hmac_key.size());
    OPENSSL_cleanse(key.aes_key.data(), key.aes_key.size());
}

}  // namespace

Result<std::vector<TicketKey>> parse_ticket_keys(std::string_view text) {
    std::vector<TicketKey> keys;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) {
            eol = text.size();
        }
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        const std::vector<std::string_view> fields = split_fields(line);
        if (fields.empty() || fields[0].front() == '#') {
            continue;
        }
        const std::string where = "ticket keys line " + std::to_string(line_no);
        if (fields.size() != 3) {
            return make_error(where + ": expected <not_before> <not_after> <key>");
        }
        TicketKey key;
        if (!parse_int(fields[0], key.not_before) || !parse_int(fields[1], key.not_after)) {
            return make_error(where + ": not_before and not_after must be Unix seconds");
        }
        if (key.not_after <= key.not_before) {
            return make_error(where + ": not_after must be later than not_before");
        }
        std::array<unsigned char, kTicketKeyBytes> raw{};
        const bool decoded = decode_hex(fields[2], raw) || decode_base64(fields[2], raw);
        if (!decoded) {
            OPENSSL_cleanse(raw.data(), raw.size());
            return make_error(where +
                              ": key must be 80 bytes as 160 hex digits or 108 base64 characters");
        }
        std::memcpy(key.name.data(), raw.data(), 16);
        std::memcpy(key.hmac_key.data(), raw.data() + 16, 32);
        std::memcpy(key.aes_key.data(), raw.data() + 48, 32);
        OPENSSL_cleanse(raw.data(), raw.size());
        for (const TicketKey& other : keys) {
            if (other.name == key.name) {
                return make_error(where + ": two keys with the same name (first 16 bytes)");
            }
        }
        keys.push_back(key);
        wipe(key);
    }
    if (keys.empty()) {
        return make_error("ticket keys: no key in file");
    }
    return keys;
}

Result<std::vector<TicketKey>> load_ticket_key_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error("cannot open ticket key file " + path);
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) {
        return make_error("cannot read ticket key file " + path);
    }
    std::string text = buf.str();
    auto keys = parse_ticket_keys(text);
    OPENSSL_cleanse(text.data(), text.size());
    if (!keys) {
        return make_error(path + ": " + keys.error());
    }
    return keys;
}

std::string format_ticket_key(const TicketKey& key) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string line = std::to_string(key.not_before) + " " + std::to_string(key.not_after) + " ";
    auto append_hex = [&line](std::span<const unsigned char> bytes) {
        for (unsigned char b : bytes) {
            line += kHex[b >> 4];
            line += kHex[b & 0xF];
        }
    };
    append_hex(key.name);
    append_hex(key.hmac_key);
    append_hex(key.aes_key);
    return line;
}

Result<TicketKey> random_ticket_key(std::int64_t not_before, std::int64_t not_after) {
    TicketKey key;
    key.not_before = not_before;
    key.not_after = not_after;
    if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
        RAND_bytes(key.hmac_key.data(), static_cast<int>(key.hmac_key.size())) != 1 ||
        RAND_bytes(key.aes_key.data(), static_cast<int>(key.aes_key.size())) != 1) {
        return make_error("RAND_bytes failed while generating a ticket key");
    }
    return key;
}

TicketKeyRing::TicketKeyRing(std::vector<TicketKey> keys) : keys_(std::move(keys)) {}

TicketKeyRing::~TicketKeyRing() {
    for (TicketKey& key : keys_) {
        wipe(key);
    }
}

const TicketKey* TicketKeyRing::encryption_key(std::int64_t now) const {
    const TicketKey* best = nullptr;
    for (const TicketKey& key : keys_) {
        if (key.not_before <= now && now < key.not_after &&
            (best == nullptr || key.not_before > best->not_before)) {
            best = &key;
        }
    }
    return best;
}

const TicketKey* TicketKeyRing::decryption_key(std::span<const unsigned char, 16> name,
                                               std::int64_t now) const {
    for (const TicketKey& key : keys_) {
        if (key.decrypts_at(now) && std::equal(name.begin(), name.end(), key.name.begin())) {
            return &key;
        }
    }
    return nullptr;
}

}  // namespace anyedge::tls
