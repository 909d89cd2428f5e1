// The read loop of the memory-bandwidth probe (kvmix bench's bound): the wrapping sum of n
// 64-bit words, read once front to back. The sum only keeps the loads alive; every path
// returns the same value (integer adds).
// The probe has to read as fast as the best decode kernel can, or the bound it gives is too
// low: on one core or two, 8-byte loads reach 60% and 32-byte loads 80% of what 64-byte
// loads with a prefetch 4 KiB ahead do (the loop's instructions per cache line limit the
// misses in flight). So the AVX-512 path (cpu_has_avx512_vnni: F, BW, VL) or else the AVX2
// one is taken where the CPU has it; the scalar path is their twin and the fallback.
// p: n words, any 8-byte alignment. No state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

enum class StreamReadPath { best, scalar, avx2, avx512 };

uint64_t stream_read_sum(const uint64_t* p, size_t n, StreamReadPath path = StreamReadPath::best);
bool stream_read_path_available(StreamReadPath path);

}  // namespace kvmix
