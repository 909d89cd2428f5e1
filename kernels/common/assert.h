// KVMIX_ASSERT: internal invariants. A failure is a bug of ours, never bad user input,
// so it aborts with file:line instead of returning an error.
#pragma once

#include <cstdio>
#include <cstdlib>

#define KVMIX_ASSERT(cond)                                                              \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            std::fprintf(stderr, "%s:%d: internal invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                               \
        }                                                                               \
    } while (0)
