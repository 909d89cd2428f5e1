// Device selection and the GPU execution interface of the engine. This header has no CUDA
// types: the CUDA backend (backend/cuda/) implements it when the build has CUDA, and
// backend/cuda-unavailable.cpp (chosen by CMake otherwise) answers every call with the reason.
//
// GpuWeights: a Model's weights uploaded once to one device, immutable afterwards, so every
// GpuModel of that model on that device reads the same copy (backend/device-weights.h keeps
// one per model and device). GpuModel: an execution context over shared weights — its own
// stream and activation scratch — that creates sequences and runs batched forward passes.
// GpuSequence: one sequence's device KV cache (KVmix layout, kernels/common/kv-device-params.h).
// GpuModel::forward runs a batch of its sequences in ONE forward pass: matmuls over all their
// tokens, attention per sequence over its own cache.
// Thread-safety: GpuWeights may be shared across threads; a GpuModel and its sequences are
// driven from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvmix/status.h"
#include "runtime/kv-cache.h"
#include "runtime/kv-profile.h"

namespace kvmix {

class Model;

enum class DeviceKind { cpu, cuda };

const char* device_kind_name(DeviceKind kind);
// "cpu" or "cuda" -> DeviceKind; anything else is an invalid_argument error.
Expected<DeviceKind> parse_device_kind(const std::string& name);

struct GpuDeviceInfo {
    int index = 0;
    std::string name;
    int cc_major = 0, cc_minor = 0;  // compute capability
    int sm_count = 0;
    uint64_t free_bytes = 0, total_bytes = 0;
};

struct CudaAvailability {
    bool built = false;      // the engine was compiled with the CUDA backend
    bool available = false;  // built, a driver answered and at least one device is usable
    std::string reason;      // why not, when !available (shown by the app and the CLI)
};

CudaAvailability cuda_availability();

// Whether the cuBLAS library the GPU backend loads when it builds a model can be loaded
// (backend/cuda/cublas-library.h), with no GPU needed: its file name, else the reason. Loads
// and closes it again; a build without CUDA gives the no-backend reason.
struct CublasAvailability {
    bool available = false;
    std::string library;  // the name it was found under, when available
    std::string reason;   // why not, otherwise
};
CublasAvailability cublas_availability();
// Every visible CUDA device with its free/total memory; an error (with the reason) when
// CUDA is not available.
Expected<std::vector<GpuDeviceInfo>> list_cuda_devices();

// Configuration of the sequences a GpuModel creates.
struct GpuSequenceConfig {
    int64_t n_ctx = 4096;
    KvProfile kv_profile;  // empty layers or all 16-bit: fp16 cache
};

class GpuSequence {
public:
    virtual ~GpuSequence() = default;
    virtual int64_t size() const = 0;      // committed tokens
    virtual int64_t capacity() const = 0;
    // Drops every position >= n (a quantized side cuts back to its group boundary: size() says).
    virtual void truncate(int64_t n) = 0;
    // Device bytes reserved by this sequence's cache (preallocated for capacity()).
    virtual uint64_t allocated_bytes() const = 0;
    // Bytes the committed tokens use (codes, scales/mins, fp16 sinks and window).
    virtual KvMemoryReport memory() const = 0;
    // Benchmarks only: marks n_tokens as committed with constant, finite cache contents and
    // the quantized/fp16 split the window rule gives for n_tokens — the state after a
    // prefill, without its cost. Decode timings over such a cache equal real ones; its
    // outputs are meaningless.
    virtual Status fill_for_benchmark(int64_t n_tokens) = 0;
};

// One sequence's part of a batched forward pass. Its tokens go at positions
// [seq->size(), seq->size() + tokens.size()); with `logits` (host memory) the logits of the
// last n_logits tokens are written there, [n_logits, n_vocab].
struct GpuBatchItem {
    GpuSequence* seq = nullptr;
    std::span<const int32_t> tokens;
    int64_t n_logits = 0;
    float* logits = nullptr;
};

class GpuWeights;

class GpuModel {
public:
    virtual ~GpuModel() = default;
    virtual const GpuWeights& weights() const = 0;
    virtual Expected<std::unique_ptr<GpuSequence>> new_sequence(const GpuSequenceConfig& config) = 0;
    // All items' tokens together must not exceed max_batch_tokens(); each sequence appears
    // at most once and must come from this GpuModel. Token ids are validated first; on an
    // error no cache changes.
    virtual Status forward(std::span<const GpuBatchItem> items) = 0;
    virtual int64_t max_batch_tokens() const = 0;
};

class GpuWeights : public std::enable_shared_from_this<GpuWeights> {
public:
    virtual ~GpuWeights() = default;
    virtual const GpuDeviceInfo& device() const = 0;
    virtual uint64_t bytes() const = 0;  // device bytes of the uploaded weights
    // A new execution context for passes of up to max_batch_tokens tokens; it keeps these
    // weights alive. Only its scratch is allocated: the weights are not uploaded again.
    virtual Expected<std::unique_ptr<GpuModel>> new_model(int64_t max_batch_tokens) const = 0;
};

// Uploads the model's weights to CUDA device `device` (no conversion: every weight stays in
// its GGUF type and the kernels dequantize in registers). Errors name the reason (no CUDA
// build, no device, unsupported weight type or head size, out of device memory).
Expected<std::shared_ptr<const GpuWeights>> upload_weights_cuda(std::shared_ptr<const Model> model, int device);

struct GpuModelConfig {
    int device = 0;
    int64_t max_batch_tokens = 256;  // tokens of all sequences in one forward pass
};

// upload_weights_cuda + new_model, for a single user of the weights (a benchmark, a test).
// Whoever runs several sessions of a model shares one upload through DeviceWeights.
Expected<std::unique_ptr<GpuModel>> upload_model_cuda(std::shared_ptr<const Model> model, const GpuModelConfig& config);

}  // namespace kvmix
