// Device discovery of the CUDA backend: availability with a reason, and the device list.
#include <cuda_runtime.h>

#include "backend/device.h"

namespace kvmix {

CudaAvailability cuda_availability() {
    CudaAvailability a;
    a.built = true;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear the sticky error of a failed driver query
        a.reason = e == cudaErrorNoDevice ? std::string("no CUDA device")
                                          : std::string("no CUDA device (") + cudaGetErrorString(e) + ")";
        return a;
    }
    if (n == 0) {
        a.reason = "no CUDA device";
        return a;
    }
    a.available = true;
    return a;
}

Expected<std::vector<GpuDeviceInfo>> list_cuda_devices() {
    const CudaAvailability a = cuda_availability();
    if (!a.available) return error(ErrorCode::unsupported, a.reason);
    int n = 0;
    cudaGetDeviceCount(&n);
    std::vector<GpuDeviceInfo> out;
    for (int i = 0; i < n; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        GpuDeviceInfo d;
        d.index = i;
        d.name = prop.name;
        d.cc_major = prop.major;
        d.cc_minor = prop.minor;
        d.sm_count = prop.multiProcessorCount;
        d.total_bytes = prop.totalGlobalMem;
        int prev = 0;
        cudaGetDevice(&prev);
        size_t free_b = 0, total_b = 0;
        if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
            d.free_bytes = free_b;
            d.total_bytes = total_b;
        }
        cudaSetDevice(prev);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace kvmix
