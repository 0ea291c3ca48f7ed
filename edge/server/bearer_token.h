// The "Authorization: Bearer <token>" check shared by the admin API and the origin's uploads.
#pragma once

#include <string_view>

namespace anyedge::server {

// True when `authorization` (the header's value) is exactly "Bearer " + token. The comparison
// takes the same time wherever the first difference is (CRYPTO_memcmp), so response times do
// not reveal how much of a guessed token was right.
bool bearer_token_matches(std::string_view authorization, std::string_view token);

}  // namespace anyedge::server
