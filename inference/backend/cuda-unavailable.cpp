// The device interface of a build without the CUDA backend (CMake picks this file instead
// of backend/cuda/): every GPU request fails with the reason.
#include "backend/device.h"

namespace kvmix {

namespace {
constexpr const char* kReason = "this build of KVmix has no CUDA backend (nvcc was not found when it was compiled)";
}

CudaAvailability cuda_availability() { return {false, false, kReason}; }

CublasAvailability cublas_availability() { return {false, "", kReason}; }

Expected<std::vector<GpuDeviceInfo>> list_cuda_devices() { return error(ErrorCode::unsupported, kReason); }

Expected<std::shared_ptr<const GpuWeights>> upload_weights_cuda(std::shared_ptr<const Model>, int) {
    return error(ErrorCode::unsupported, kReason);
}

}  // namespace kvmix
