// The KV rotation (an optional profile setting of the KVmix cache): before quantization each
// head's key and/or value vector x of size d = 2^m is replaced by y = R x with
//     R = (1/√d) · H · S,
// H the d × d Walsh–Hadamard matrix (H[i][j] = (−1)^popcount(i & j)) and S = diag(s) a fixed
// ±1 sign per channel. R is orthonormal, so q·k = (Rq)·(Rk) and Σ p·v = Rᵀ Σ p·(Rv): the cache
// rotates the query and un-rotates the attention output instead of ever un-rotating stored
// rows. The spread of one outlier channel over all d channels is what makes low-bit codes
// fit better; the signs keep structured vectors (e.g. RoPE pairs) from mapping onto a few
// Hadamard rows. The signs are part of the stored format (snapshots, future device kernels),
// so they are defined here once, for host and device.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KVMIX_ROTATION_HD __host__ __device__
#else
#define KVMIX_ROTATION_HD
#endif

namespace kvmix::kvrot {

// Largest head size the rotation supports (the largest head of any supported architecture).
constexpr int64_t kMaxDim = 1024;

KVMIX_ROTATION_HD constexpr bool supported_dim(int64_t d) { return d >= 2 && d <= kMaxDim && (d & (d - 1)) == 0; }

// s_i of channel i: the top bit of a SplitMix64 step of i (a fixed, well-mixed ±1 sequence).
KVMIX_ROTATION_HD constexpr float sign(int64_t i) {
    uint64_t z = static_cast<uint64_t>(i) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (z >> 63) != 0 ? -1.0f : 1.0f;
}

}  // namespace kvmix::kvrot
