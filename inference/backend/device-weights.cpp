#include "backend/device-weights.h"

#include <string>
#include <utility>

namespace kvmix {

DeviceWeights::DeviceWeights(std::shared_ptr<const Model> model, Uploader upload)
    : model_(std::move(model)), upload_(std::move(upload)) {}

Expected<std::shared_ptr<const GpuWeights>> DeviceWeights::get(int device) {
    if (!model_) return error(ErrorCode::invalid_argument, "no model to upload");
    if (device < 0) return error(ErrorCode::invalid_argument, "GPU index " + std::to_string(device) + " is negative");
    const std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = copies_.find(device); it != copies_.end()) return it->second;
    ++uploads_;
    auto uploaded = upload_(model_, device);
    if (!uploaded) return uploaded.status();
    if (!*uploaded) return error(ErrorCode::internal, "the weight upload returned no weights");
    copies_.emplace(device, *uploaded);
    return uploaded;
}

int DeviceWeights::upload_count() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return uploads_;
}

}  // namespace kvmix
