// provider_dispatch: the one cast an OSSL_DISPATCH table needs (every provider function is
// stored as a plain function pointer and cast back by OpenSSL according to its function id).
#pragma once

namespace anyedge::tls {

using DispatchFn = void (*)();

template <typename F>
DispatchFn dispatch_fn(F* f) {
    return reinterpret_cast<DispatchFn>(f);
}

}  // namespace anyedge::tls
