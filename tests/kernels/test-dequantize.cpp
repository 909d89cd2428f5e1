// Scalar reference dequantizers against goldens from gguf-py's numpy implementation
// (tests/tools/gen-quant-goldens.py, format documented there), and the fp16/bf16
// conversions in half.h against independent double-precision reasoning.
//
// Tolerance: bit-exact. Every output is a single fp32 rounding of the same exact terms
// numpy rounds (see the arithmetic note in kernels/ref/dequantize.h), so any difference
// means a layout or ordering bug; a relative tolerance would also be meaningless where
// d*q - dmin*m cancels. NaN expectations only require a NaN (payloads after numpy's
// fp16 widening are not specified).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "common/half.h"
#include "common/quant-blocks.h"
#include "common/tensor-types.h"
#include "ref/dequantize.h"

namespace {

using kvmix::TensorType;

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
T read_le(const std::vector<uint8_t>& buf, size_t off) {
    T v{};
    std::memcpy(&v, buf.data() + off, sizeof v);  // test hosts are little-endian, like GGUF
    return v;
}

struct Golden {
    uint32_t type_id = 0;
    uint64_t n_elements = 0;
    std::vector<uint8_t> raw;
    std::vector<float> expected;
};

// Empty n_elements on a malformed file (reported by the caller).
Golden load_golden(const std::string& path) {
    Golden g;
    const std::vector<uint8_t> buf = read_file(path);
    constexpr size_t kHeader = 32;
    if (buf.size() < kHeader || std::memcmp(buf.data(), "KVQG", 4) != 0 || read_le<uint32_t>(buf, 4) != 1)
        return g;
    const uint64_t n = read_le<uint64_t>(buf, 16);
    const uint64_t n_bytes = read_le<uint64_t>(buf, 24);
    if (buf.size() != kHeader + n_bytes + 4 * n) return g;
    g.type_id = read_le<uint32_t>(buf, 8);
    g.raw.assign(buf.begin() + kHeader, buf.begin() + static_cast<std::ptrdiff_t>(kHeader + n_bytes));
    g.expected.resize(n);
    std::memcpy(g.expected.data(), buf.data() + kHeader + n_bytes, 4 * n);
    g.n_elements = n;
    return g;
}

uint32_t bits_of(float f) { return kvmix::float_to_bits(f); }

// Bit-exact with NaN parity; reports at most a few mismatches per call.
int count_mismatches(const std::vector<float>& expected, const float* actual, const char* what) {
    int bad = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const bool ok = std::isnan(expected[i]) ? std::isnan(actual[i]) : bits_of(expected[i]) == bits_of(actual[i]);
        if (ok) continue;
        if (++bad <= 5)
            std::fprintf(stderr, "  %s[%zu]: expected %.9g (0x%08x), got %.9g (0x%08x)\n", what, i,
                         static_cast<double>(expected[i]), bits_of(expected[i]), static_cast<double>(actual[i]),
                         bits_of(actual[i]));
    }
    return bad;
}

void check_golden(TensorType type) {
    const auto& traits = kvmix::tensor_type_traits(type);
    std::string file = traits.name;
    std::transform(file.begin(), file.end(), file.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string path = kvmix_test::data_dir() + "/quant/" + file + ".bin";
    const Golden g = load_golden(path);
    REQUIRE(g.n_elements > 0);  // missing or malformed: regenerate with tests/tools/gen-quant-goldens.py
    CHECK_EQ(g.type_id, static_cast<uint32_t>(type));
    const uint64_t n_blocks = g.n_elements / traits.block_elems;
    REQUIRE(g.n_elements % traits.block_elems == 0);
    REQUIRE(g.raw.size() == n_blocks * traits.block_bytes);
    const auto n = static_cast<int64_t>(g.n_elements);

    // Whole row through the dispatcher, with guard values after the end.
    constexpr size_t kGuard = 16;
    const float sentinel = kvmix::bits_to_float(0x7FBADBADu);
    std::vector<float> out(g.n_elements + kGuard, sentinel);
    kvmix::dequantize_row_ref(type, g.raw.data(), out.data(), n);
    CHECK_EQ(count_mismatches(g.expected, out.data(), traits.name), 0);
    for (size_t i = g.n_elements; i < out.size(); ++i) CHECK_EQ(bits_of(out[i]), 0x7FBADBADu);

    // From an odd address: the reference must not need aligned blocks.
    std::vector<uint8_t> shifted(g.raw.size() + 1);
    std::memcpy(shifted.data() + 1, g.raw.data(), g.raw.size());
    std::vector<float> out2(g.n_elements, sentinel);
    kvmix::dequantize_row_ref(type, shifted.data() + 1, out2.data(), n);
    CHECK_EQ(count_mismatches(g.expected, out2.data(), "unaligned"), 0);

    // Block by block gives the same values (no state carried between blocks).
    std::vector<float> out3(g.n_elements, sentinel);
    for (uint64_t b = 0; b < n_blocks; ++b)
        kvmix::dequantize_row_ref(type, g.raw.data() + b * traits.block_bytes, out3.data() + b * traits.block_elems,
                                  traits.block_elems);
    CHECK_EQ(count_mismatches(g.expected, out3.data(), "per-block"), 0);

    // n = 0 writes nothing.
    kvmix::dequantize_row_ref(type, g.raw.data(), out.data() + g.n_elements, 0);
    CHECK_EQ(bits_of(out[g.n_elements]), 0x7FBADBADu);
}

// Independent decoders: the value of a bit pattern from the format's definition.
double decode_fp16(uint16_t h) {
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    const int e = (h >> 10) & 31;
    const int m = h & 1023;
    if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
    if (e == 0) return sign * std::ldexp(m, -24);
    return sign * std::ldexp(1024 + m, e - 25);
}

double decode_bf16(uint16_t h) {
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    const int e = (h >> 7) & 255;
    const int m = h & 127;
    if (e == 255) return m ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
    if (e == 0) return sign * std::ldexp(m, -133);
    return sign * std::ldexp(128 + m, e - 134);
}

// Nearest fp16 to a finite x, ties to even, by search over the ordered positive encodings.
uint16_t reference_fp32_to_fp16(float x) {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(static_cast<double>(x));
    // Largest encoding in [0, 0x7BFF] whose value is <= a.
    uint32_t lo = 0, hi = 0x7BFF;
    while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if (decode_fp16(static_cast<uint16_t>(mid)) <= a) lo = mid;
        else hi = mid - 1;
    }
    // The step above 0x7BFF is 2^16 for rounding purposes; landing there means inf.
    const double below = decode_fp16(static_cast<uint16_t>(lo));
    const double above = lo == 0x7BFF ? 65536.0 : decode_fp16(static_cast<uint16_t>(lo + 1));
    uint32_t pick = lo;
    if (a - below > above - a || (a - below == above - a && (lo & 1))) pick = lo + 1;
    return static_cast<uint16_t>(sign | pick);
}

// Nearest bf16 to a finite x, ties to even: the two candidates bracket x's truncation.
uint16_t reference_fp32_to_bf16(float x) {
    const uint32_t u = bits_of(x);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
    const uint32_t t = (u & 0x7FFFFFFF) >> 16;  // truncation toward zero
    const double a = std::fabs(static_cast<double>(x));
    const double below = decode_bf16(static_cast<uint16_t>(t));
    const double above = t + 1 == 0x7F80 ? std::ldexp(1.0, 128) : decode_bf16(static_cast<uint16_t>(t + 1));
    uint32_t pick = t;
    if (a - below > above - a || (a - below == above - a && (t & 1))) pick = t + 1;
    return static_cast<uint16_t>(sign | pick);
}

// Compile-time spot checks (the conversions are constexpr on the host).
static_assert(kvmix::fp32_to_fp16(1.0f) == 0x3C00);
static_assert(kvmix::fp32_to_fp16(-2.0f) == 0xC000);
static_assert(kvmix::fp32_to_fp16(65504.0f) == 0x7BFF);
static_assert(kvmix::fp32_to_fp16(65520.0f) == 0x7C00);
static_assert(kvmix::fp16_to_fp32(0x0001) == 0x1p-24f);
static_assert(kvmix::fp32_to_bf16(1.0f) == 0x3F80);
static_assert(kvmix::bf16_to_fp32(0xC000) == -2.0f);

}  // namespace

TEST_CASE("golden f32") { check_golden(TensorType::f32); }
TEST_CASE("golden f16") { check_golden(TensorType::f16); }
TEST_CASE("golden bf16") { check_golden(TensorType::bf16); }
TEST_CASE("golden q4_0") { check_golden(TensorType::q4_0); }
TEST_CASE("golden q4_1") { check_golden(TensorType::q4_1); }
TEST_CASE("golden q5_0") { check_golden(TensorType::q5_0); }
TEST_CASE("golden q5_1") { check_golden(TensorType::q5_1); }
TEST_CASE("golden q8_0") { check_golden(TensorType::q8_0); }
TEST_CASE("golden q4_k") { check_golden(TensorType::q4_k); }
TEST_CASE("golden q5_k") { check_golden(TensorType::q5_k); }
TEST_CASE("golden q6_k") { check_golden(TensorType::q6_k); }

TEST_CASE("can_dequantize matches the supported flag of every known type") {
    for (const auto& t : kvmix::kTensorTypeTraits) CHECK_EQ(kvmix::can_dequantize(t.type), t.supported);
}

TEST_CASE("hand-made blocks decode as documented") {
    // Q8_0: d = 0.5, q = l - 16.
    kvmix::BlockQ8_0 q8{};
    q8.d = 0x3800;
    for (int l = 0; l < 32; ++l) q8.qs[l] = static_cast<int8_t>(l - 16);
    float y[256];
    kvmix::dequantize_row_q8_0_ref(&q8, y, 32);
    for (int l = 0; l < 32; ++l) CHECK_EQ(y[l], 0.5f * static_cast<float>(l - 16));

    // Q4_0: low nibble l, high nibble 15 - l; d = 2.
    kvmix::BlockQ4_0 q4{};
    q4.d = 0x4000;
    for (int l = 0; l < 16; ++l) q4.qs[l] = static_cast<uint8_t>(l | (15 - l) << 4);
    kvmix::dequantize_row_q4_0_ref(&q4, y, 32);
    for (int l = 0; l < 16; ++l) {
        CHECK_EQ(y[l], 2.0f * static_cast<float>(l - 8));
        CHECK_EQ(y[l + 16], 2.0f * static_cast<float>(7 - l));
    }

    // Q5_0: only bit 20 of qh set -> element 20 (high nibble of qs[4]) gets +16.
    kvmix::BlockQ5_0 q5{};
    q5.d = 0x3C00;
    q5.qh[2] = 0x10;
    kvmix::dequantize_row_q5_0_ref(&q5, y, 32);
    for (int l = 0; l < 32; ++l) CHECK_EQ(y[l], l == 20 ? 0.0f : -16.0f);

    // K-quant scale packing: scales 0..7 = 1, 2, ..., 8 with top bits on 6 and 7, mins = 60+j.
    uint8_t s[12] = {};
    const uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7 | 0x20, 8 | 0x30};
    const uint8_t mn[8] = {60, 61, 62, 63, 0x3C, 0x3D, 0x3E, 0x3F};
    for (int j = 0; j < 4; ++j) {
        s[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = static_cast<uint8_t>(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4);
    }
    for (int j = 0; j < 8; ++j) {
        const kvmix::KScaleMin sm = kvmix::unpack_k_scale_min(s, j);
        CHECK_EQ(static_cast<int>(sm.scale), static_cast<int>(sc[j]));
        CHECK_EQ(static_cast<int>(sm.min), static_cast<int>(mn[j]));
    }
}

TEST_CASE("fp16 to fp32 is exact for all 65536 patterns") {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = kvmix::fp16_to_fp32(static_cast<uint16_t>(h));
        const double want = decode_fp16(static_cast<uint16_t>(h));
        if (std::isnan(want)) {
            // NaN keeps its sign and the top payload bits (the quiet bit included).
            const uint32_t b = bits_of(f);
            bad += !(std::isnan(f) && (b >> 31) == (h >> 15) && ((b >> 13) & 0x3FF) == (h & 0x3FF));
        } else {
            bad += !(static_cast<double>(f) == want && std::signbit(f) == std::signbit(want));
        }
    }
    CHECK_EQ(bad, 0);
}

TEST_CASE("fp16 round trip through fp32 keeps every pattern") {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const uint16_t back = kvmix::fp32_to_fp16(kvmix::fp16_to_fp32(static_cast<uint16_t>(h)));
        const bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
        // A signalling NaN comes back quiet; everything else comes back unchanged.
        bad += is_nan ? back != (h | 0x200) : back != h;
    }
    CHECK_EQ(bad, 0);
}

TEST_CASE("fp32 to fp16 rounds to nearest even (ties, neighbours, sweep)") {
    int bad = 0;
    auto check = [&](float x) {
        const uint16_t got = kvmix::fp32_to_fp16(x);
        const uint16_t want = reference_fp32_to_fp16(x);
        if (got != want && ++bad <= 5)
            std::fprintf(stderr, "  fp16(%a): got 0x%04x want 0x%04x\n", static_cast<double>(x), got, want);
    };
    // Every tie between adjacent fp16 values (exact in fp32) and its two fp32 neighbours.
    for (uint32_t h = 0; h < 0x7C00; ++h) {
        const double above = h == 0x7BFF ? 65536.0 : decode_fp16(static_cast<uint16_t>(h + 1));
        const auto mid = static_cast<float>((decode_fp16(static_cast<uint16_t>(h)) + above) / 2);
        for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
            check(x);
            check(-x);
        }
    }
    // A sweep over all finite fp32 magnitudes (stride coprime to the mantissa width).
    for (uint64_t u = 0; u < 0x7F800000u; u += 997) check(kvmix::bits_to_float(static_cast<uint32_t>(u)));
    CHECK_EQ(bad, 0);

    const float inf = std::numeric_limits<float>::infinity();
    CHECK_EQ(kvmix::fp32_to_fp16(inf), 0x7C00);
    CHECK_EQ(kvmix::fp32_to_fp16(-inf), 0xFC00);
    CHECK_EQ(kvmix::fp32_to_fp16(std::numeric_limits<float>::max()), 0x7C00);
    CHECK_EQ(kvmix::fp32_to_fp16(-0.0f), 0x8000);
    CHECK_EQ(kvmix::fp32_to_fp16(0x1p-25f), 0x0000);              // tie with 0 -> even
    CHECK_EQ(kvmix::fp32_to_fp16(0x1.000002p-25f), 0x0001);       // just above the tie
    CHECK_EQ(kvmix::fp32_to_fp16(0x1.8p-24f), 0x0002);            // 1.5 units -> 2
    CHECK_EQ(kvmix::fp32_to_fp16(0x1.4p-23f), 0x0002);            // 2.5 units -> 2
    CHECK_EQ(kvmix::fp32_to_fp16(0x1.ffcp-15f), 0x0400);          // rounds up into the normals
    CHECK_EQ(kvmix::fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
    const uint16_t qnan = kvmix::fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
    CHECK((qnan & 0x7C00) == 0x7C00 && (qnan & 0x3FF) != 0);
    // A NaN whose payload sits only in the low bits must not collapse to inf.
    const uint16_t low_nan = kvmix::fp32_to_fp16(kvmix::bits_to_float(0xFF800001u));
    CHECK_EQ(low_nan, 0xFE00);
}

TEST_CASE("bf16 conversions: exact widening, nearest-even narrowing") {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = kvmix::bf16_to_fp32(static_cast<uint16_t>(h));
        CHECK_EQ(bits_of(f), h << 16);  // bf16 is the top half of an fp32
        const double want = decode_bf16(static_cast<uint16_t>(h));
        if (!std::isnan(want)) {
            bad += !(static_cast<double>(f) == want);
            bad += kvmix::fp32_to_bf16(f) != h;  // round trip
        } else {
            bad += kvmix::fp32_to_bf16(f) != (h | 0x40);  // NaN comes back quiet
        }
    }
    CHECK_EQ(bad, 0);

    int bad_round = 0;
    for (uint64_t u = 0; u < 0x7F800000u; u += 991) {
        for (uint32_t s : {0u, 0x80000000u}) {
            const float x = kvmix::bits_to_float(static_cast<uint32_t>(u) | s);
            bad_round += kvmix::fp32_to_bf16(x) != reference_fp32_to_bf16(x);
        }
    }
    // Exact ties: lsb even stays, lsb odd goes up.
    CHECK_EQ(kvmix::fp32_to_bf16(kvmix::bits_to_float(0x3F808000u)), 0x3F80);
    CHECK_EQ(kvmix::fp32_to_bf16(kvmix::bits_to_float(0x3F818000u)), 0x3F82);
    CHECK_EQ(kvmix::fp32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
    CHECK_EQ(kvmix::fp32_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
    CHECK_EQ(kvmix::fp32_to_bf16(kvmix::bits_to_float(0x7F800001u)), 0x7FC0);  // NaN, not inf
    CHECK_EQ(bad_round, 0);
}

TEST_CASE("golden fp-convert: numpy fp16 and gguf bf16 rounding") {
    const std::vector<uint8_t> buf = read_file(kvmix_test::data_dir() + "/quant/fp-convert.bin");
    REQUIRE(buf.size() >= 16 && std::memcmp(buf.data(), "KVFC", 4) == 0 && read_le<uint32_t>(buf, 4) == 1);
    const uint32_t count = read_le<uint32_t>(buf, 8);
    REQUIRE(buf.size() == 16 + static_cast<size_t>(count) * 8);
    int bad16 = 0, bad_bf = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const float x = read_le<float>(buf, 16 + 4 * size_t{i});
        const uint16_t want16 = read_le<uint16_t>(buf, 16 + 4 * size_t{count} + 2 * size_t{i});
        const uint16_t want_bf = read_le<uint16_t>(buf, 16 + 6 * size_t{count} + 2 * size_t{i});
        const uint16_t got16 = kvmix::fp32_to_fp16(x);
        if (got16 != want16 && ++bad16 <= 5)
            std::fprintf(stderr, "  fp16(%a): got 0x%04x numpy 0x%04x\n", static_cast<double>(x), got16, want16);
        bad_bf += kvmix::fp32_to_bf16(x) != want_bf;
    }
    CHECK(count > 1000);
    CHECK_EQ(bad16, 0);
    CHECK_EQ(bad_bf, 0);
}

KVMIX_TEST_MAIN()
