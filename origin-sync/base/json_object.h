// Reading a JSON object into a typed struct, with errors that name the key: configs,
// manifests and pointers all use this one reader.
//
//   auto r = read_json_object(text, "manifest", [](JsonObject& o) {
//       Manifest m;
//       m.generation = o.unsigned_integer("generation");
//       ...
//       o.finish();  // any key not read is "<path>.<key>: unknown key"
//       return m;
//   });
//
// Errors read "<path>.<key>: <problem>" ("checks.interval_ms: expected an integer",
// "manifest.files: missing (required)"). JsonObject throws JsonError on the first problem;
// read_json_object() turns it into a Result, so exceptions never leave a module.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "origin-sync/base/result.h"

namespace anyedge {

struct JsonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class JsonObject {
  public:
    // `path` names the object in errors ("" for the top level of a config file).
    JsonObject(const nlohmann::json& j, std::string path);

    [[noreturn]] void fail(const std::string& key, const std::string& problem) const;
    std::string where(const std::string& key) const;

    // True when `key` is present and not null. Marks it as read.
    bool has(const std::string& key);
    const nlohmann::json& at(const std::string& key);  // required

    // Without a default the key is required.
    std::string str(const std::string& key, std::optional<std::string> def = std::nullopt);
    int64_t integer(const std::string& key, std::optional<int64_t> def = std::nullopt,
                    int64_t min = INT64_MIN, int64_t max = INT64_MAX);
    uint64_t unsigned_integer(const std::string& key, std::optional<uint64_t> def = std::nullopt,
                              uint64_t max = UINT64_MAX);
    bool boolean(const std::string& key, std::optional<bool> def = std::nullopt);
    // An array of strings; absent is empty. `or_one`: a single string is a list of one.
    std::vector<std::string> strings(const std::string& key, bool or_one = false);
    // A nested object (required); its errors are prefixed by this path and key.
    JsonObject object(const std::string& key);
    // The keys of this object, for maps keyed by name (each then read with at()/object()).
    std::vector<std::string> keys() const;

    // Every key present must have been read: an unknown key is a typo or a wrong version.
    void finish() const;

  private:
    const nlohmann::json& j_;
    std::string path_;
    std::set<std::string> used_;
};

// Parses `text` as JSON and calls read(JsonObject&) on its top-level object. Syntax errors,
// a non-object and any JsonError become an Error.
template <typename F>
auto read_json_object(std::string_view text, const std::string& path, F&& read)
    -> Result<decltype(read(std::declval<JsonObject&>()))> {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        return make_error((path.empty() ? std::string() : path + ": ") + "not valid JSON");
    }
    try {
        JsonObject o(doc, path);
        return read(o);
    } catch (const JsonError& e) {
        return make_error(e.what());
    } catch (const nlohmann::json::exception& e) {
        return make_error((path.empty() ? std::string() : path + ": ") + e.what());
    }
}

// Lenient reads of a document from elsewhere (a peer's /status, a CA's answer), where a missing
// or mistyped member means "not reported", never an exception: the member `key` of `j` when `j`
// is an object and the member has the type, else `fallback`.
std::string json_string_or(const nlohmann::json& j, const char* key, std::string fallback = {});
int64_t json_int_or(const nlohmann::json& j, const char* key, int64_t fallback = 0);

// dump() that never throws: bytes that are not UTF-8 (a CA's text, a header value) become
// U+FFFD instead of a type_error escaping from a status writer or a JWS.
std::string json_dump(const nlohmann::json& j, int indent = -1);

}  // namespace anyedge
