// The compiled stray_forward.bpf.c, embedded at build time (embed_object.cmake).
#pragma once

namespace anyedge::hooks {
extern const unsigned char kStrayForwardObject[];
extern const unsigned long kStrayForwardObjectSize;
}  // namespace anyedge::hooks
