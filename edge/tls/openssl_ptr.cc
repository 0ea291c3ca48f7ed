#include "edge/tls/openssl_ptr.h"

#include "origin-sync/content/openssl_error.h"

namespace anyedge::tls {

std::string openssl_error(const std::string& what) { return anyedge::openssl_error(what); }

}  // namespace anyedge::tls
