#include "cpu/stream-read.h"

#include "common/assert.h"
#include "cpu/cpu-features.h"

#if KVMIX_CPU_X86
#include <immintrin.h>
#endif

namespace kvmix {

namespace {

// One line 4 KiB ahead per line read: a steady stream of misses in flight beside the loads.
constexpr size_t kAheadBytes = 4096;

uint64_t sum_scalar(const uint64_t* p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < n; ++i) s0 += p[i];
    return (s0 + s1) + (s2 + s3);
}

}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX512_HEADER_WARNINGS_OFF
KVMIX_AVX2_BEGIN
namespace {
uint64_t sum_avx2(const uint64_t* p, size_t n) {
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {  // one 64-byte line per step
        _mm_prefetch(reinterpret_cast<const char*>(p + i) + kAheadBytes, _MM_HINT_T0);
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(s0, s1));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + sum_scalar(p + i, n - i);
}
}  // namespace
KVMIX_AVX2_END

KVMIX_AVX512VNNI_BEGIN
namespace {
uint64_t sum_avx512(const uint64_t* p, size_t n) {
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {  // two lines per step
        _mm_prefetch(reinterpret_cast<const char*>(p + i) + kAheadBytes, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + i + 8) + kAheadBytes, _MM_HINT_T0);
        s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(p + i));
        s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(p + i + 8));
    }
    return static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1))) + sum_scalar(p + i, n - i);
}
}  // namespace
KVMIX_AVX512VNNI_END
KVMIX_AVX512_HEADER_WARNINGS_ON
#endif

bool stream_read_path_available(StreamReadPath path) {
    switch (path) {
        case StreamReadPath::best:
        case StreamReadPath::scalar: return true;
        case StreamReadPath::avx2: return KVMIX_CPU_X86 && cpu_has_avx2_fma_f16c();
        case StreamReadPath::avx512: return KVMIX_CPU_X86 && cpu_has_avx512_vnni();
    }
    return false;
}

uint64_t stream_read_sum(const uint64_t* p, size_t n, StreamReadPath path) {
    if (path == StreamReadPath::best)
        path = stream_read_path_available(StreamReadPath::avx512) ? StreamReadPath::avx512
               : stream_read_path_available(StreamReadPath::avx2) ? StreamReadPath::avx2
                                                                   : StreamReadPath::scalar;
    KVMIX_ASSERT(stream_read_path_available(path));
#if KVMIX_CPU_X86
    if (path == StreamReadPath::avx512) return sum_avx512(p, n);
    if (path == StreamReadPath::avx2) return sum_avx2(p, n);
#endif
    return sum_scalar(p, n);
}

}  // namespace kvmix
