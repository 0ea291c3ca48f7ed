// The TLS server context the fuzz targets share: a self-signed certificate made once per
// process, ALPN h2 and http/1.1.
#pragma once

#include "edge/tls/tls_context.h"

namespace anyedge::fuzz {

tls::TlsContext& fuzz_server_context();

}  // namespace anyedge::fuzz
