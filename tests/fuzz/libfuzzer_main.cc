// One libFuzzer binary per target: compiled with -DANYEDGE_FUZZ_TARGET=<function>.
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    anyedge::fuzz::ANYEDGE_FUZZ_TARGET(data, size);
    return 0;
}
