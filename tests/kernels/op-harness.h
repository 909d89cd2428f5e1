// Helpers for the kernel op tests (test-ops.cpp) and the kernel benchmark: seeded random
// data, random but valid quantized weights, NMSE with NaN parity, and guarded output
// buffers whose canaries catch writes outside a kernel's slice.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/half.h"
#include "common/tensor-types.h"

namespace kvmix_test {

class Rng {
public:
    explicit Rng(uint64_t seed) : gen_(seed) {}
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
    float normal(float stddev = 1.0f) { return std::normal_distribution<float>(0.0f, stddev)(gen_); }
    int64_t below(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(gen_); }
    uint8_t byte() { return static_cast<uint8_t>(gen_() & 0xFF); }
    std::vector<float> normals(size_t n, float stddev = 1.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = normal(stddev);
        return v;
    }

private:
    std::mt19937_64 gen_;
};

// A float canary no kernel computes by accident: a NaN with a fixed payload, compared bitwise.
inline constexpr uint32_t kCanaryBits = 0x7FA5A5A5u;
inline bool is_canary(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u == kCanaryBits;
}
inline float canary() {
    float f;
    std::memcpy(&f, &kCanaryBits, sizeof f);
    return f;
}

// n floats with kGuard canaries before and after. fill() sets the inside; every element a
// kernel must not write can be checked with untouched_outside().
class Guarded {
public:
    static constexpr size_t kGuard = 64;
    explicit Guarded(size_t n) : n_(n), buf_(n + 2 * kGuard, canary()) {}
    float* data() { return buf_.data() + kGuard; }
    const float* data() const { return buf_.data() + kGuard; }
    size_t size() const { return n_; }
    float& operator[](size_t i) { return data()[i]; }
    float operator[](size_t i) const { return data()[i]; }
    void fill_canary() { std::fill(buf_.begin(), buf_.end(), canary()); }
    bool guards_intact() const {
        for (size_t i = 0; i < kGuard; ++i)
            if (!is_canary(buf_[i]) || !is_canary(buf_[kGuard + n_ + i])) return false;
        return true;
    }

private:
    size_t n_;
    std::vector<float> buf_;
};

// Normalized mean squared error of `got` against `want` over the elements where both are
// finite, plus NaN/Inf parity: a NaN (or an infinity of either sign) in one must be the same
// non-finite class in the other. Returns +inf on any parity break.
struct Compare {
    double nmse = 0.0;
    size_t nan_count = 0;
    size_t parity_breaks = 0;
    size_t first_break = 0;
};

class Accum {
public:
    void add(double got, double want, size_t index) {
        const bool gn = std::isnan(got), wn = std::isnan(want);
        if (gn || wn || std::isinf(got) || std::isinf(want)) {
            if (!(gn == wn && (gn || got == want))) {
                if (c_.parity_breaks++ == 0) c_.first_break = index;
            }
            c_.nan_count += gn ? 1 : 0;
            return;
        }
        err_ += (got - want) * (got - want);
        ref_ += want * want;
    }
    Compare result() const {
        Compare c = c_;
        c.nmse = ref_ > 0 ? err_ / ref_ : (err_ > 0 ? INFINITY : 0.0);
        return c;
    }

private:
    double err_ = 0.0, ref_ = 0.0;
    Compare c_;
};

inline uint16_t half_bits(float f) { return kvmix::fp32_to_fp16(f); }

// One row of random weights of `type` with k elements: random payload bytes and valid
// finite fp16 scale fields (sizes chosen so outputs stay O(1) for unit-variance x).
inline std::vector<uint8_t> random_weights(kvmix::TensorType type, int64_t rows, int64_t k, Rng& rng) {
    using kvmix::TensorType;
    const auto& tr = kvmix::tensor_type_traits(type);
    const size_t row_bytes = static_cast<size_t>(k / tr.block_elems) * tr.block_bytes;
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows));
    const float s = 1.0f / std::sqrt(static_cast<float>(k));
    auto put16 = [&](size_t off, uint16_t v) { std::memcpy(w.data() + off, &v, 2); };
    switch (type) {
        case TensorType::f32:
            for (size_t i = 0; i < w.size() / 4; ++i) {
                const float f = rng.normal(s);
                std::memcpy(w.data() + 4 * i, &f, 4);
            }
            return w;
        case TensorType::f16:
            for (size_t i = 0; i < w.size() / 2; ++i) put16(2 * i, kvmix::fp32_to_fp16(rng.normal(s)));
            return w;
        case TensorType::bf16:
            for (size_t i = 0; i < w.size() / 2; ++i) put16(2 * i, kvmix::fp32_to_bf16(rng.normal(s)));
            return w;
        default: break;
    }
    for (auto& b : w) b = rng.byte();
    const size_t nblocks = w.size() / tr.block_bytes;
    for (size_t i = 0; i < nblocks; ++i) {
        const size_t o = i * tr.block_bytes;
        switch (type) {
            case TensorType::q4_0: case TensorType::q5_0: case TensorType::q8_0:
                put16(o, half_bits(rng.uniform(-2.0f, 2.0f) * s / (type == TensorType::q8_0 ? 64.0f : 8.0f)));
                break;
            case TensorType::q4_1: case TensorType::q5_1:
                put16(o, half_bits(rng.uniform(0.0f, 2.0f) * s / 8.0f));
                put16(o + 2, half_bits(rng.uniform(-2.0f, 0.0f) * s));
                break;
            case TensorType::q4_k: case TensorType::q5_k:
                put16(o, half_bits(rng.uniform(0.0f, 2.0f) * s / 256.0f));
                put16(o + 2, half_bits(rng.uniform(0.0f, 2.0f) * s / 64.0f));
                break;
            case TensorType::q6_k:
                put16(o + 208, half_bits(rng.uniform(-2.0f, 2.0f) * s / 2048.0f));
                break;
            default: break;
        }
    }
    return w;
}

// Byte offset of a block's main fp16 scale (to inject NaN / Inf into a whole block).
inline size_t scale_offset(kvmix::TensorType type) { return type == kvmix::TensorType::q6_k ? 208 : 0; }

}  // namespace kvmix_test
