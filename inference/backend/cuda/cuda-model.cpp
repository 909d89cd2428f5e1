// The CUDA implementation of GpuWeights / GpuModel / GpuSequence (backend/device.h): weights
// uploaded once in their GGUF types and shared by every execution context (one per session),
// a device KVmix cache per sequence, and a batched forward pass that
// mirrors transformer_forward op for op (model/transformer-forward.cpp) with the kernels of
// kernels/cuda. Prefill matmuls with more than kGemvRows rows dequantize the weight into a
// scratch matrix and use cuBLAS SGEMM; decode uses the in-register dequantizing GEMV.
// Projection biases (Qwen2) are a cuBLAS rank-1 update (add_bias).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "backend/cuda/cuda-buffer.h"
#include "backend/device.h"
#include "common/kv-device-params.h"
#include "common/kv-quant-format.h"
#include "common/kv-rotation.h"
#include "cuda/cuda-kernels.h"
#include "model/model.h"

namespace kvmix {

namespace {

using cuda::Cublas;
using cuda::cuda_status;
using cuda::DeviceBuffer;
using cuda::kernel_status;
using cuda::Stream;

constexpr int64_t kGemvRows = 32;                   // more rows than this: dequantize + cuBLAS
constexpr size_t kFlashScratchBytes = 64u << 20;    // split-K partials budget

struct DevMatrix {
    const TensorView* view = nullptr;
    int64_t k = 0, n = 0;
    size_t row_bytes = 0;
    DeviceBuffer buf;
};

struct DevLayer {
    DevMatrix wq, wk, wv, wo, gate, up, down;
    DeviceBuffer attn_norm, ffn_norm, q_norm, k_norm, post_attn_norm, post_ffw_norm, freq_factors;
    DeviceBuffer bq, bk, bv;  // Q/K/V projection biases (Qwen2), else empty
};

Status upload_matrix(const TensorView& t, DevMatrix& m) {
    if (!cuda::weight_type_supported(t.type))
        return error(ErrorCode::unsupported, "tensor '" + t.name + "': type " + tensor_type_name(t.type) +
                                                 " is not supported by the CUDA backend");
    const TensorTypeTraits& tr = tensor_type_traits(t.type);
    m.view = &t;
    m.k = static_cast<int64_t>(t.ne[0]);
    m.n = static_cast<int64_t>(t.rows());
    if (m.k % 8 != 0)
        return error(ErrorCode::unsupported, "tensor '" + t.name + "': rows of " + std::to_string(m.k) +
                                                 " elements (the CUDA kernels need a multiple of 8)");
    m.row_bytes = static_cast<size_t>(m.k / tr.block_elems * tr.block_bytes);
    return m.buf.upload(t.data, m.row_bytes * static_cast<size_t>(m.n), "uploading weights");
}

Status upload_vector(const std::vector<float>& v, DeviceBuffer& b) {
    if (v.empty()) return {};
    return b.upload(v.data(), v.size() * sizeof(float), "uploading norm and bias vectors");
}

// ---------------------------------------------------------------------------------------
// Device KV cache of one sequence.

struct DevSide {
    int bits = 16;
    int group = 32;
    int64_t dim = 0, n_head_kv = 0;
    int64_t n_sinks = 0, ring_cap = 0, n_quant = 0;
    size_t unit_bytes = 0;
    int64_t units_cap = 0;
    DeviceBuffer sinks, ring, packed;

    bool quantized() const { return bits != kvq::kNotQuantized; }
    KvSideView view() const {
        KvSideView v;
        v.bits = bits;
        v.group_size = group;
        v.n_sinks = n_sinks;
        v.n_quant = n_quant;
        v.sinks = sinks.get<const uint16_t>();
        v.sinks_head_stride = static_cast<size_t>(n_sinks * dim);
        v.packed = packed.get<const uint8_t>();
        v.packed_head_stride = static_cast<size_t>(units_cap) * unit_bytes;
        v.unit_bytes = unit_bytes;
        v.ring = ring.get<const uint16_t>();
        v.ring_head_stride = static_cast<size_t>(ring_cap * dim);
        v.ring_cap = ring_cap;
        return v;
    }
    uint64_t allocated() const { return sinks.bytes() + ring.bytes() + packed.bytes(); }
};

class CudaModel;

class CudaSequence final : public GpuSequence {
public:
    CudaSequence(const CudaModel* owner, KvProfile profile, int64_t capacity)
        : owner_(owner), profile_(std::move(profile)), capacity_(capacity) {}

    Status init(const std::vector<KvLayerShape>& shapes, int64_t max_chunk) {
        const bool fp16 = profile_.layers.empty() || profile_.is_fp16();
        const int G = profile_.group_size;
        const int64_t sinks = std::min<int64_t>(profile_.sinks, capacity_);
        // The ring holds at most the window at full context (windows only grow with the
        // context), one group awaiting quantization and one forward pass's tokens.
        const int64_t chunk = (max_chunk + G - 1) / G * G;
        layers_.resize(shapes.size());
        for (size_t il = 0; il < shapes.size(); ++il) {
            const KvLayerShape& s = shapes[il];
            const auto layer = static_cast<uint32_t>(il);
            const int kb = fp16 ? 16 : profile_.layers[il].k_bits;
            int vb = fp16 ? 16 : profile_.layers[il].v_bits;
            if (vb != 16 && !kvq::value_row_supported(G, s.head_dim_v)) vb = 16;  // as the CPU cache
            const int64_t k_tail = fp16 ? 0 : profile_.k_window(layer, capacity_) + G + chunk;
            const int64_t v_tail = fp16 ? 0 : profile_.v_window(layer, capacity_) + G + chunk;
            KVMIX_TRY(init_side(layers_[il].k, kb, G, s.head_dim, s.n_head_kv, sinks, k_tail, true));
            KVMIX_TRY(init_side(layers_[il].v, vb, G, s.head_dim_v, s.n_head_kv, sinks, v_tail, false));
            // As the CPU cache: only quantized sides rotate, and only power-of-two heads.
            for (const DevSide* side : {&layers_[il].k, &layers_[il].v}) {
                const bool keys = side == &layers_[il].k;
                if (rotates(il, keys) && !kvrot::supported_dim(side->dim))
                    return error(ErrorCode::unsupported, std::string("KV rotation of ") + (keys ? "keys" : "values") +
                                                             " needs a power-of-two head size up to " + std::to_string(kvrot::kMaxDim) +
                                                             "; layer " + std::to_string(il) + " has " + std::to_string(side->dim));
            }
        }
        return {};
    }

    // Whether layer il stores its keys / values rotated (common/kv-rotation.h).
    bool rotates(size_t il, bool keys) const {
        return keys ? profile_.rotate_keys && layers_[il].k.quantized() : profile_.rotate_values && layers_[il].v.quantized();
    }

    int64_t size() const override { return size_; }
    int64_t capacity() const override { return capacity_; }
    uint64_t allocated_bytes() const override {
        uint64_t b = 0;
        for (const auto& L : layers_) b += L.k.allocated() + L.v.allocated();
        return b;
    }

    void truncate(int64_t n) override {
        n = std::clamp<int64_t>(n, 0, size_);
        int64_t kept = n;
        for (const auto& L : layers_)
            for (const DevSide* s : {&L.k, &L.v})
                if (s->quantized() && s->n_sinks + s->n_quant > n)
                    kept = std::min(kept, n < s->n_sinks ? n : s->n_sinks + (n - s->n_sinks) / s->group * s->group);
        for (auto& L : layers_)
            for (DevSide* s : {&L.k, &L.v}) s->n_quant = std::min(s->n_quant, std::max<int64_t>(0, kept - s->n_sinks));
        size_ = kept;
    }

    KvMemoryReport memory() const override {
        KvMemoryReport r;
        r.n_tokens = size_;
        r.capacity = capacity_;
        r.allocated_bytes = allocated_bytes();
        for (const auto& L : layers_) {
            KvLayerMemory m;
            uint64_t bytes = 0;
            for (const DevSide* s : {&L.k, &L.v}) {
                const auto fp16_row = static_cast<uint64_t>(s->n_head_kv * s->dim * 2);
                if (!s->quantized()) {
                    bytes += static_cast<uint64_t>(size_) * fp16_row;
                    continue;
                }
                const int64_t n_fp16 = size_ - s->n_quant;
                const uint64_t q_bytes = s == &L.k ? static_cast<uint64_t>(s->n_quant / s->group) * s->unit_bytes
                                                   : static_cast<uint64_t>(s->n_quant) * s->unit_bytes;
                bytes += static_cast<uint64_t>(n_fp16) * fp16_row + q_bytes * static_cast<uint64_t>(s->n_head_kv);
            }
            m.bytes = bytes;
            m.fp16_bytes = static_cast<uint64_t>(size_) * static_cast<uint64_t>(L.k.n_head_kv * (L.k.dim + L.v.dim) * 2);
            m.k_bits = L.k.bits;
            m.v_bits = L.v.bits;
            r.bytes += m.bytes;
            r.fp16_bytes += m.fp16_bytes;
            r.layers.push_back(m);
        }
        return r;
    }

    Status fill_for_benchmark(int64_t n_tokens) override {
        if (n_tokens < 0 || n_tokens > capacity_) return error(ErrorCode::invalid_argument, "benchmark fill outside the context");
        size_ = n_tokens;
        for (size_t il = 0; il < layers_.size(); ++il)
            for (DevSide* s : {&layers_[il].k, &layers_[il].v}) {
                // 0x2C2C is fp16 0.0659: finite codes, scales, mins and fp16 rows everywhere.
                for (DeviceBuffer* b : {&s->sinks, &s->ring, &s->packed})
                    if (b->bytes()) KVMIX_TRY(cuda_status(cudaMemset(b->get(), 0x2C, b->bytes()), "filling the KV cache"));
                s->n_quant = 0;
                if (!s->quantized()) continue;
                const auto layer = static_cast<uint32_t>(il);
                const int64_t window = s == &layers_[il].k ? profile_.k_window(layer, size_) : profile_.v_window(layer, size_);
                const int64_t tail = std::max<int64_t>(0, size_ - s->n_sinks);
                if (tail > window + s->group) s->n_quant = (tail - window - 1) / s->group * s->group;
            }
        return {};
    }

    const CudaModel* owner() const { return owner_; }
    KvSideView k_view(size_t il) const { return layers_[il].k.view(); }
    KvSideView v_view(size_t il) const { return layers_[il].v.view(); }

    // Where the new tokens' fp16 rows go (sinks below n_sinks, then the ring).
    KvStoreParams store_params(size_t il, bool keys, const float* src, size_t src_stride, int64_t n) const {
        const DevSide& s = keys ? layers_[il].k : layers_[il].v;
        KvStoreParams p;
        p.src = src;
        p.src_stride = src_stride;
        p.n = n;
        p.first_pos = size_;
        p.n_head_kv = s.n_head_kv;
        p.dim = s.dim;
        p.sinks = const_cast<uint16_t*>(s.sinks.get<const uint16_t>());
        p.sinks_head_stride = static_cast<size_t>(s.n_sinks * s.dim);
        p.n_sinks = s.n_sinks;
        p.ring = const_cast<uint16_t*>(s.ring.get<const uint16_t>());
        p.ring_head_stride = static_cast<size_t>(s.ring_cap * s.dim);
        p.ring_cap = s.ring_cap;
        return p;
    }

    // Commits n tokens and quantizes what aged out of each layer's window (in place).
    Status commit(int64_t n, cudaStream_t stream) {
        size_ += n;
        for (size_t il = 0; il < layers_.size(); ++il) {
            const auto layer = static_cast<uint32_t>(il);
            KVMIX_TRY(quantize_aged(layers_[il].k, profile_.layers.empty() ? 0 : profile_.k_window(layer, size_), true, stream));
            KVMIX_TRY(quantize_aged(layers_[il].v, profile_.layers.empty() ? 0 : profile_.v_window(layer, size_), false, stream));
        }
        return {};
    }

private:
    Status init_side(DevSide& s, int bits, int G, int64_t dim, int64_t n_head_kv, int64_t sinks, int64_t tail, bool keys) {
        s.bits = bits;
        s.group = G;
        s.dim = dim;
        s.n_head_kv = n_head_kv;
        if (bits == kvq::kNotQuantized) {
            s.ring_cap = capacity_;
            return s.ring.allocate(static_cast<size_t>(n_head_kv * capacity_ * dim) * 2, "allocating the KV cache");
        }
        s.n_sinks = sinks;
        s.ring_cap = std::min(tail, std::max<int64_t>(capacity_, 1));
        s.unit_bytes = keys ? kvq::key_group_bytes(bits, G, dim) : kvq::value_row_bytes(bits, G, dim);
        s.units_cap = keys ? (capacity_ + G - 1) / G : capacity_;
        KVMIX_TRY(s.sinks.allocate(static_cast<size_t>(n_head_kv * std::max<int64_t>(sinks, 1) * dim) * 2, "allocating the KV cache"));
        KVMIX_TRY(s.ring.allocate(static_cast<size_t>(n_head_kv * s.ring_cap * dim) * 2, "allocating the KV cache"));
        return s.packed.allocate(static_cast<size_t>(n_head_kv * s.units_cap) * s.unit_bytes, "allocating the KV cache");
    }

    Status quantize_aged(DevSide& s, int64_t window, bool keys, cudaStream_t stream) {
        if (!s.quantized()) return {};
        const int64_t tail = std::max<int64_t>(0, size_ - s.n_sinks) - s.n_quant;
        const int64_t G = s.group;
        if (tail <= window + G) return {};
        const int64_t groups = (tail - window - G + G - 1) / G;
        KvQuantizeParams p;
        p.keys = keys;
        p.bits = s.bits;
        p.group_size = s.group;
        p.n_head_kv = s.n_head_kv;
        p.dim = s.dim;
        p.ring = s.ring.get<const uint16_t>();
        p.ring_head_stride = static_cast<size_t>(s.ring_cap * s.dim);
        p.ring_cap = s.ring_cap;
        p.first_slot = s.n_quant % s.ring_cap;
        p.n_units = keys ? groups : groups * G;
        p.dst = s.packed.get<uint8_t>();
        p.dst_head_stride = static_cast<size_t>(s.units_cap) * s.unit_bytes;
        p.unit_bytes = s.unit_bytes;
        p.first_unit = keys ? s.n_quant / G : s.n_quant;
        KVMIX_TRY(kernel_status(cuda::kv_quantize(p, stream), "quantizing the KV cache"));
        s.n_quant += groups * G;
        return {};
    }

    struct Layer {
        DevSide k, v;
    };
    const CudaModel* owner_;
    KvProfile profile_;
    int64_t capacity_;
    int64_t size_ = 0;
    std::vector<Layer> layers_;
};

// ---------------------------------------------------------------------------------------

// One model's weights on one device. Immutable after init(): the CudaModels made from it
// only read its buffers, so one upload serves every session of the model on this device.
class CudaWeights final : public GpuWeights {
public:
    CudaWeights(std::shared_ptr<const Model> model, int device) : model_(std::move(model)), device_index_(device) {}

    Status init() {
        const ModelHParams& hp = model_->hparams();
        KVMIX_TRY(cuda_status(cudaSetDevice(device_index_), "selecting the CUDA device"));
        cudaDeviceProp prop{};
        KVMIX_TRY(cuda_status(cudaGetDeviceProperties(&prop, device_index_), "querying the CUDA device"));
        info_.index = device_index_;
        info_.name = prop.name;
        info_.cc_major = prop.major;
        info_.cc_minor = prop.minor;
        info_.sm_count = prop.multiProcessorCount;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        info_.free_bytes = free_b;
        info_.total_bytes = total_b;

        const uint32_t D = hp.head_dim;
        if (D != hp.head_dim_v || (D != 16 && D != 32 && D != 64 && D != 128 && D != 256))
            return error(ErrorCode::unsupported, "the CUDA attention kernels need equal key/value head sizes of 16, 32, 64, 128 or 256 (model: " +
                                                     std::to_string(hp.head_dim) + "/" + std::to_string(hp.head_dim_v) + ")");
        if (hp.n_head % hp.n_head_kv != 0 || hp.n_head / hp.n_head_kv > static_cast<uint32_t>(cuda::kFlashMaxRows))
            return error(ErrorCode::unsupported, "the CUDA attention kernels take at most 16 query heads per kv head");

        layers_.resize(hp.n_layer);
        for (uint32_t il = 0; il < hp.n_layer; ++il) {
            const LayerWeights& W = model_->layer(il);
            DevLayer& L = layers_[il];
            const std::pair<const TensorView*, DevMatrix*> mats[] = {{W.wq, &L.wq}, {W.wk, &L.wk},     {W.wv, &L.wv},
                                                                     {W.wo, &L.wo}, {W.gate, &L.gate}, {W.up, &L.up},
                                                                     {W.down, &L.down}};
            for (const auto& [view, dst] : mats) {
                KVMIX_TRY(upload_matrix(*view, *dst));
                max_matrix_ = std::max(max_matrix_, static_cast<size_t>(dst->k * dst->n));
                bytes_ += dst->buf.bytes();
            }
            KVMIX_TRY(upload_vector(W.attn_norm, L.attn_norm));
            KVMIX_TRY(upload_vector(W.ffn_norm, L.ffn_norm));
            KVMIX_TRY(upload_vector(W.q_norm, L.q_norm));
            KVMIX_TRY(upload_vector(W.k_norm, L.k_norm));
            KVMIX_TRY(upload_vector(W.post_attn_norm, L.post_attn_norm));
            KVMIX_TRY(upload_vector(W.post_ffw_norm, L.post_ffw_norm));
            KVMIX_TRY(upload_vector(W.bq, L.bq));
            KVMIX_TRY(upload_vector(W.bk, L.bk));
            KVMIX_TRY(upload_vector(W.bv, L.bv));
            if (W.rope.freq_factors)
                KVMIX_TRY(L.freq_factors.upload(W.rope.freq_factors, static_cast<size_t>(W.rope.n_rot / 2) * sizeof(float),
                                                "uploading rope factors"));
        }
        KVMIX_TRY(upload_matrix(model_->token_embd(), embd_));
        bytes_ += embd_.buf.bytes();
        if (&model_->output() != &model_->token_embd()) {
            KVMIX_TRY(upload_matrix(model_->output(), output_own_));
            bytes_ += output_own_.buf.bytes();
        }
        return upload_vector(model_->output_norm(), output_norm_);
    }

    const GpuDeviceInfo& device() const override { return info_; }
    uint64_t bytes() const override { return bytes_; }
    Expected<std::unique_ptr<GpuModel>> new_model(int64_t max_batch_tokens) const override;

private:
    friend class CudaModel;
    const DevMatrix& output() const { return output_own_.view ? output_own_ : embd_; }

    std::shared_ptr<const Model> model_;
    int device_index_;
    GpuDeviceInfo info_;
    std::vector<DevLayer> layers_;
    DevMatrix embd_, output_own_;
    DeviceBuffer output_norm_;
    uint64_t bytes_ = 0;
    size_t max_matrix_ = 0;  // elements of the largest layer matrix: the prefill GEMM scratch
};

// An execution context over shared CudaWeights: its own stream, cuBLAS handle and activation
// scratch for passes of up to max_batch_tokens tokens. Several contexts (one per session)
// run on one copy of the weights.
class CudaModel final : public GpuModel {
public:
    CudaModel(std::shared_ptr<const CudaWeights> weights, int64_t max_batch_tokens)
        : w_(std::move(weights)), max_batch_tokens_(max_batch_tokens) {}

    Status init() {
        const ModelHParams& hp = w_->model_->hparams();
        if (max_batch_tokens_ <= 0) return error(ErrorCode::invalid_argument, "max_batch_tokens must be positive");
        KVMIX_TRY(cuda_status(cudaSetDevice(w_->device_index_), "selecting the CUDA device"));
        KVMIX_TRY(stream_.create());
        KVMIX_TRY(cublas_.create(stream_.get()));
        const auto B = static_cast<size_t>(max_batch_tokens_);
        const size_t E = hp.n_embd, QD = size_t(hp.n_head) * hp.head_dim, KD = hp.n_embd_k_gqa(), VD = hp.n_embd_v_gqa();
        KVMIX_TRY(x_.allocate(B * E * 4, "allocating activations"));
        KVMIX_TRY(cur_.allocate(B * E * 4, "allocating activations"));
        KVMIX_TRY(q_.allocate(B * QD * 4, "allocating activations"));
        KVMIX_TRY(k_.allocate(B * KD * 4, "allocating activations"));
        KVMIX_TRY(v_.allocate(B * VD * 4, "allocating activations"));
        KVMIX_TRY(attn_.allocate(B * std::max(size_t(hp.n_head) * hp.head_dim_v, E) * 4, "allocating activations"));
        KVMIX_TRY(gate_.allocate(B * hp.n_ff * 4, "allocating activations"));
        KVMIX_TRY(up_.allocate(B * hp.n_ff * 4, "allocating activations"));
        KVMIX_TRY(tokens_.allocate(B * 4, "allocating activations"));
        KVMIX_TRY(pos_.allocate(B * 4, "allocating activations"));
        // At least one split for a full batch; more splits while they fit the budget.
        KVMIX_TRY(partial_.allocate(std::max(kFlashScratchBytes, B * QD * 4), "allocating attention scratch"));
        KVMIX_TRY(partial_ml_.allocate(std::max(kFlashScratchBytes / 64, B * hp.n_head * 8), "allocating attention scratch"));
        if (max_batch_tokens_ > kGemvRows) KVMIX_TRY(wscratch_.allocate(w_->max_matrix_ * 4, "allocating the GEMM scratch"));
        if (hp.attn_qkv_bias) {
            const std::vector<float> ones(B, 1.0f);
            KVMIX_TRY(ones_.upload(ones.data(), B * sizeof(float), "allocating the bias broadcast vector"));
        }
        return {};
    }

    const GpuWeights& weights() const override { return *w_; }
    int64_t max_batch_tokens() const override { return max_batch_tokens_; }

    Expected<std::unique_ptr<GpuSequence>> new_sequence(const GpuSequenceConfig& config) override {
        const ModelHParams& hp = w_->model_->hparams();
        if (config.n_ctx <= 0) return error(ErrorCode::invalid_argument, "context length must be positive");
        if (!config.kv_profile.layers.empty()) KVMIX_TRY(validate(config.kv_profile, hp.n_layer));
        KVMIX_TRY(cuda_status(cudaSetDevice(w_->device_index_), "selecting the CUDA device"));
        const int64_t n_ctx = std::min<int64_t>(config.n_ctx, hp.context_length);
        auto seq = std::make_unique<CudaSequence>(this, config.kv_profile, n_ctx);
        KVMIX_TRY(seq->init(w_->model_->kv_shapes(), max_batch_tokens_));
        return std::unique_ptr<GpuSequence>(std::move(seq));
    }

    Status forward(std::span<const GpuBatchItem> items) override;

private:
    Status matmul(const DevMatrix& w, const float* x, int64_t m, float* y);
    Status norm(const float* x, float* y, int64_t rows, int64_t n, const DeviceBuffer& w, float eps);
    Status add_bias(float* y, int64_t rows, int64_t n, const DeviceBuffer& b);

    std::shared_ptr<const CudaWeights> w_;
    int64_t max_batch_tokens_;
    Stream stream_;
    Cublas cublas_;
    DeviceBuffer x_, cur_, q_, k_, v_, attn_, gate_, up_, tokens_, pos_, partial_, partial_ml_, wscratch_, logits_;
    DeviceBuffer seqs_buf_, work_buf_;
    DeviceBuffer ones_;  // [max_batch_tokens] of 1.0f, the right factor of add_bias's rank-1 update
};

Expected<std::unique_ptr<GpuModel>> CudaWeights::new_model(int64_t max_batch_tokens) const {
    auto m = std::make_unique<CudaModel>(std::static_pointer_cast<const CudaWeights>(shared_from_this()), max_batch_tokens);
    KVMIX_TRY(m->init());
    return std::unique_ptr<GpuModel>(std::move(m));
}

Status CudaModel::matmul(const DevMatrix& w, const float* x, int64_t m, float* y) {
    if (m > kGemvRows && wscratch_.bytes() >= static_cast<size_t>(w.k * w.n) * 4) {
        // Prefill: dequantize W once per call (exact fp32 values), then one SGEMM.
        float* wf = wscratch_.get<float>();
        for (int64_t r0 = 0; r0 < w.n; r0 += 65535) {
            const int64_t nr = std::min<int64_t>(65535, w.n - r0);
            DequantizeRowsParams dp;
            dp.type = w.view->type;
            dp.w = w.buf.get<uint8_t>() + static_cast<size_t>(r0) * w.row_bytes;
            dp.w_row_bytes = w.row_bytes;
            dp.n_rows = nr;
            dp.k = w.k;
            dp.dst = wf + r0 * w.k;
            dp.dst_stride = static_cast<size_t>(w.k);
            KVMIX_TRY(kernel_status(cuda::dequantize_rows(dp, stream_.get()), "dequantizing weights"));
        }
        const float one = 1.0f, zero = 0.0f;
        // cuBLAS is column-major: row-major y[m][n] is C (n x m), W[n][k] is A (k x n) used
        // transposed, x[m][k] is B (k x m).
        const cublasStatus_t st = cublas_.api().sgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.n), static_cast<int>(m),
                                              static_cast<int>(w.k), &one, wf, static_cast<int>(w.k), x, static_cast<int>(w.k),
                                              &zero, y, static_cast<int>(w.n));
        if (st != CUBLAS_STATUS_SUCCESS) return error(ErrorCode::internal, "cuBLAS SGEMM failed on '" + w.view->name + "'");
        return {};
    }
    MatmulParams p;
    p.w_type = w.view->type;
    p.w = w.buf.get();
    p.w_row_bytes = w.row_bytes;
    p.x = x;
    p.x_stride = static_cast<size_t>(w.k);
    p.y = y;
    p.y_stride = static_cast<size_t>(w.n);
    p.m = m;
    p.k = w.k;
    p.n = w.n;
    p.n_begin = 0;
    p.n_end = w.n;
    return kernel_status(cuda::matmul(p, stream_.get()), w.view->name.c_str());
}

Status CudaModel::norm(const float* x, float* y, int64_t rows, int64_t n, const DeviceBuffer& w, float eps) {
    RmsNormParams p;
    p.x = x;
    p.x_stride = static_cast<size_t>(n);
    p.y = y;
    p.y_stride = static_cast<size_t>(n);
    p.w = w.get<const float>();
    p.w_offset = w_->model_->hparams().norm_weight_offset;
    p.eps = eps;
    p.n = n;
    p.row_begin = 0;
    p.row_end = rows;
    return kernel_status(cuda::rms_norm(p, stream_.get()), "rms_norm");
}

// y [rows, n] += 1 · bᵀ as cuBLAS's rank-1 update of the column-major n x rows matrix: each
// element gets one rounded y + b * 1, the CPU forward's add_bias exactly; no kernel of our own.
Status CudaModel::add_bias(float* y, int64_t rows, int64_t n, const DeviceBuffer& b) {
    if (!b.bytes()) return {};
    const float one = 1.0f;
    const cublasStatus_t st = cublas_.api().sger(cublas_.get(), static_cast<int>(n), static_cast<int>(rows), &one, b.get<const float>(), 1,
                                         ones_.get<const float>(), 1, y, static_cast<int>(n));
    if (st != CUBLAS_STATUS_SUCCESS) return error(ErrorCode::internal, "cuBLAS SGER failed adding a projection bias");
    return {};
}

Status CudaModel::forward(std::span<const GpuBatchItem> items) {
    const ModelHParams& hp = w_->model_->hparams();
    cudaStream_t st = stream_.get();
    KVMIX_TRY(cuda_status(cudaSetDevice(w_->device_index_), "selecting the CUDA device"));
    // Validate everything before touching any cache.
    int64_t N = 0, n_logit_rows = 0, max_kv = 0;
    std::set<const GpuSequence*> seen;
    std::vector<int32_t> tokens, pos;
    std::vector<int32_t> row0(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        const GpuBatchItem& it = items[i];
        auto* seq = dynamic_cast<CudaSequence*>(it.seq);
        if (!seq || seq->owner() != this) return error(ErrorCode::invalid_argument, "a batch item's sequence belongs to another model");
        if (!seen.insert(seq).second) return error(ErrorCode::invalid_argument, "a sequence appears twice in one batch");
        const auto n = static_cast<int64_t>(it.tokens.size());
        if (seq->size() + n > seq->capacity())
            return error(ErrorCode::out_of_memory, "the context is full (" + std::to_string(seq->capacity()) + " tokens)");
        if (it.n_logits < 0 || it.n_logits > n) return error(ErrorCode::invalid_argument, "n_logits out of range");
        for (int32_t t : it.tokens)
            if (t < 0 || t >= static_cast<int32_t>(hp.n_vocab))
                return error(ErrorCode::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                                              std::to_string(hp.n_vocab) + ")");
        row0[i] = static_cast<int32_t>(N);
        for (int64_t t = 0; t < n; ++t) {
            tokens.push_back(it.tokens[static_cast<size_t>(t)]);
            pos.push_back(static_cast<int32_t>(seq->size() + t));
        }
        N += n;
        if (it.logits) n_logit_rows += it.n_logits;
        max_kv = std::max(max_kv, seq->size() + n);
    }
    if (N == 0) return {};
    if (N > max_batch_tokens_)
        return error(ErrorCode::invalid_argument, "batch of " + std::to_string(N) + " tokens exceeds max_batch_tokens " +
                                                      std::to_string(max_batch_tokens_));

    const int64_t E = hp.n_embd, H = hp.n_head, HKV = hp.n_head_kv, D = hp.head_dim, DV = hp.head_dim_v, F = hp.n_ff;
    KVMIX_TRY(cuda_status(cudaMemcpyAsync(tokens_.get(), tokens.data(), tokens.size() * 4, cudaMemcpyHostToDevice, st), "upload"));
    KVMIX_TRY(cuda_status(cudaMemcpyAsync(pos_.get(), pos.data(), pos.size() * 4, cudaMemcpyHostToDevice, st), "upload"));

    // Attention work: per layer one FlashSeq per item; work items of up to q_tile tokens.
    const int q_tile = cuda::flash_q_tile(H / HKV);
    std::vector<FlashWork> work;
    for (size_t i = 0; i < items.size(); ++i) {
        const auto n = static_cast<int32_t>(items[i].tokens.size());
        for (int32_t t = 0; t < n; t += q_tile) work.push_back({static_cast<int32_t>(i), row0[i] + t, std::min(q_tile, n - t)});
    }
    std::vector<FlashSeq> fseqs(static_cast<size_t>(hp.n_layer) * items.size());
    for (uint32_t il = 0; il < hp.n_layer; ++il)
        for (size_t i = 0; i < items.size(); ++i) {
            const auto* seq = static_cast<const CudaSequence*>(items[i].seq);
            FlashSeq& f = fseqs[il * items.size() + i];
            f.k = seq->k_view(il);
            f.v = seq->v_view(il);
            f.n_kv = seq->size() + static_cast<int64_t>(items[i].tokens.size());
            f.row0 = row0[i];
            f.n_rows = static_cast<int32_t>(items[i].tokens.size());
        }
    if (seqs_buf_.bytes() < fseqs.size() * sizeof(FlashSeq)) KVMIX_TRY(seqs_buf_.allocate(fseqs.size() * sizeof(FlashSeq), "scratch"));
    if (work_buf_.bytes() < work.size() * sizeof(FlashWork)) KVMIX_TRY(work_buf_.allocate(work.size() * sizeof(FlashWork), "scratch"));
    KVMIX_TRY(cuda_status(cudaMemcpyAsync(seqs_buf_.get(), fseqs.data(), fseqs.size() * sizeof(FlashSeq), cudaMemcpyHostToDevice, st), "upload"));
    KVMIX_TRY(cuda_status(cudaMemcpyAsync(work_buf_.get(), work.data(), work.size() * sizeof(FlashWork), cudaMemcpyHostToDevice, st), "upload"));
    // Splits: enough blocks for about two waves, within the scratch budget.
    const int64_t blocks_base = HKV * static_cast<int64_t>(work.size());
    int64_t n_splits = std::max<int64_t>(1, (2 * w_->info_.sm_count + blocks_base - 1) / blocks_base);
    const auto per_split = static_cast<int64_t>(static_cast<size_t>(N * H * DV) * 4);
    n_splits = std::min<int64_t>(n_splits, static_cast<int64_t>(partial_.bytes()) / per_split);
    n_splits = std::max<int64_t>(1, std::min<int64_t>(n_splits, static_cast<int64_t>(partial_ml_.bytes() / static_cast<size_t>(N * H * 8))));
    int64_t split_tokens = std::max<int64_t>(64, (max_kv + n_splits - 1) / n_splits);
    split_tokens = (split_tokens + 31) / 32 * 32;
    n_splits = (max_kv + split_tokens - 1) / split_tokens;

    float* x = x_.get<float>();
    float* cur = cur_.get<float>();
    float* q = q_.get<float>();
    float* k = k_.get<float>();
    float* v = v_.get<float>();
    float* attn = attn_.get<float>();
    float* gate = gate_.get<float>();
    float* up = up_.get<float>();
    const int32_t* d_pos = pos_.get<const int32_t>();
    DequantizeRowsParams ep;
    ep.type = w_->embd_.view->type;
    ep.w = w_->embd_.buf.get();
    ep.w_row_bytes = w_->embd_.row_bytes;
    ep.rows = tokens_.get<const int32_t>();
    ep.n_rows = N;
    ep.k = E;
    ep.dst = x;
    ep.dst_stride = static_cast<size_t>(E);
    ep.scale = hp.embedding_scale;
    KVMIX_TRY(kernel_status(cuda::dequantize_rows(ep, st), "embedding"));
    const float attn_scale = hp.attention_scale > 0 ? hp.attention_scale : 1.0f / std::sqrt(static_cast<float>(D));
    const GluActivation act = hp.activation == Activation::silu ? GluActivation::silu : GluActivation::gelu_tanh;

    for (uint32_t il = 0; il < hp.n_layer; ++il) {
        const DevLayer& L = w_->layers_[il];
        const LayerWeights& W = w_->model_->layer(il);
        KVMIX_TRY(norm(x, cur, N, E, L.attn_norm, hp.rms_eps));
        KVMIX_TRY(matmul(L.wq, cur, N, q));
        KVMIX_TRY(matmul(L.wk, cur, N, k));
        KVMIX_TRY(matmul(L.wv, cur, N, v));
        KVMIX_TRY(add_bias(q, N, H * D, L.bq));
        KVMIX_TRY(add_bias(k, N, HKV * D, L.bk));
        KVMIX_TRY(add_bias(v, N, HKV * DV, L.bv));
        if (!W.q_norm.empty()) {
            KVMIX_TRY(norm(q, q, N * H, D, L.q_norm, hp.rms_eps));
            KVMIX_TRY(norm(k, k, N * HKV, D, L.k_norm, hp.rms_eps));
        }
        for (auto [buf, heads] : {std::pair{q, H}, std::pair{k, HKV}}) {
            RopeParams rp;
            rp.x = buf;
            rp.token_stride = static_cast<size_t>(heads * D);
            rp.head_stride = static_cast<size_t>(D);
            rp.n_head = heads;
            rp.head_dim = D;
            rp.n_rot = W.rope.n_rot;
            rp.positions = d_pos;
            rp.base = W.rope.base;
            rp.freq_scale = W.rope.freq_scale;
            rp.freq_factors = L.freq_factors.get<const float>();
            rp.interleaved = W.rope.interleaved;
            rp.token_begin = 0;
            rp.token_end = N;
            KVMIX_TRY(kernel_status(cuda::rope(rp, st), "rope"));
        }
        for (size_t i = 0; i < items.size(); ++i) {
            const auto* seq = static_cast<const CudaSequence*>(items[i].seq);
            const auto n = static_cast<int64_t>(items[i].tokens.size());
            // A rotated side stores R·k / R·v; the query turns with the keys (q·k = Rq·Rk).
            if (seq->rotates(il, true)) {
                KVMIX_TRY(kernel_status(cuda::kv_rotate(k + row0[i] * HKV * D, n * HKV, D, static_cast<size_t>(D), false, st), "rotating keys"));
                KVMIX_TRY(kernel_status(cuda::kv_rotate(q + row0[i] * H * D, n * H, D, static_cast<size_t>(D), false, st), "rotating queries"));
            }
            if (seq->rotates(il, false))
                KVMIX_TRY(kernel_status(cuda::kv_rotate(v + row0[i] * HKV * DV, n * HKV, DV, static_cast<size_t>(DV), false, st), "rotating values"));
            KVMIX_TRY(kernel_status(cuda::kv_store(seq->store_params(il, true, k + row0[i] * HKV * D, static_cast<size_t>(HKV * D), n), st), "kv_store"));
            KVMIX_TRY(kernel_status(cuda::kv_store(seq->store_params(il, false, v + row0[i] * HKV * DV, static_cast<size_t>(HKV * DV), n), st), "kv_store"));
        }
        FlashAttentionParams fp;
        fp.q = q;
        fp.q_stride = static_cast<size_t>(H * D);
        fp.out = attn;
        fp.out_stride = static_cast<size_t>(H * DV);
        fp.q_pos = d_pos;
        fp.seqs = seqs_buf_.get<const FlashSeq>() + il * items.size();
        fp.work = work_buf_.get<const FlashWork>();
        fp.n_seqs = static_cast<int32_t>(items.size());
        fp.n_work = static_cast<int32_t>(work.size());
        fp.n_rows_total = static_cast<int32_t>(N);
        fp.n_head = H;
        fp.n_head_kv = HKV;
        fp.head_dim = D;
        fp.head_dim_v = DV;
        fp.window = W.window;
        fp.scale = attn_scale;
        fp.softcap = hp.attn_logit_softcap;
        fp.n_splits = static_cast<int32_t>(n_splits);
        fp.split_tokens = split_tokens;
        fp.partial_acc = partial_.get<float>();
        fp.partial_ml = partial_ml_.get<float>();
        KVMIX_TRY(kernel_status(cuda::flash_attention(fp, st), "attention"));
        // Σ p·Rv = R·out: un-rotate each rotated sequence's output rows.
        for (size_t i = 0; i < items.size(); ++i) {
            const auto* seq = static_cast<const CudaSequence*>(items[i].seq);
            const auto n = static_cast<int64_t>(items[i].tokens.size());
            if (seq->rotates(il, false))
                KVMIX_TRY(kernel_status(cuda::kv_rotate(attn + row0[i] * H * DV, n * H, DV, static_cast<size_t>(DV), true, st), "un-rotating the attention output"));
        }
        KVMIX_TRY(matmul(L.wo, attn, N, cur));
        if (!W.post_attn_norm.empty()) KVMIX_TRY(norm(cur, cur, N, E, L.post_attn_norm, hp.rms_eps));
        KVMIX_TRY(kernel_status(cuda::add(x, cur, N * E, st), "residual"));

        KVMIX_TRY(norm(x, cur, N, E, L.ffn_norm, hp.rms_eps));
        KVMIX_TRY(matmul(L.gate, cur, N, gate));
        KVMIX_TRY(matmul(L.up, cur, N, up));
        GluParams gp;
        gp.gate = gate;
        gp.up = up;
        gp.out = gate;
        gp.stride = static_cast<size_t>(F);
        gp.n = F;
        gp.act = act;
        gp.row_begin = 0;
        gp.row_end = N;
        KVMIX_TRY(kernel_status(cuda::glu(gp, st), "glu"));
        KVMIX_TRY(matmul(L.down, gate, N, cur));
        if (!W.post_ffw_norm.empty()) KVMIX_TRY(norm(cur, cur, N, E, L.post_ffw_norm, hp.rms_eps));
        KVMIX_TRY(kernel_status(cuda::add(x, cur, N * E, st), "residual"));
    }
    for (const GpuBatchItem& it : items) KVMIX_TRY(static_cast<CudaSequence*>(it.seq)->commit(static_cast<int64_t>(it.tokens.size()), st));

    if (n_logit_rows > 0) {
        // Final norm of each item's last n_logits rows, compacted, then one output matmul.
        int64_t r = 0;
        for (size_t i = 0; i < items.size(); ++i) {
            const GpuBatchItem& it = items[i];
            if (!it.logits || it.n_logits == 0) continue;
            const int64_t first = row0[i] + static_cast<int64_t>(it.tokens.size()) - it.n_logits;
            KVMIX_TRY(norm(x + first * E, cur + r * E, it.n_logits, E, w_->output_norm_, hp.rms_eps));
            r += it.n_logits;
        }
        const size_t logit_bytes = static_cast<size_t>(n_logit_rows) * hp.n_vocab * 4;
        if (logits_.bytes() < logit_bytes) KVMIX_TRY(logits_.allocate(logit_bytes, "allocating logits"));
        float* lg = logits_.get<float>();
        MatmulParams p;
        const DevMatrix& out = w_->output();
        p.w_type = out.view->type;
        p.w = out.buf.get();
        p.w_row_bytes = out.row_bytes;
        p.x = cur;
        p.x_stride = static_cast<size_t>(E);
        p.y = lg;
        p.y_stride = hp.n_vocab;
        p.m = n_logit_rows;
        p.k = out.k;
        p.n = out.n;
        p.n_begin = 0;
        p.n_end = out.n;
        KVMIX_TRY(kernel_status(cuda::matmul(p, st), "output"));
        if (hp.final_logit_softcap > 0)
            KVMIX_TRY(kernel_status(cuda::softcap(lg, n_logit_rows * hp.n_vocab, hp.final_logit_softcap, st), "softcap"));
        r = 0;
        for (const GpuBatchItem& it : items) {
            if (!it.logits || it.n_logits == 0) continue;
            const size_t bytes = static_cast<size_t>(it.n_logits) * hp.n_vocab * 4;
            KVMIX_TRY(cuda_status(cudaMemcpyAsync(it.logits, lg + r * hp.n_vocab, bytes, cudaMemcpyDeviceToHost, st), "logits"));
            r += it.n_logits;
        }
    }
    return cuda_status(cudaStreamSynchronize(st), "forward pass");
}

}  // namespace

Expected<std::shared_ptr<const GpuWeights>> upload_weights_cuda(std::shared_ptr<const Model> model, int device) {
    if (!model) return error(ErrorCode::invalid_argument, "no model");
    const CudaAvailability a = cuda_availability();
    if (!a.available) return error(ErrorCode::unsupported, a.reason);
    auto w = std::make_shared<CudaWeights>(std::move(model), device);
    KVMIX_TRY(w->init());
    return std::shared_ptr<const GpuWeights>(std::move(w));
}

}  // namespace kvmix
