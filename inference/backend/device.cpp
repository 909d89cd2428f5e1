#include "backend/device.h"

namespace kvmix {

const char* device_kind_name(DeviceKind kind) { return kind == DeviceKind::cuda ? "cuda" : "cpu"; }

Expected<DeviceKind> parse_device_kind(const std::string& name) {
    if (name == "cpu") return DeviceKind::cpu;
    if (name == "cuda" || name == "gpu") return DeviceKind::cuda;
    return error(ErrorCode::invalid_argument, "unknown device '" + name + "' (expected cpu or cuda)");
}

Expected<std::unique_ptr<GpuModel>> upload_model_cuda(std::shared_ptr<const Model> model, const GpuModelConfig& config) {
    auto weights = upload_weights_cuda(std::move(model), config.device);
    if (!weights) return weights.status();
    return (*weights)->new_model(config.max_batch_tokens);
}

}  // namespace kvmix
