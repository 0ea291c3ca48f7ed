#include "origin-sync/content/openssl_error.h"

#include <openssl/err.h>

namespace anyedge {

std::string openssl_error(const std::string& what) {
    std::string message = what;
    const unsigned long code = ERR_get_error();
    if (code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        message += ": ";
        message += buf;
    }
    ERR_clear_error();
    return message;
}

}  // namespace anyedge
