// Helpers of the CUDA tests: skip without a device, device copies of host buffers (with the
// guard canaries of op-harness.h travelling along so out-of-range writes are caught).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "check.h"
#include "op-harness.h"

namespace kvmix_test {

inline bool cuda_device_present() {
    int n = 0;
    const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    cudaGetLastError();
    return ok;
}

#define REQUIRE_CUDA_DEVICE()                                   \
    do {                                                        \
        if (!kvmix_test::cuda_device_present()) SKIP("no CUDA device"); \
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

// A Guarded host buffer mirrored on the device, guards included.
class DeviceGuarded {
public:
    explicit DeviceGuarded(size_t n) : host_(n), dev_(std::vector<float>(n + 2 * Guarded::kGuard, canary())) {}
    float* data() const { return dev_.get() + Guarded::kGuard; }
    // Copies the device buffer back; false if a guard was overwritten.
    bool fetch(std::vector<float>& out) {
        const std::vector<float> all = dev_.to_host();
        out.assign(all.begin() + Guarded::kGuard, all.end() - Guarded::kGuard);
        for (size_t i = 0; i < Guarded::kGuard; ++i)
            if (!is_canary(all[i]) || !is_canary(all[all.size() - 1 - i])) return false;
        return true;
    }

private:
    Guarded host_;
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
