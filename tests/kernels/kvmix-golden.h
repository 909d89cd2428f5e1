// Reader of the KVmix reference goldens in tests/data/kvmix/ (written by
// tests/tools/gen-kvmix-reference.py): <name>.json describes the cases and indexes typed
// little-endian arrays in <name>.bin by offset, dtype (f16 bit patterns, f32, u8) and shape.
// Also the error-bound arithmetic the KVmix reference tests share. Header-only, test code.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/half.h"

namespace kvmix_test {

class GoldenArray {
public:
    GoldenArray() = default;
    GoldenArray(const uint8_t* data, std::string dtype, std::vector<int64_t> shape)
        : data_(data), dtype_(std::move(dtype)), shape_(std::move(shape)) {}
    size_t size() const {
        size_t n = 1;
        for (int64_t d : shape_) n *= static_cast<size_t>(d);
        return n;
    }
    const std::vector<int64_t>& shape() const { return shape_; }
    float f32(size_t i) const { return load<float>(i, "f32"); }
    uint16_t f16_bits(size_t i) const { return load<uint16_t>(i, "f16"); }
    float f16(size_t i) const { return kvmix::fp16_to_fp32(f16_bits(i)); }
    uint8_t u8(size_t i) const { return load<uint8_t>(i, "u8"); }
    // Any dtype as float (f16 widened exactly).
    float value(size_t i) const { return dtype_ == "f32" ? f32(i) : dtype_ == "f16" ? f16(i) : static_cast<float>(u8(i)); }
    std::vector<float> floats() const {
        std::vector<float> v(size());
        for (size_t i = 0; i < v.size(); ++i) v[i] = value(i);
        return v;
    }

private:
    template <class T>
    T load(size_t i, const char* want) const {
        if (dtype_ != want) throw std::runtime_error("golden array is " + dtype_ + ", read as " + want);
        if (i >= size()) throw std::runtime_error("golden array index out of range");
        T v;
        std::memcpy(&v, data_ + i * sizeof(T), sizeof(T));
        return v;
    }
    const uint8_t* data_ = nullptr;
    std::string dtype_;
    std::vector<int64_t> shape_;
};

class Golden {
public:
    // Loads <dir>/<name>.json and its blob; ok() is false (with error()) when either is missing.
    Golden(const std::string& dir, const std::string& name) {
        std::ifstream js(dir + "/" + name + ".json");
        if (!js) {
            error_ = "cannot open " + dir + "/" + name + ".json";
            return;
        }
        index_ = nlohmann::json::parse(js, nullptr, false);
        if (index_.is_discarded()) {
            error_ = name + ".json is not valid JSON";
            return;
        }
        std::ifstream bin(dir + "/" + index_.value("blob", name + ".bin"), std::ios::binary);
        blob_.assign(std::istreambuf_iterator<char>(bin), std::istreambuf_iterator<char>());
        if (blob_.size() != index_.value("blob_bytes", size_t{0})) error_ = name + ".bin is missing or has the wrong size";
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    const nlohmann::json& index() const { return index_; }

    // The array an entry {"offset", "dtype", "shape"} describes.
    GoldenArray array(const nlohmann::json& entry) const {
        const auto offset = entry.at("offset").get<size_t>();
        const auto shape = entry.at("shape").get<std::vector<int64_t>>();
        const std::string dtype = entry.at("dtype").get<std::string>();
        GoldenArray a(blob_.data() + offset, dtype, shape);
        const size_t elem = dtype == "f32" ? 4 : dtype == "f16" ? 2 : 1;
        if (offset + a.size() * elem > blob_.size()) throw std::runtime_error("golden array past the end of the blob");
        return a;
    }

private:
    nlohmann::json index_;
    std::vector<uint8_t> blob_;
    std::string error_;
};

// ---- error bounds against the reference's attention ----------------------------------------
//
// The reference computes o_d = Σ_j p_j v̂_jd, p = softmax(scale·q·k̂) in float64 from exact
// x̂ = code·s + min, and stores fp32(o) (error <= u|o|). It also stores, per query row,
//   amax  = max_j scale·Σ_d |q_d|·K̄_jd   and per output   mag_d = Σ_j p_j·V̄_jd,
// where K̄, V̄ are the magnitudes of the terms a kernel adds: |code·s| + |min| for a quantized
// element, |x| for an fp16 one. Every rounding error below is relative to these sums, so the
// bounds follow from standard floating-point error analysis (u = 2^-24, γ_n = n·u/(1 - n·u)
// bounds the error of a sum of n terms in any order, FMA or not):
//  * a score error <= δ changes every weight by a factor in [e^-2δ, e^2δ] (numerator and
//    normalizer move together), so |Δp_j| <= (e^2δ - 1)·p_j and |Δo_d| <= (e^2δ - 1)·mag_d;
//  * an error ε relative to each term of Σ_j p_j v_jd moves o_d by <= ε·mag_d.
// A wrong scale, min, code, layout or a dropped group moves an element by about one quantization
// step (s) or more; its weight times s exceeds these bounds by orders of magnitude.
inline constexpr double kU = 0x1p-24;
inline constexpr double kUDouble = 0x1p-53;
// Relative error of the vectorized exp (kernels/cpu/simd-avx2.h documents ~1e-7 ≈ 2^-23; taken 4x).
inline constexpr double kExpErr = 0x1p-21;

inline double gamma_n(double n) { return n * kU / (1.0 - n * kU); }

// mixed_attention_ref: fp32 x̂ (bit-equal to fp32 of the exact x̂: <= u relative), scores,
// weights and sums in double, output rounded once. Score error <= u·amax (+ double sums).
inline double ref_twin_bound(double amax, double mag, double out, int64_t head_dim, int64_t n_vis) {
    const double dbl = static_cast<double>(head_dim + n_vis + 4) * 2.0 * kUDouble;
    const double delta = (kU + dbl) * amax;
    return (std::expm1(2.0 * delta) + kU + dbl) * mag + 2.0 * kU * std::fabs(out);
}

// mixed_attention_cpu (AVX2): fp32 throughout, scales folded into the query (qs = q·s) and the
// weights (ws = p·s), the Σ q·min and Σ p·min terms kept apart, online softmax in blocks.
//  * score: qs rounding, Σ over head_dim channels plus the min term, times scale, minus the
//    running max: <= (γ_{D+3} + 2u)·amax;
//  * weights: one vectorized exp each, and every block rescales the earlier ones by an exp'd
//    correction (exp error + one rounding per block, in the accumulator and the normalizer);
//  * sums over the visible tokens: Σ ws·code (FMA), Σ p·min, the normalizer l: γ_{n+1} each,
//    and the final (acc + macc)·(1/l): 3u;
//  * split-K (n_parts > 1): each part's (m, l, acc) is rescaled by one exp and summed.
//  * score_err: any further bound on a score's error (the int8 query's rounding, for the
//    integer paths), added to the fp32 one.
inline double cpu_bound(double amax, double mag, double out, int64_t head_dim, int64_t n_vis, int64_t n_blocks,
                        int64_t n_parts = 1, double score_err = 0.0) {
    const double delta = (gamma_n(static_cast<double>(head_dim + 3)) + 2.0 * kU) * amax + score_err;
    const double w = std::expm1(2.0 * delta) + 2.0 * static_cast<double>(n_blocks + 1) * (kExpErr + kU);
    const double acc = 3.0 * gamma_n(static_cast<double>(n_vis + 1)) + 3.0 * kU;
    const double merge = n_parts > 1 ? 2.0 * static_cast<double>(n_parts) * (kExpErr + 2.0 * kU) + gamma_n(static_cast<double>(n_parts)) : 0.0;
    return (w + acc + merge) * mag + 2.0 * kU * std::fabs(out);
}

}  // namespace kvmix_test
