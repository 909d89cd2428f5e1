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
// The int8 code-dot variants (cpu/code-dot.cpp): AVX-VNNI (VEX VPDPBUSD on ymm) and AVX-512
// VNNI (F + BW + VL + VNNI). Same region rules as AVX2; call them only after
// cpu_has_avx_vnni() / cpu_has_avx512_vnni(). The AVX-512 VBMI region (byte permutes,
// cpu/mixed-attention-vbmi.cpp) adds DQ and VBMI: call it after cpu_has_avx512_vbmi().
#if defined(__clang__)
#define KVMIX_AVXVNNI_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avxvnni\"))), apply_to = function)")
#define KVMIX_AVXVNNI_END _Pragma("clang attribute pop")
// (one string literal: _Pragma does not concatenate)
#define KVMIX_AVX512VNNI_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni\"))), apply_to = function)")
#define KVMIX_AVX512VNNI_END _Pragma("clang attribute pop")
#define KVMIX_AVX512VBMI_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi\"))), apply_to = function)")
#define KVMIX_AVX512VBMI_END _Pragma("clang attribute pop")
#else
#define KVMIX_AVXVNNI_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avxvnni\")")
#define KVMIX_AVXVNNI_END _Pragma("GCC pop_options")
#define KVMIX_AVX512VNNI_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni\")")
#define KVMIX_AVX512VNNI_END _Pragma("GCC pop_options")
#define KVMIX_AVX512VBMI_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi\")")
#define KVMIX_AVX512VBMI_END _Pragma("GCC pop_options")
#endif
#else
#define KVMIX_CPU_X86 0
#endif

// Around AVX-512 code: GCC 12's AVX-512 headers self-initialize their "undefined" vectors,
// which trips -Wmaybe-uninitialized and -Wuninitialized (a header false positive, GCC bug
// 105593). Nothing on other compilers.
#if defined(__GNUC__) && !defined(__clang__)
#define KVMIX_AVX512_HEADER_WARNINGS_OFF                                                   \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define KVMIX_AVX512_HEADER_WARNINGS_ON _Pragma("GCC diagnostic pop")
#else
#define KVMIX_AVX512_HEADER_WARNINGS_OFF
#define KVMIX_AVX512_HEADER_WARNINGS_ON
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

#if KVMIX_CPU_X86
namespace cpu_detail {
// CPUID leaf 7 (sub-leaf `sub`) registers; zeros when the leaf does not exist.
struct Leaf7 {
    unsigned a = 0, b = 0, c = 0, d = 0;
};
inline Leaf7 leaf7(unsigned sub) {
    Leaf7 r;
    if (__get_cpuid_max(0, nullptr) >= 7) __cpuid_count(7, sub, r.a, r.b, r.c, r.d);
    return r;
}
// XCR0: the register state the OS saves on context switches (0 without OSXSAVE). A CPU
// feature is usable only when its state is enabled here too.
inline unsigned long long xcr0() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & bit_OSXSAVE) == 0) return 0;
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<unsigned long long>(hi) << 32) | lo;
}
inline constexpr unsigned long long kXcr0Avx = 0x6;      // XMM + YMM state
inline constexpr unsigned long long kXcr0Avx512 = 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
}  // namespace cpu_detail
#endif

// AVX-VNNI (VEX-encoded VPDPBUSD, e.g. Alder Lake, Sapphire Rapids) on top of AVX2+FMA+F16C.
// CPUID leaf 7.1 EAX bit 4 (read directly: older compilers lack a builtin name for it).
inline bool cpu_has_avx_vnni() {
#if KVMIX_CPU_X86
    static const bool has = [] {
        return (cpu_detail::leaf7(1).a & (1u << 4)) != 0 &&
               (cpu_detail::xcr0() & cpu_detail::kXcr0Avx) == cpu_detail::kXcr0Avx;
    }();
    return has && cpu_has_avx2_fma_f16c();
#else
    return false;
#endif
}

// AVX-512 F + BW + VL + VNNI with the ZMM/opmask state enabled by the OS (XGETBV), on top
// of AVX2+FMA+F16C (e.g. Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4).
inline bool cpu_has_avx512_vnni() {
#if KVMIX_CPU_X86
    static const bool has = [] {
        const cpu_detail::Leaf7 l = cpu_detail::leaf7(0);
        const bool f_bw_vl = (l.b & (1u << 16)) != 0 && (l.b & (1u << 30)) != 0 && (l.b & (1u << 31)) != 0;
        const bool vnni = (l.c & (1u << 11)) != 0;
        return f_bw_vl && vnni && (cpu_detail::xcr0() & cpu_detail::kXcr0Avx512) == cpu_detail::kXcr0Avx512;
    }();
    return has && cpu_has_avx2_fma_f16c();
#else
    return false;
#endif
}

// AVX-512 VBMI (VPERMB / VPERMT2B) and DQ on top of cpu_has_avx512_vnni() (Ice Lake and
// later, Zen 4; not Skylake-X or Cascade Lake).
inline bool cpu_has_avx512_vbmi() {
#if KVMIX_CPU_X86
    static const bool has = [] {
        const cpu_detail::Leaf7 l = cpu_detail::leaf7(0);
        return (l.b & (1u << 17)) != 0 && (l.c & (1u << 1)) != 0;
    }();
    return has && cpu_has_avx512_vnni();
#else
    return false;
#endif
}

}  // namespace kvmix
