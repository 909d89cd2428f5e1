// The register-blocked fp32 GEMM core shared by the many-row matmul kernels of kernels/cpu
// (matmul-grad.cpp, matmul-packed.cpp): C (+)= A · B over strided operands, 4 rows × 24
// columns per block in 12 ymm accumulators, A broadcast per row and depth step, B loaded
// as full vectors (masked in a column tail). The depth of one call is summed in fp32 in
// ascending order. Same region rules as simd-avx2.h; pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/simd-avx2.h"

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace kvmix::avx2 {

// One register block: A(i, l) = a[i·ars + l·als], B(l, c) = b[l·bs + c], C(i, c) = c[i·cs + c].
struct GemmBlock {
    const float* a;
    size_t ars, als;
    const float* b;
    size_t bs;
    float* c;
    size_t cs;
    int64_t depth;
    bool accumulate;
};

// C[i, 0:8·NV] (+)= Σ_l A(i, l) · B(l, 0:8·NV) for i < MR. With kMask the last vector of B
// and C covers only its first `last` lanes (a column tail): other lanes are neither read
// nor written. No vector crosses the call, so the compiler ends it with vzeroupper (dirty
// upper halves made the scalar exp() of the SSE code called afterwards ~20x slower).
template <int MR, int NV, bool kMask>
static inline void gemm_micro(const GemmBlock& k, int last) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc[MR][NV];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    const float* a = k.a;
    const float* b = k.b;
    for (int64_t l = 0; l < k.depth; ++l, a += k.als, b += k.bs) {
        __m256 bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = kMask && v == NV - 1 ? _mm256_maskload_ps(b + 8 * v, mask) : _mm256_loadu_ps(b + 8 * v);
        for (int i = 0; i < MR; ++i) {
            const __m256 av = _mm256_broadcast_ss(a + static_cast<size_t>(i) * k.ars);
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) {
            float* c = k.c + static_cast<size_t>(i) * k.cs + 8 * v;
            if (kMask && v == NV - 1) {
                const __m256 r = k.accumulate ? _mm256_add_ps(_mm256_maskload_ps(c, mask), acc[i][v]) : acc[i][v];
                _mm256_maskstore_ps(c, mask, r);
            } else {
                _mm256_storeu_ps(c, k.accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), acc[i][v]) : acc[i][v]);
            }
        }
}

static inline void gemm_put(float* c, __m256 v, bool accumulate) {
    _mm256_storeu_ps(c, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), v) : v);
}

// The full 4 × 24 block with named accumulators: GCC keeps gemm_micro's array in registers
// but also stores it back every depth step, which made it store-bound (~2x slower).
static inline void gemm_micro_4x3(const GemmBlock& k, int) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    const float* a = k.a;
    const float* b = k.b;
    const size_t r1 = k.ars, r2 = 2 * k.ars, r3 = 3 * k.ars;
    for (int64_t l = 0; l < k.depth; ++l, a += k.als, b += k.bs) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16);
        __m256 av = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01), c02 = _mm256_fmadd_ps(av, b2, c02);
        av = _mm256_broadcast_ss(a + r1);
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11), c12 = _mm256_fmadd_ps(av, b2, c12);
        av = _mm256_broadcast_ss(a + r2);
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21), c22 = _mm256_fmadd_ps(av, b2, c22);
        av = _mm256_broadcast_ss(a + r3);
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31), c32 = _mm256_fmadd_ps(av, b2, c32);
    }
    float* c = k.c;
    const bool acc = k.accumulate;
    gemm_put(c, c00, acc), gemm_put(c + 8, c01, acc), gemm_put(c + 16, c02, acc);
    c += k.cs;
    gemm_put(c, c10, acc), gemm_put(c + 8, c11, acc), gemm_put(c + 16, c12, acc);
    c += k.cs;
    gemm_put(c, c20, acc), gemm_put(c + 8, c21, acc), gemm_put(c + 16, c22, acc);
    c += k.cs;
    gemm_put(c, c30, acc), gemm_put(c + 8, c31, acc), gemm_put(c + 16, c32, acc);
}

using GemmMicroFn = void (*)(const GemmBlock&, int);

template <int MR>
static inline GemmMicroFn gemm_pick_nv(int nv, bool tail) {
    switch (nv) {
        case 1: return tail ? &gemm_micro<MR, 1, true> : &gemm_micro<MR, 1, false>;
        case 2: return tail ? &gemm_micro<MR, 2, true> : &gemm_micro<MR, 2, false>;
        default:
            if constexpr (MR == 4)
                if (!tail) return &gemm_micro_4x3;
            return tail ? &gemm_micro<MR, 3, true> : &gemm_micro<MR, 3, false>;
    }
}

static inline GemmMicroFn gemm_pick(int64_t mr, int nv, bool tail) {
    switch (mr) {
        case 1: return gemm_pick_nv<1>(nv, tail);
        case 2: return gemm_pick_nv<2>(nv, tail);
        case 3: return gemm_pick_nv<3>(nv, tail);
        default: return gemm_pick_nv<4>(nv, tail);
    }
}

// C[rows, cols] (+)= A[rows, depth] · B[depth, cols]. Column strips of 24 outside, row
// blocks of 4 inside, so a strip of B (depth × 24 floats) stays in L1 across all rows.
static inline void gemm(const GemmBlock& whole, int64_t rows, int64_t cols) {
    for (int64_t c0 = 0; c0 < cols; c0 += 24) {
        const int64_t nc = min_i64(24, cols - c0);
        const int nv = static_cast<int>((nc + 7) / 8);
        const int64_t last = nc - 8 * (nv - 1);
        for (int64_t i0 = 0; i0 < rows; i0 += 4) {
            const int64_t mr = min_i64(4, rows - i0);
            GemmBlock k = whole;
            k.a = whole.a + static_cast<size_t>(i0) * whole.ars;
            k.b = whole.b + c0;
            k.c = whole.c + static_cast<size_t>(i0) * whole.cs + static_cast<size_t>(c0);
            gemm_pick(mr, nv, last < 8)(k, static_cast<int>(last));
        }
    }
}

}  // namespace kvmix::avx2
KVMIX_AVX2_END
#endif  // KVMIX_CPU_X86
