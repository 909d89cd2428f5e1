// DeviceWeights: the device copies of one Model's weights, at most one per device, shared by
// every session that is given this object (SessionConfig::gpu_weights). Whoever owns the
// model (the app's inference worker, a tool that opens several sessions) creates one next to
// it, so the model is uploaded once per device however many chats run; the copies stay here
// between sessions, so the app's probe session and its later chats share one upload.
// A session keeps the copy it uses alive even after this object is gone.
//
// Device-agnostic: the upload is a function (upload_weights_cuda by default), so the
// sharing is tested without a GPU by counting a fake uploader's calls.
// Thread-safe: get() uploads under a lock, so concurrent first calls still upload once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "backend/device.h"
#include "kvmix/status.h"

namespace kvmix {

class DeviceWeights {
public:
    using Uploader = std::function<Expected<std::shared_ptr<const GpuWeights>>(std::shared_ptr<const Model>, int device)>;

    explicit DeviceWeights(std::shared_ptr<const Model> model, Uploader upload = upload_weights_cuda);
    DeviceWeights(const DeviceWeights&) = delete;
    DeviceWeights& operator=(const DeviceWeights&) = delete;

    const std::shared_ptr<const Model>& model() const { return model_; }
    // The weights on `device`: uploaded by the first call for that device, the same object
    // afterwards. A failed upload is returned and not remembered (a later call tries again,
    // e.g. once device memory was freed).
    Expected<std::shared_ptr<const GpuWeights>> get(int device);
    // How many uploads ran, failed ones included (one per device used, whatever the number
    // of sessions).
    int upload_count() const;

private:
    std::shared_ptr<const Model> model_;
    Uploader upload_;
    mutable std::mutex mutex_;
    std::map<int, std::shared_ptr<const GpuWeights>> copies_;
    int uploads_ = 0;
};

}  // namespace kvmix
