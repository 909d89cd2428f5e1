#include "backend/device.h"

namespace kvmix {

const char* device_kind_name(DeviceKind kind) { return kind == DeviceKind::cuda ? "cuda" : "cpu"; }

Expected<DeviceKind> parse_device_kind(const std::string& name) {
    if (name == "cpu") return DeviceKind::cpu;
    if (name == "cuda" || name == "gpu") return DeviceKind::cuda;
    return error(ErrorCode::invalid_argument, "unknown device '" + name + "' (expected cpu or cuda)");
}

}  // namespace kvmix
