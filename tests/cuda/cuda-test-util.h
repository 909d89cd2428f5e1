// Helpers of the CUDA tests: skip without a device (fail under KVMIX_REQUIRE_GPU), device
// copies of host buffers (with the guard canaries of op-harness.h travelling along so
// out-of-range writes are caught).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "gpu-required.h"
#include "kernel-cases.h"
#include "op-harness.h"

namespace kvmix_test {

// Why no CUDA device can be used (with the runtime's error), or "" when one can.
inline std::string cuda_device_problem() {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    cudaGetLastError();  // clear the sticky error of a failed driver query
    if (e != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    if (n == 0) return "no CUDA device";
    return {};
}

#define REQUIRE_CUDA_DEVICE()                                                   \
    do {                                                                        \
        const std::string kvmix_problem_ = ::kvmix_test::cuda_device_problem(); \
        if (!kvmix_problem_.empty()) SKIP_OR_FAIL_WITHOUT_GPU(kvmix_problem_);  \
    } while (0)

// A device copy of a host vector; copy back with to_host().
template <class T>
class DeviceVec {
public:
    explicit DeviceVec(const std::vector<T>& host) : n_(host.size()) {
        CHECK(cudaMalloc(&p_, std::max<size_t>(1, n_) * sizeof(T)) == cudaSuccess);
        if (n_) CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
    }
    explicit DeviceVec(size_t n) : DeviceVec(std::vector<T>(n)) {}
    DeviceVec(const DeviceVec&) = delete;
    DeviceVec& operator=(const DeviceVec&) = delete;
    ~DeviceVec() { cudaFree(p_); }
    T* get() const { return static_cast<T*>(p_); }
    std::vector<T> to_host() const {
        std::vector<T> h(n_);
        if (n_) CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
        return h;
    }

private:
    void* p_ = nullptr;
    size_t n_;
};

// A guarded output on the device: guarded_buffer(n) (kernel-cases.h) copied there, so guards
// and every unwritten element stay canaries.
class DeviceGuarded {
public:
    explicit DeviceGuarded(size_t n) : dev_(guarded_buffer(n)) {}
    float* data() const { return dev_.get() + Guarded::kGuard; }
    // Copies the inside back; false if a guard was overwritten.
    bool fetch(std::vector<float>& out) const { return unguard(dev_.to_host(), out); }

private:
    DeviceVec<float> dev_;
};

inline void sync_ok() {
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
}

inline Compare compare(const std::vector<float>& got, const std::vector<float>& want) {
    Accum a;
    for (size_t i = 0; i < want.size(); ++i) a.add(got[i], want[i], i);
    return a.result();
}

}  // namespace kvmix_test
