// Internal interface between attn-flash.cu and attn-merge.cu (device code only).
#pragma once

#include <cuda_runtime.h>

#include "common/kv-device-params.h"

namespace kvmix::cuda {

// Combines the n_splits partial results of every (row, head) into out. D = head size.
template <int D>
const char* flash_merge(const FlashAttentionParams& p, cudaStream_t stream);

}  // namespace kvmix::cuda
