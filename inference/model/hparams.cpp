#include "model/hparams.h"

namespace kvmix {

uint32_t ModelHParams::n_sliding_layers() const {
    uint32_t n = 0;
    for (bool s : layer_sliding) n += s ? 1 : 0;
    return n;
}

const char* arch_family_name(ArchFamily family) {
    switch (family) {
        case ArchFamily::llama: return "llama";
        case ArchFamily::qwen2: return "qwen2";
        case ArchFamily::qwen3: return "qwen3";
        case ArchFamily::gemma3: return "gemma3";
    }
    return "unknown";
}

const char* rope_scaling_name(RopeScalingType type) {
    switch (type) {
        case RopeScalingType::none: return "none";
        case RopeScalingType::linear: return "linear";
        case RopeScalingType::llama3: return "llama3";
        case RopeScalingType::yarn: return "yarn";
    }
    return "unknown";
}

}  // namespace kvmix
