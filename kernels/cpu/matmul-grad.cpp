#include "cpu/matmul-grad.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/gemm-avx2.h"
#include "cpu/matmul.h"
#include "cpu/simd-avx2.h"
#include "ref/dequantize.h"

namespace kvmix {

namespace {

constexpr int64_t kDepthChunk = 256;  // W rows per dequantized tile / x rows per grad_w pass
constexpr int64_t kColChunk = 192;    // W columns per tile: 8 strips of 24, a multiple of 32

int64_t tile_cols(TensorType type) {
    const int64_t be = tensor_type_traits(type).block_elems;
    return be > kColChunk ? be : kColChunk;
}

}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

void grad_x_avx2(const MatmulGradParams& p, float* tile) {
    const TensorTypeTraits& traits = tensor_type_traits(p.w_type);
    const size_t row_bytes = static_cast<size_t>(p.k / traits.block_elems) * traits.block_bytes;
    const auto* w = static_cast<const uint8_t*>(p.w);
    const bool plain = p.w_type == TensorType::f32;
    const int64_t kc = tile_cols(p.w_type), rows = p.row_end - p.row_begin;
    for (int64_t k0 = 0; k0 < p.k; k0 += kc) {
        const int64_t kw = avx2::min_i64(kc, p.k - k0);
        for (int64_t j0 = 0; j0 < p.n; j0 += kDepthChunk) {
            const int64_t nj = avx2::min_i64(kDepthChunk, p.n - j0);
            avx2::GemmBlock k{};
            if (plain) {
                k.b = static_cast<const float*>(p.w) + static_cast<size_t>(j0 * p.k + k0);
                k.bs = static_cast<size_t>(p.k);
            } else {
                const size_t col_bytes = static_cast<size_t>(k0 / traits.block_elems) * traits.block_bytes;
                for (int64_t j = 0; j < nj; ++j)
                    dequantize_row_cpu(p.w_type, w + static_cast<size_t>(j0 + j) * row_bytes + col_bytes, tile + j * kc, kw);
                k.b = tile;
                k.bs = static_cast<size_t>(kc);
            }
            k.a = p.dy + static_cast<size_t>(p.row_begin * p.n + j0);
            k.ars = static_cast<size_t>(p.n);
            k.als = 1;
            k.c = p.out + static_cast<size_t>(p.row_begin * p.k + k0);
            k.cs = static_cast<size_t>(p.k);
            k.depth = nj;
            k.accumulate = p.accumulate || j0 > 0;
            avx2::gemm(k, rows, kw);
        }
    }
}

void grad_w_avx2(const MatmulGradParams& p) {
    for (int64_t t0 = 0; t0 < p.m; t0 += kDepthChunk) {
        avx2::GemmBlock k{};
        k.a = p.dy + static_cast<size_t>(t0 * p.n + p.row_begin);
        k.ars = 1;
        k.als = static_cast<size_t>(p.n);
        k.b = p.x + static_cast<size_t>(t0 * p.k);
        k.bs = static_cast<size_t>(p.k);
        k.c = p.out + static_cast<size_t>(p.row_begin * p.k);
        k.cs = static_cast<size_t>(p.k);
        k.depth = avx2::min_i64(kDepthChunk, p.m - t0);
        k.accumulate = p.accumulate || t0 > 0;
        avx2::gemm(k, p.row_end - p.row_begin, p.k);
    }
}

}  // namespace
KVMIX_AVX2_END
#endif  // KVMIX_CPU_X86

void matmul_grad_x_cpu(const MatmulGradParams& p) {
    KVMIX_ASSERT(can_dequantize(p.w_type) && p.k % tensor_type_traits(p.w_type).block_elems == 0);
    KVMIX_ASSERT(0 <= p.row_begin && p.row_begin <= p.row_end && p.row_end <= p.m);
    if (p.row_begin == p.row_end || p.k == 0) return;
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c() && p.n > 0) {  // n == 0 writes zeros: the ref's case
        std::vector<float> tile(p.w_type == TensorType::f32 ? 0 : static_cast<size_t>(kDepthChunk * tile_cols(p.w_type)));
        grad_x_avx2(p, tile.data());
        return;
    }
#endif
    matmul_grad_x_ref(p);
}

void matmul_grad_w_cpu(const MatmulGradParams& p) {
    KVMIX_ASSERT(0 <= p.row_begin && p.row_begin <= p.row_end && p.row_end <= p.n);
    if (p.row_begin == p.row_end || p.k == 0) return;
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c() && p.m > 0) {  // m == 0 writes zeros: the ref's case
        grad_w_avx2(p);
        return;
    }
#endif
    matmul_grad_w_ref(p);
}

}  // namespace kvmix
