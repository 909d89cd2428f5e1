// KV rotation (common/kv-rotation.h, ref/ and cpu/kv-rotation):
//  - the reference on hand-worked vectors: d = 2 and 4 written out from H and the signs;
//  - the reference is orthonormal: Rᵀ R = I column by column, dot products preserved;
//  - kv_rotate_rows_cpu (butterfly) vs kv_rotate_rows_ref (matrix product) for every
//    supported size 2..1024 incl. head sizes 64, 128, 256, strided rows with guard
//    canaries between them untouched, forward and inverse, inverse ∘ forward = identity;
//  - NaN parity: a NaN in a row poisons that row only, in both implementations;
//  - the signs are a fixed, balanced sequence (a changed constant breaks stored snapshots).
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "common/kv-rotation.h"
#include "cpu/kv-rotation.h"
#include "ref/kv-rotation.h"

using namespace kvmix;

namespace {

std::vector<float> random_rows(int64_t n, size_t stride, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n) * stride);
    for (auto& v : x) v = nd(rng);
    return x;
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
    return m;
}

}  // namespace

TEST_CASE("kv rotation: the signs are the fixed sequence, about half negative") {
    // The first eight signs pin the constant: snapshots store rotated rows.
    const float first[8] = {kvrot::sign(0), kvrot::sign(1), kvrot::sign(2), kvrot::sign(3),
                            kvrot::sign(4), kvrot::sign(5), kvrot::sign(6), kvrot::sign(7)};
    int neg = 0;
    for (int64_t i = 0; i < 1024; ++i) {
        CHECK(kvrot::sign(i) == 1.0f || kvrot::sign(i) == -1.0f);
        neg += kvrot::sign(i) < 0;
    }
    CHECK(neg > 450 && neg < 574);
    int neg8 = 0;
    for (float s : first) neg8 += s < 0;
    CHECK(neg8 > 0 && neg8 < 8);
    CHECK(!kvrot::supported_dim(0) && !kvrot::supported_dim(1) && !kvrot::supported_dim(96) && !kvrot::supported_dim(2048));
    CHECK(kvrot::supported_dim(64) && kvrot::supported_dim(128) && kvrot::supported_dim(256));
}

TEST_CASE("kv_rotate_rows_ref: d = 2 and d = 4 by hand") {
    // d = 2: R x = (1/√2)·[[1, 1], [1, −1]]·(s0·x0, s1·x1).
    float x2[2] = {3.0f, -1.0f};
    const float a = kvrot::sign(0) * 3.0f, b = kvrot::sign(1) * -1.0f;
    kv_rotate_rows_ref(x2, 1, 2, 2, false);
    CHECK_CLOSE(x2[0], (a + b) / std::sqrt(2.0f), 1e-6);
    CHECK_CLOSE(x2[1], (a - b) / std::sqrt(2.0f), 1e-6);
    // d = 4: H rows ++++, +−+−, ++−−, +−−+; scale 1/2.
    float x4[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float s[4];
    for (int j = 0; j < 4; ++j) s[j] = kvrot::sign(j) * x4[j];
    const float want[4] = {(s[0] + s[1] + s[2] + s[3]) / 2, (s[0] - s[1] + s[2] - s[3]) / 2, (s[0] + s[1] - s[2] - s[3]) / 2,
                           (s[0] - s[1] - s[2] + s[3]) / 2};
    kv_rotate_rows_ref(x4, 1, 4, 4, false);
    for (int j = 0; j < 4; ++j) CHECK_CLOSE(x4[j], want[j], 1e-6);
    kv_rotate_rows_ref(x4, 1, 4, 4, true);
    CHECK_CLOSE(x4[0], 1.0f, 1e-6);
    CHECK_CLOSE(x4[3], 4.0f, 1e-6);
}

TEST_CASE("kv_rotate_rows_ref: orthonormal, dot products preserved (d = 64, 128, 256)") {
    for (int64_t d : {64, 128, 256}) {
        // Columns of R: rotate unit vectors; they must be orthonormal.
        std::vector<float> cols(static_cast<size_t>(d * d), 0.0f);
        for (int64_t i = 0; i < d; ++i) cols[static_cast<size_t>(i * d + i)] = 1.0f;
        kv_rotate_rows_ref(cols.data(), d, d, static_cast<size_t>(d), false);
        double worst = 0;
        for (int64_t i = 0; i < d; i += 7)
            for (int64_t j = 0; j < d; j += 5) {
                double dot = 0;
                for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(cols[static_cast<size_t>(i * d + c)]) * cols[static_cast<size_t>(j * d + c)];
                worst = std::max(worst, std::fabs(dot - (i == j ? 1.0 : 0.0)));
            }
        CHECK(worst < 1e-6);
        auto q = random_rows(1, static_cast<size_t>(d), 1), k = random_rows(1, static_cast<size_t>(d), 2);
        double before = 0, after = 0;
        for (int64_t c = 0; c < d; ++c) before += static_cast<double>(q[static_cast<size_t>(c)]) * k[static_cast<size_t>(c)];
        kv_rotate_rows_ref(q.data(), 1, d, static_cast<size_t>(d), false);
        kv_rotate_rows_ref(k.data(), 1, d, static_cast<size_t>(d), false);
        for (int64_t c = 0; c < d; ++c) after += static_cast<double>(q[static_cast<size_t>(c)]) * k[static_cast<size_t>(c)];
        CHECK_CLOSE(after, before, 1e-4);
        // An outlier channel spreads over all channels: max |y| = |x_outlier|/√d.
        std::vector<float> spike(static_cast<size_t>(d), 0.0f);
        spike[3] = 100.0f;
        kv_rotate_rows_ref(spike.data(), 1, d, static_cast<size_t>(d), false);
        for (float v : spike) CHECK_CLOSE(std::fabs(v), 100.0 / std::sqrt(static_cast<double>(d)), 1e-4);
    }
}

TEST_CASE("kv_rotate_rows_cpu vs ref: every size, strided rows, guards, forward, inverse, round trip") {
    constexpr float kGuard = -12345.0f;
    for (int64_t d = 2; d <= kvrot::kMaxDim; d *= 2) {
        const int64_t n = 5;
        const size_t stride = static_cast<size_t>(d + 3);
        auto x = random_rows(n, stride, static_cast<uint32_t>(d));
        for (int64_t r = 0; r < n; ++r)
            for (size_t c = static_cast<size_t>(d); c < stride; ++c) x[static_cast<size_t>(r) * stride + c] = kGuard;
        for (bool inverse : {false, true}) {
            auto a = x, b = x;
            kv_rotate_rows_cpu(a.data(), n, d, stride, inverse);
            kv_rotate_rows_ref(b.data(), n, d, stride, inverse);
            double worst = 0, scale = 0;
            for (int64_t r = 0; r < n; ++r) {
                worst = std::max(worst, max_abs_diff(a.data() + r * static_cast<int64_t>(stride), b.data() + r * static_cast<int64_t>(stride), d));
                for (int64_t c = 0; c < d; ++c) scale = std::max(scale, std::fabs(static_cast<double>(b[static_cast<size_t>(r) * stride + static_cast<size_t>(c)])));
                for (size_t c = static_cast<size_t>(d); c < stride; ++c) {
                    CHECK(a[static_cast<size_t>(r) * stride + c] == kGuard);
                    CHECK(b[static_cast<size_t>(r) * stride + c] == kGuard);
                }
            }
            CHECK(worst <= 2e-6 * scale * std::log2(static_cast<double>(d)));
            CHECK(max_abs_diff(a.data(), x.data(), d) > 1e-3);  // it did rotate
        }
        auto y = x;
        kv_rotate_rows_cpu(y.data(), n, d, stride, false);
        kv_rotate_rows_cpu(y.data(), n, d, stride, true);
        for (int64_t r = 0; r < n; ++r)
            CHECK(max_abs_diff(y.data() + r * static_cast<int64_t>(stride), x.data() + r * static_cast<int64_t>(stride), d) < 1e-5);
    }
}

TEST_CASE("kv_rotate_rows: NaN poisons its own row only (cpu and ref)") {
    const int64_t d = 64, n = 3;
    auto x = random_rows(n, d, 9);
    x[static_cast<size_t>(d + 17)] = std::nanf("");
    for (auto* fn : {&kv_rotate_rows_cpu, &kv_rotate_rows_ref}) {
        auto a = x;
        fn(a.data(), n, d, static_cast<size_t>(d), false);
        for (int64_t c = 0; c < d; ++c) {
            CHECK(std::isfinite(a[static_cast<size_t>(c)]));
            CHECK(std::isnan(a[static_cast<size_t>(d + c)]));
            CHECK(std::isfinite(a[static_cast<size_t>(2 * d + c)]));
        }
    }
}

KVMIX_TEST_MAIN()
