// Whether the GPU tests may skip. On a machine without a GPU they skip with the reason; where
// a GPU must be usable (installer/gpu-check.sh sets KVMIX_REQUIRE_GPU=1 when nvidia-smi lists
// one) a skip would hide a broken setup — a driver older than the CUDA runtime, a missing
// device node — as a pass, so the case fails with the same reason instead.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

#include "check.h"

namespace kvmix_test {

inline bool gpu_required() {
    const char* v = std::getenv("KVMIX_REQUIRE_GPU");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace kvmix_test

// Ends the current case when no GPU can be used: skipped, or failed under KVMIX_REQUIRE_GPU.
#define SKIP_OR_FAIL_WITHOUT_GPU(why)                                                                            \
    do {                                                                                                        \
        const std::string kvmix_why_ = (why);                                                                   \
        if (::kvmix_test::gpu_required()) {                                                                     \
            ::kvmix_test::report_failure(__FILE__, __LINE__, "KVMIX_REQUIRE_GPU is set but no GPU is usable: " + kvmix_why_); \
            return;                                                                                             \
        }                                                                                                       \
        SKIP(kvmix_why_);                                                                                       \
    } while (0)
