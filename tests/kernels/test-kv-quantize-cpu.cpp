// The per-step conversions of the KVmix cache (cpu/kv-quantize.h) against their scalar
// twins, bit for bit:
//  - fp32 -> fp16 rows vs fp32_to_fp16: special values, every fp16 value and the midpoints
//    between neighbours (ties to even), a million random bit patterns; every tail length;
//  - fp16 -> fp32 rows vs fp16_to_fp32 for all 65536 patterns (a signaling NaN comes back
//    quiet, sign and payload kept);
//  - key groups and value rows vs quantize_key_group_ref / quantize_value_row_ref for every
//    bit width and group size, head sizes 64, 128 and 256 plus odd ones, padded strides, and
//    groups holding NaN, ±inf, a constant channel, subnormals, huge values and values on the
//    rounding midpoints of their grid; guard bytes after each output untouched.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "cpu/kv-quantize.h"
#include "ref/kv-quantize.h"

using namespace kvmix;

namespace {

constexpr size_t kGuard = 64;
constexpr uint8_t kCanary = 0xA5;

// How a test group's values are drawn.
enum class Fill { normal, outliers, midpoints, specials };

// n values; records are `rec_len` values `rec_step` apart, records start `rec_next` apart
// (keys: rec_len group, rec_step stride, rec_next 1; values: group, 1, group).
std::vector<float> make_values(size_t n, Fill fill, int bits, int rec_len, size_t rec_step, size_t rec_next, size_t n_rec,
                               std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(n);
    for (auto& v : x) v = nd(rng);
    if (fill == Fill::outliers)
        for (size_t i = 0; i < n; i += 13) x[i] *= 300.0f;
    if (fill == Fill::midpoints) {
        // Each record spans the grid of an fp16 min and scale exactly (its first value is the
        // min, its second the top), so that grid is the one chosen, and every other value
        // lies on a half step: ties for the rounding, exact in fp32 and in the double division.
        const float s = fp16_to_fp32(fp32_to_fp16(0.37f)), m = -1.25f;
        const int qmax = static_cast<int>(kvq::max_code(bits));
        std::uniform_int_distribution<int> k(0, qmax - 1);
        for (size_t r = 0; r < n_rec; ++r)
            for (int i = 0; i < rec_len; ++i)
                x[r * rec_next + static_cast<size_t>(i) * rec_step] =
                    i == 0 ? m : i == 1 ? m + static_cast<float>(qmax) * s : m + (static_cast<float>(k(rng)) + 0.5f) * s;
    }
    if (fill == Fill::specials) {
        const float specials[] = {NAN, INFINITY, -INFINITY, 1e-40f, -1e-42f, 3e38f, -3e38f, 65504.0f, 70000.0f, 0.0f, -0.0f};
        for (size_t i = 0; i < n; i += 17) x[i] = specials[(i / 17) % (sizeof specials / sizeof specials[0])];
    }
    return x;
}

bool guards_intact(const std::vector<uint8_t>& buf, size_t used) {
    for (size_t i = used; i < buf.size(); ++i)
        if (buf[i] != kCanary) return false;
    return true;
}

}  // namespace

TEST_CASE("fp32_to_fp16_row_cpu: the bits of fp32_to_fp16") {
    std::vector<float> x;
    for (float v : {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN, -NAN,
                    5.96e-8f, 2.98e-8f, 2.99e-8f, 6.1e-5f, 1e-45f, -1e-40f})
        x.push_back(v);
    x.push_back(bits_to_float(0x7F800001u));  // signaling NaNs, with and without high payload
    x.push_back(bits_to_float(0xFFA00000u));
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        if ((h & 0x7C00u) == 0x7C00u) continue;
        const float v = fp16_to_fp32(static_cast<uint16_t>(h));
        x.push_back(v);
        x.push_back(std::nextafter(v, INFINITY));
        // The midpoint to the next fp16 value up (exact in fp32).
        if ((h & 0x7FFFu) < 0x7BFFu) x.push_back(0.5f * (v + fp16_to_fp32(static_cast<uint16_t>(h + ((h & 0x8000u) ? -1 : 1)))));
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 1000000; ++i) x.push_back(bits_to_float(rng()));
    std::vector<uint16_t> y(x.size());
    fp32_to_fp16_row_cpu(x.data(), y.data(), static_cast<int64_t>(x.size()));
    size_t wrong = 0;
    for (size_t i = 0; i < x.size(); ++i) wrong += y[i] != fp32_to_fp16(x[i]);
    CHECK_EQ(wrong, size_t{0});
    // Every tail length, with canaries after the row.
    for (int64_t n = 0; n <= 40; ++n) {
        std::vector<uint16_t> out(static_cast<size_t>(n) + 8, 0xBEEF);
        fp32_to_fp16_row_cpu(x.data() + 3, out.data(), n);
        for (int64_t i = 0; i < n; ++i) CHECK_EQ(out[static_cast<size_t>(i)], fp32_to_fp16(x[static_cast<size_t>(3 + i)]));
        for (size_t i = static_cast<size_t>(n); i < out.size(); ++i) CHECK_EQ(out[i], uint16_t{0xBEEF});
    }
}

TEST_CASE("fp16_to_fp32_row_cpu: the bits of fp16_to_fp32 for all 65536 values") {
    std::vector<uint16_t> h(0x10000 + 5);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
    std::vector<float> y(h.size() + 8, 1234.5f);
    fp16_to_fp32_row_cpu(h.data(), y.data(), static_cast<int64_t>(h.size()));
    size_t wrong = 0;
    for (size_t i = 0; i < h.size(); ++i) {
        const uint32_t got = float_to_bits(y[i]), want = float_to_bits(fp16_to_fp32(h[i]));
        const bool snan = (h[i] & 0x7C00u) == 0x7C00u && (h[i] & 0x3FFu) != 0 && (h[i] & 0x200u) == 0;
        wrong += snan ? got != (want | 0x00400000u) : got != want;
    }
    CHECK_EQ(wrong, size_t{0});
    for (size_t i = h.size(); i < y.size(); ++i) CHECK_EQ(y[i], 1234.5f);
}

TEST_CASE("quantize_key_group_cpu / quantize_value_row_cpu: the bytes of the refs") {
    std::mt19937 rng(11);
    int cases = 0;
    for (int bits : {2, 3, 4, 8})
        for (int group : {32, 64, 128})
            for (Fill fill : {Fill::normal, Fill::outliers, Fill::midpoints, Fill::specials}) {
                const std::string tag = "bits " + std::to_string(bits) + " G " + std::to_string(group) + " fill " +
                                        std::to_string(static_cast<int>(fill));
                for (int64_t dim : {1, 3, 64, 80, 128, 130, 256}) {
                    for (size_t pad : {size_t{0}, size_t{5}}) {
                        const size_t stride = static_cast<size_t>(dim) + pad;
                        std::vector<float> keys = make_values(stride * static_cast<size_t>(group), fill, bits, group, stride, 1,
                                                              static_cast<size_t>(dim), rng);
                        // A constant channel (scale 0) and a channel with one NaN (poisoned).
                        if (dim > 3) {
                            for (int t = 0; t < group; ++t) keys[static_cast<size_t>(t) * stride + 3] = 0.75f;
                            keys[static_cast<size_t>(group / 2) * stride + 2] = NAN;
                        }
                        const size_t bytes = kvq::key_group_bytes(bits, group, dim);
                        std::vector<uint8_t> want(bytes + kGuard, kCanary), got(bytes + kGuard, kCanary);
                        quantize_key_group_ref(keys.data(), stride, dim, group, bits, want.data());
                        quantize_key_group_cpu(keys.data(), stride, dim, group, bits, got.data());
                        const bool same = std::memcmp(want.data(), got.data(), bytes) == 0;
                        if (!same) ::kvmix_test::report_failure(__FILE__, __LINE__, "key group differs: " + tag + " dim " + std::to_string(dim));
                        CHECK(guards_intact(got, bytes));
                        ++cases;
                    }
                    if (dim % group != 0) continue;
                    const std::vector<float> values = make_values(static_cast<size_t>(dim), fill, bits, group, 1, static_cast<size_t>(group),
                                                                  static_cast<size_t>(dim / group), rng);
                    const size_t bytes = kvq::value_row_bytes(bits, group, dim);
                    std::vector<uint8_t> want(bytes + kGuard, kCanary), got(bytes + kGuard, kCanary);
                    quantize_value_row_ref(values.data(), dim, group, bits, want.data());
                    quantize_value_row_cpu(values.data(), dim, group, bits, got.data());
                    if (std::memcmp(want.data(), got.data(), bytes) != 0)
                        ::kvmix_test::report_failure(__FILE__, __LINE__, "value row differs: " + tag + " dim " + std::to_string(dim));
                    CHECK(guards_intact(got, bytes));
                    ++cases;
                }
            }
    CHECK(cases > 500);
}

KVMIX_TEST_MAIN()
