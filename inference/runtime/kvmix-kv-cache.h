// The KVmix KV cache (../shared/KVMIX.md): per layer, the first `sinks` tokens and a recent
// window stay fp16; older tokens are quantized in whole groups of G — keys per channel over
// G tokens, values per token over G channels — at the layer's own K and V bit widths, into
// slabs allocated as the context grows (64 groups, each kv head's run contiguous; the memory
// report charges pages of 4 groups). Attention reads the packed codes directly through
// the mixed-attention kernel (sinks, quantized slabs and the fp16 window as segments,
// merged by an online softmax). A side with 16 bits is never quantized.
// erase() (context shift) dequantizes from the group containing `begin`, drops the range,
// re-rotates and re-quantizes what moved; save()/load() write a versioned snapshot tagged
// with the profile (widths, G, sinks, windows per layer, rotation) that only the same
// profile loads. With the profile's KV rotation a quantized side stores R·x for every row
// (sinks and window included) and attention rotates the query / un-rotates the output.
// Owned by one Session; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kvmix/status.h"
#include "runtime/kv-cache.h"
#include "runtime/kv-profile.h"

namespace kvmix {

// Quantized groups per page: the granule in which the cache's memory report charges
// quantized storage, and so the one memory estimates must round to.
inline constexpr int64_t kKvGroupsPerPage = 4;

// `max_chunk` is the most tokens one forward pass writes (the session's batch): the fp16
// window buffers are sized for window_max + G + max_chunk tokens.
Expected<std::unique_ptr<KvCache>> make_kvmix_kv_cache(const std::vector<KvLayerShape>& layers, const KvProfile& profile,
                                                       int64_t capacity, int64_t max_chunk);

}  // namespace kvmix
