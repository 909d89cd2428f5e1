// kvmix doctor: what this machine can run — the CPU kernels it will use, whether the CUDA
// backend is built, whether cuBLAS loads and which devices answer — and, where a GPU is
// usable, the load-time self-check the app runs (runtime/device-check.h): a short prompt on
// the CPU and the GPU, every position's logits compared. Exit status 0 when every check that
// could run passed (a machine without a GPU passes with "no GPU"), 1 when the GPU self-check
// failed or could not run, 2 for usage errors.
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "backend/device.h"
#include "cli/cli-common.h"
#include "cli/commands.h"
#include "cpu/cpu-features.h"
#include "cpu/mixed-attention.h"
#include "runtime/device-check.h"
#ifdef KVMIX_WITH_TOKENIZER
#include "tokenizer/tokenizer-loader.h"
#endif

namespace kvmix::cli {

namespace {

const char* path_name(MixedAttentionPath p) {
    switch (p) {
        case MixedAttentionPath::avx512_vnni_int8: return "int8 AVX-512 VNNI";
        case MixedAttentionPath::avx_vnni_int8: return "int8 AVX-VNNI";
        case MixedAttentionPath::avx2_int8: return "int8 AVX2";
        case MixedAttentionPath::avx2_fp32: return "fp32 AVX2";
        default: return "scalar";
    }
}

}  // namespace

int cmd_doctor(int argc, char** argv) {
    const char* usage =
        "usage: kvmix doctor [-m MODEL] [--gpu N] [--kv SPEC] [--json]\n"
        "  The CPU kernels in use, the CUDA backend, cuBLAS and devices, and where a GPU is usable the\n"
        "  self-check the app runs at load: the same prompt on the CPU and the GPU, logits compared\n"
        "  (MODEL defaults to 'default'; --kv checks a KVmix cache on both instead of fp16).\n"
        "  Exit status: 0 passed (no GPU included), 1 the GPU self-check failed or could not run.";
    Args args({"--model", "--gpu", "--kv", "--kv-group", "--kv-window", "--kv-sinks"}, {"--json"}, {{"-m", "--model"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("doctor", usage, args.positional().empty()); rc >= 0) return rc;
    auto gpu_index = parse_int(args, "--gpu", 0, 0, 64);
    if (!gpu_index) return fail("doctor", gpu_index.status());

    nlohmann::json j;
    const bool simd = cpu_has_avx2_fma_f16c();
    const char* kv_path = path_name(mixed_attention_best_path());
    j["cpu"] = {{"threads", std::thread::hardware_concurrency()}, {"avx2_fma_f16c", simd}, {"kernels", simd ? "avx2" : "scalar"},
                {"kvmix_attention", kv_path}};
    const CudaAvailability cuda = cuda_availability();
    j["cuda"] = {{"built", cuda.built}, {"available", cuda.available}, {"reason", cuda.reason}};
    // cuBLAS is loaded only when a GPU model is built, so a missing one would otherwise show
    // only then; it loads without a GPU, so this is checked wherever CUDA is built.
    CublasAvailability cublas;
    if (cuda.built) {
        cublas = cublas_availability();
        j["cublas"] = {{"available", cublas.available}, {"library", cublas.library}, {"reason", cublas.reason}};
    }
    std::vector<GpuDeviceInfo> devices;
    if (cuda.available) {
        auto list = list_cuda_devices();
        if (list) devices = *list;
        for (const GpuDeviceInfo& d : devices)
            j["devices"].push_back({{"index", d.index}, {"name", d.name}, {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
                                    {"sms", d.sm_count}, {"free_bytes", d.free_bytes}, {"total_bytes", d.total_bytes}});
    }

    // The self-check, when there is a device to check.
    int rc = 0;
    std::string verdict;
    if (!cuda.available) {
        verdict = "not run, no GPU: " + cuda.reason + ". Chats run on the CPU.";
        j["self_check"] = {{"ran", false}, {"passed", nullptr}, {"summary", verdict}};
    } else {
        const auto run = [&]() -> Expected<DeviceCheckReport> {
            Args margs = args;
            if (!margs.has("--model")) margs.set("--model", "default");
            std::shared_ptr<const Model> model;
            KVMIX_ASSIGN(model, load_model(margs));
            j["model"] = model->file().path();
            std::vector<int32_t> ids;
#ifdef KVMIX_WITH_TOKENIZER
            std::unique_ptr<Tokenizer> tok;
            KVMIX_ASSIGN(tok, load_tokenizer(model->file()));
            KVMIX_ASSIGN(ids, tok->encode(device_check_text(), true, false));
#else
            // No tokenizer in this build (the GPU machine's engine-only build): fixed ids.
            const int64_t n_vocab = model->hparams().n_vocab;
            for (int64_t i = 0; i < 64; ++i) ids.push_back(static_cast<int32_t>((1 + i * 7919) % n_vocab));
#endif
            SessionConfig cfg;
            KVMIX_TRY(apply_kv_options(margs, model->hparams(), cfg));
            cfg.gpu_index = static_cast<int>(*gpu_index);
            return check_gpu_against_cpu(model, ids, cfg);
        };
        const Expected<DeviceCheckReport> report = run();
        if (!report) {
            verdict = "could not run: " + report.status().message();
            rc = 1;
        } else {
            verdict = std::string(report->passed ? "passed: " : "FAILED: ") + report->summary +
                      (report->passed ? "" : "; the app uses the CPU for this model");
            rc = report->passed ? 0 : 1;
        }
        j["self_check"] = {{"ran", report.ok()}, {"passed", report.ok() && report->passed}, {"summary", verdict},
                           {"gpu", *gpu_index}};
    }

    if (args.has("--json")) {
        std::printf("%s\n", j.dump(2).c_str());
        return rc;
    }
    std::printf("CPU        %u threads; AVX2+FMA+F16C %s -> %s kernels; KVmix attention: %s\n",
                std::thread::hardware_concurrency(), simd ? "yes" : "no", simd ? "SIMD" : "scalar", kv_path);
    std::printf("CUDA       %s\n", !cuda.built       ? "not built into this program"
                                   : cuda.available ? "available"
                                                    : ("built, not available: " + cuda.reason).c_str());
    if (cuda.built)
        std::printf("cuBLAS     %s\n", cublas.available ? ("loads (" + cublas.library + ")").c_str() : ("cannot be loaded: " + cublas.reason).c_str());
    for (const GpuDeviceInfo& d : devices)
        std::printf("GPU %-6d %s, compute capability %d.%d, %d SMs, %.1f of %.1f GiB free\n", d.index, d.name.c_str(),
                    d.cc_major, d.cc_minor, d.sm_count, static_cast<double>(d.free_bytes) / (1 << 30),
                    static_cast<double>(d.total_bytes) / (1 << 30));
    if (j.contains("model")) std::printf("Model      %s\n", j["model"].get<std::string>().c_str());
    std::printf("Self-check %s\n", verdict.c_str());
    return rc;
}

}  // namespace kvmix::cli
