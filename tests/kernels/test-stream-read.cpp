// The bandwidth probe's read loop (cpu/stream-read.h): every path the CPU has returns the
// wrapping sum of the words, compared with std::accumulate, at lengths around its step
// sizes (8 and 16 words), at every 8-byte offset within a line, and over 4 MiB.
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "check.h"
#include "cpu/stream-read.h"

using namespace kvmix;

TEST_CASE("every path sums the words exactly, at any length and 8-byte offset") {
    std::mt19937_64 rng(7);
    std::vector<uint64_t> words(8 + (size_t(4) << 17));  // 4 MiB and a line of offsets
    for (auto& w : words) w = rng();  // large values: the sum wraps many times
    int paths = 0;
    for (StreamReadPath path : {StreamReadPath::best, StreamReadPath::scalar, StreamReadPath::avx2, StreamReadPath::avx512}) {
        if (!stream_read_path_available(path)) continue;
        ++paths;
        int wrong = 0;
        for (size_t offset = 0; offset < 8; ++offset)
            for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(15), size_t(16), size_t(17), size_t(33),
                             size_t(1000), size_t(4099), words.size() - 8}) {
                const uint64_t* p = words.data() + offset;
                wrong += stream_read_sum(p, n, path) != std::accumulate(p, p + n, uint64_t{0});
            }
        CHECK_EQ(wrong, 0);
    }
    CHECK(paths >= 2);  // best and scalar at least
}
KVMIX_TEST_MAIN()
