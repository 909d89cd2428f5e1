// Device selection on any machine: cuda_availability() explains itself, and a Session asked
// for the CUDA device either runs there or fails with that reason (never silently on the CPU).
// Under KVMIX_REQUIRE_GPU (installer/gpu-check.sh on a GPU machine) an unusable GPU fails.
#include <string>

#include "backend/device.h"
#include "check.h"
#include "gpu-required.h"
#include "model/model.h"
#include "runtime/session.h"

using namespace kvmix;

TEST_CASE("device: parse names, availability carries a reason when unavailable") {
    CHECK(*parse_device_kind("cpu") == DeviceKind::cpu);
    CHECK(*parse_device_kind("cuda") == DeviceKind::cuda);
    CHECK(!parse_device_kind("tpu").ok());
    const CudaAvailability a = cuda_availability();
    if (!a.available) {
        if (kvmix_test::gpu_required())
            kvmix_test::report_failure(__FILE__, __LINE__, "KVMIX_REQUIRE_GPU is set but CUDA is unavailable: " + a.reason);
        CHECK(!a.reason.empty());
        CHECK(!list_cuda_devices().ok());
    } else {
        auto devs = list_cuda_devices();
        REQUIRE(devs.ok());
        CHECK(!devs->empty());
        CHECK((*devs)[0].total_bytes > 0);
    }
}

TEST_CASE("device: Session::create(device = cuda) runs on the GPU or fails with the reason") {
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-llama-q8_0.gguf");
    REQUIRE(m.ok());
    SessionConfig cfg;
    cfg.n_ctx = 64;
    cfg.n_threads = 1;
    cfg.device = DeviceKind::cuda;
    auto s = Session::create(*m, cfg);
    const CudaAvailability a = cuda_availability();
    if (!a.available) {
        REQUIRE(!s.ok());
        CHECK(s.status().message().find(a.reason) != std::string::npos);
        CHECK(s.status().message().find("CUDA") != std::string::npos);
    } else {
        REQUIRE(s.ok());
        CHECK((*s)->on_gpu());
    }
}

KVMIX_TEST_MAIN()
