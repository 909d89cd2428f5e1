// Device discovery of the CUDA backend: availability with a reason, the device list, and
// whether cuBLAS loads.
#include <cuda_runtime.h>

#include <string>

#include "backend/cuda/cublas-library.h"
#include "backend/device.h"

namespace kvmix {

namespace {

std::string cuda_version(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// Why cudaGetDeviceCount failed, in the user's terms: "no driver" and "a driver older than
// the runtime" are the same error code, told apart by the driver's version.
std::string device_count_error(cudaError_t e) {
    if (e == cudaErrorNoDevice) return "no CUDA device";
    if (e == cudaErrorInsufficientDriver) {
        int driver = 0, runtime = 0;
        cudaDriverGetVersion(&driver);
        cudaRuntimeGetVersion(&runtime);
        if (driver == 0) return "no NVIDIA driver is installed (no CUDA device usable)";
        return "the NVIDIA driver supports CUDA " + cuda_version(driver) + ", older than the CUDA " + cuda_version(runtime) +
               " runtime of this build; update the driver";
    }
    return std::string("CUDA cannot be used: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

}  // namespace

CudaAvailability cuda_availability() {
    CudaAvailability a;
    a.built = true;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear the sticky error of a failed driver query
        a.reason = device_count_error(e);
        return a;
    }
    if (n == 0) {
        a.reason = "no CUDA device";
        return a;
    }
    a.available = true;
    return a;
}

CublasAvailability cublas_availability() {
    CublasAvailability a;
    cuda::CublasLibrary lib;
    const Status st = lib.load();
    if (!st.ok()) {
        a.reason = st.message();
        return a;
    }
    a.available = true;
    a.library = lib.name();
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
