// Runtime CPU-feature dispatch for the SIMD kernels of kernels/cpu.
//
// The build has no -march flags, so AVX2 code is compiled per region with
//   KVMIX_AVX2_BEGIN ... KVMIX_AVX2_END
// (a target("avx2,fma,f16c") pragma; every function defined inside gets that target)
// and is only called after cpu_has_avx2_fma_f16c() said yes. Rules for a region: include
// every standard header before it, keep its functions internal (anonymous namespace or
// static) and instantiate no std templates inside it, so no AVX2 copy of a shared inline
// function can leak to callers on older CPUs through the linker.
// On other CPUs (and non-x86 builds) the *_cpu kernels fall back to the scalar refs.
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define KVMIX_CPU_X86 1
#if defined(__clang__)
#define KVMIX_AVX2_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define KVMIX_AVX2_END _Pragma("clang attribute pop")
#else
#define KVMIX_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define KVMIX_AVX2_END _Pragma("GCC pop_options")
#endif
#else
#define KVMIX_CPU_X86 0
#endif

#if KVMIX_CPU_X86
#include <cpuid.h>
#endif

namespace kvmix {

// True when the AVX2 + FMA + F16C kernels may run on this CPU. Cheap (the compiler
// runtime's cached cpuid result and one static), so kernels ask on every call.
inline bool cpu_has_avx2_fma_f16c() {
#if KVMIX_CPU_X86
    // clang before 15 rejects __builtin_cpu_supports("f16c"): read the CPUID bit instead.
    static const bool f16c = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
    }();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
    return false;
#endif
}

}  // namespace kvmix
