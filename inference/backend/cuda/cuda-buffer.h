// RAII wrappers of the CUDA runtime objects the backend owns (device memory, streams,
// cuBLAS handles) and the error plumbing from cudaError_t / kernel messages to Status.
// Move-only; not thread-safe (owned by one GpuWeights, GpuModel or GpuSequence).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "backend/cuda/cublas-library.h"
#include "kvmix/status.h"

namespace kvmix::cuda {

inline Status cuda_status(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return {};
    const ErrorCode code = e == cudaErrorMemoryAllocation ? ErrorCode::out_of_memory : ErrorCode::internal;
    return error(code, std::string(what) + ": " + cudaGetErrorString(e));
}
// A kernel launcher's answer (nullptr or an "unsupported" message) plus any launch error.
inline Status kernel_status(const char* message, const char* what) {
    if (message) return error(ErrorCode::unsupported, std::string(what) + ": " + message);
    return cuda_status(cudaGetLastError(), what);
}

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            reset();
            ptr_ = std::exchange(o.ptr_, nullptr);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    ~DeviceBuffer() { reset(); }

    // Allocates `bytes` (at least 1) of device memory, zero-filled.
    Status allocate(size_t bytes, const char* what) {
        reset();
        void* p = nullptr;
        KVMIX_TRY(cuda_status(cudaMalloc(&p, bytes ? bytes : 1), what));
        ptr_ = p;
        bytes_ = bytes;
        return cuda_status(cudaMemset(ptr_, 0, bytes ? bytes : 1), what);
    }
    Status upload(const void* host, size_t bytes, const char* what) {
        KVMIX_TRY(allocate(bytes, what));
        return cuda_status(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice), what);
    }
    void reset() {
        if (ptr_) cudaFree(ptr_);
        ptr_ = nullptr;
        bytes_ = 0;
    }
    template <class T = void>
    T* get() const {
        return static_cast<T*>(ptr_);
    }
    size_t bytes() const { return bytes_; }

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

class Stream {
public:
    Stream() = default;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream() {
        if (s_) cudaStreamDestroy(s_);
    }
    // A blocking stream: it orders itself after work on the legacy default stream (the
    // cudaMemset of a fresh allocation), so no extra synchronization is needed.
    Status create() { return cuda_status(cudaStreamCreate(&s_), "creating a CUDA stream"); }
    cudaStream_t get() const { return s_; }

private:
    cudaStream_t s_ = nullptr;
};

// A cuBLAS handle on the backend's stream, with the library it came from (loaded by
// create(), cublas-library.h).
class Cublas {
public:
    Cublas() = default;
    Cublas(const Cublas&) = delete;
    Cublas& operator=(const Cublas&) = delete;
    ~Cublas() {
        if (h_) lib_.api().destroy(h_);
    }
    Status create(cudaStream_t stream) {
        if (!lib_.loaded()) KVMIX_TRY(lib_.load());
        if (lib_.api().create(&h_) != CUBLAS_STATUS_SUCCESS) return error(ErrorCode::internal, "cuBLAS initialization failed");
        lib_.api().set_stream(h_, stream);
        return {};
    }
    cublasHandle_t get() const { return h_; }
    const CublasApi& api() const { return lib_.api(); }

private:
    CublasLibrary lib_;  // declared first: destroyed after the handle
    cublasHandle_t h_ = nullptr;
};

}  // namespace kvmix::cuda
