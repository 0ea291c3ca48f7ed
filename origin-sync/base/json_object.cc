#include "origin-sync/base/json_object.h"

namespace anyedge {

using nlohmann::json;

JsonObject::JsonObject(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail("", "expected an object");
}

void JsonObject::fail(const std::string& key, const std::string& problem) const {
    throw JsonError(where(key) + ": " + problem);
}

std::string JsonObject::where(const std::string& key) const {
    if (key.empty()) return path_.empty() ? "(top level)" : path_;
    if (path_.empty()) return key;
    return key.front() == '[' ? path_ + key : path_ + "." + key;
}

bool JsonObject::has(const std::string& key) {
    used_.insert(key);
    auto it = j_.find(key);
    return it != j_.end() && !it->is_null();
}

const json& JsonObject::at(const std::string& key) {
    if (!has(key)) fail(key, "missing (required)");
    return j_.at(key);
}

std::string JsonObject::str(const std::string& key, std::optional<std::string> def) {
    if (!has(key) && def) return *def;
    const json& v = at(key);
    if (!v.is_string()) fail(key, "expected a string");
    return v.get<std::string>();
}

int64_t JsonObject::integer(const std::string& key, std::optional<int64_t> def, int64_t min,
                            int64_t max) {
    if (!has(key) && def) return *def;
    const json& v = at(key);
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
        fail(key, "out of range");
    }
    if (!v.is_number_integer()) fail(key, "expected an integer");
    const int64_t x = v.get<int64_t>();
    if (x < min || x > max) {
        fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return x;
}

uint64_t JsonObject::unsigned_integer(const std::string& key, std::optional<uint64_t> def,
                                      uint64_t max) {
    if (!has(key) && def) return *def;
    const json& v = at(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
        fail(key, "expected a non-negative integer");
    }
    const uint64_t x = v.get<uint64_t>();
    if (x > max) fail(key, "must be at most " + std::to_string(max));
    return x;
}

bool JsonObject::boolean(const std::string& key, std::optional<bool> def) {
    if (!has(key) && def) return *def;
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, "expected true or false");
    return v.get<bool>();
}

std::vector<std::string> JsonObject::strings(const std::string& key, bool or_one) {
    std::vector<std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (or_one && v.is_string()) return {v.get<std::string>()};
    if (!v.is_array())
        fail(key,
             or_one ? "expected a string or an array of strings" : "expected an array of strings");
    for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_string()) fail(key + "[" + std::to_string(i) + "]", "expected a string");
        out.push_back(v[i].get<std::string>());
    }
    return out;
}

JsonObject JsonObject::object(const std::string& key) { return JsonObject(at(key), where(key)); }

std::vector<std::string> JsonObject::keys() const {
    std::vector<std::string> out;
    for (const auto& item : j_.items()) out.push_back(item.key());
    return out;
}

void JsonObject::finish() const {
    for (const auto& item : j_.items()) {
        if (!used_.count(item.key())) fail(item.key(), "unknown key");
    }
}

std::string json_string_or(const nlohmann::json& j, const char* key, std::string fallback) {
    if (!j.is_object()) return fallback;
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return fallback;
    return it->get<std::string>();
}

int64_t json_int_or(const nlohmann::json& j, const char* key, int64_t fallback) {
    if (!j.is_object()) return fallback;
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return fallback;
    return it->get<int64_t>();
}

std::string json_dump(const nlohmann::json& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace anyedge
