// Split-K ("flash-decoding") attention over the mixed device KV cache, for decode (one query
// token per sequence) and prefill chunks (several query tokens) alike.
//   grid.x = kv head, grid.y = split of the key positions, grid.z = work item (up to
//   flash_q_tile consecutive query tokens of one sequence).
// A block loads each key/value tile of its kv head ONCE into shared memory — dequantizing the
// packed codes in registers on the way (never an fp16 copy of the cache in global memory) —
// and uses it for all its query rows: every query token of the item times every query head
// of the group (GQA-native). Online softmax per row; the split's unnormalized accumulator and
// (max, sum) go to scratch and attn-merge.cu combines the splits.
// Templates: head size D (16/32/64/128/256) for the kernel, bit width B for the tile loaders.
// Twin: mixed_attention_ref (kernels/ref/mixed-attention.cpp).
#include "cuda/attn-flash.cuh"
#include "cuda/cuda-kernels.h"
#include "cuda/kv-load.cuh"

namespace kvmix::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kRowsMax = kFlashMaxRows;

template <int D>
__host__ __device__ constexpr int tile_tokens() {
    return D <= 128 ? 32 : 16;
}

template <int D>
__host__ __device__ constexpr size_t smem_floats() {
    constexpr int T = tile_tokens<D>();
    return 2 * static_cast<size_t>(T) * (D + 1) + 2 * static_cast<size_t>(kRowsMax) * D +
           static_cast<size_t>(kRowsMax) * T + 3 * kRowsMax;
}

// fp16 rows [nt][D] (contiguous) into dst[i][D + 1], four halves per load.
template <int D>
__device__ void stage_fp16(const uint16_t* rows, int nt, float* dst) {
    constexpr int kQuads = D / 4;
    for (int e = static_cast<int>(threadIdx.x); e < nt * kQuads; e += kThreads) {
        const int i = e / kQuads, d = 4 * (e % kQuads);
        const uint2 raw = *reinterpret_cast<const uint2*>(rows + i * D + d);
        float* o = dst + i * (D + 1) + d;
        o[0] = fp16_to_fp32(static_cast<uint16_t>(raw.x & 0xFFFFu));
        o[1] = fp16_to_fp32(static_cast<uint16_t>(raw.x >> 16));
        o[2] = fp16_to_fp32(static_cast<uint16_t>(raw.y & 0xFFFFu));
        o[3] = fp16_to_fp32(static_cast<uint16_t>(raw.y >> 16));
    }
}

// Keys of positions [t0, t0 + nt) into sk[i][D + 1]. Fast paths: a tile inside one packed
// chunk (one thread per channel: its record's meta and chunk words once, then nt codes;
// a warp reads consecutive records), contiguous fp16 rows; otherwise element by element.
template <int D, int B>
__device__ void stage_keys(const KvSideView& s, int64_t hk, int64_t t0, int nt, float* sk) {
    const int64_t i0 = t0 - s.n_sinks;
    if (s.bits != kvq::kNotQuantized && in_packed(s, t0) && in_packed(s, t0 + nt - 1) && i0 % 32 + nt <= 32) {
        const int G = s.group_size;
        const uint8_t* grp = s.packed + static_cast<size_t>(hk) * s.packed_head_stride + static_cast<size_t>(i0 / G) * s.unit_bytes;
        const size_t rec = kvq::key_record_bytes(B, G);
        const size_t chunk = kvq::kMetaBytes + static_cast<size_t>((i0 % G) / 32) * kvq::chunk_bytes(B);
        const int off = static_cast<int>(i0 % 32);
        for (int d = static_cast<int>(threadIdx.x); d < D; d += kThreads) {
            const uint8_t* r = grp + static_cast<size_t>(d) * rec;
            const float sc = load_f16(r), mn = load_f16(r + 2);
            uint32_t w[B];
            load_chunk<B>(r + chunk, w);
            for (int i = 0; i < nt; ++i) sk[i * (D + 1) + d] = kv_dequant(chunk_code<B>(w, off + i), sc, mn);
        }
        return;
    }
    if (const uint16_t* rows = fp16_rows(s, hk, t0, nt, D)) {
        stage_fp16<D>(rows, nt, sk);
        return;
    }
    for (int e = static_cast<int>(threadIdx.x); e < nt * D; e += kThreads) {
        const int i = e / D, d = e % D;
        sk[i * (D + 1) + d] = load_key<B>(s, hk, t0 + i, d, D);
    }
}

// Values: packed rows are staged one 32-channel chunk per thread (lanes take consecutive
// tokens, so shared-memory stores hit distinct banks).
template <int D, int B>
__device__ void stage_values(const KvSideView& s, int64_t hk, int64_t t0, int nt, float* sv) {
    constexpr int kChunks = D / 32;
    if (kChunks > 0 && s.bits != kvq::kNotQuantized && in_packed(s, t0) && in_packed(s, t0 + nt - 1)) {
        const int G = s.group_size;
        const size_t rec = kvq::value_record_bytes(B, G);
        const uint8_t* base = s.packed + static_cast<size_t>(hk) * s.packed_head_stride +
                              static_cast<size_t>(t0 - s.n_sinks) * s.unit_bytes;
        for (int e = static_cast<int>(threadIdx.x); e < nt * kChunks; e += kThreads) {
            const int i = e % nt, c = e / nt;
            const uint8_t* r = base + static_cast<size_t>(i) * s.unit_bytes + static_cast<size_t>(c * 32 / G) * rec;
            const float sc = load_f16(r), mn = load_f16(r + 2);
            uint32_t w[B];
            load_chunk<B>(r + kvq::kMetaBytes + static_cast<size_t>((c * 32) % G / 32) * kvq::chunk_bytes(B), w);
            float* o = sv + i * (D + 1) + c * 32;
#pragma unroll
            for (int j = 0; j < 32; ++j) o[j] = kv_dequant(chunk_code<B>(w, j), sc, mn);
        }
        return;
    }
    if (const uint16_t* rows = fp16_rows(s, hk, t0, nt, D)) {
        stage_fp16<D>(rows, nt, sv);
        return;
    }
    for (int e = static_cast<int>(threadIdx.x); e < nt * D; e += kThreads) {
        const int i = e / D, d = e % D;
        sv[i * (D + 1) + d] = load_value<B>(s, hk, t0 + i, d, D);
    }
}

template <int D>
__device__ void stage_keys_any(const KvSideView& s, int64_t hk, int64_t t0, int nt, float* sk) {
    switch (s.bits) {
        case 3: stage_keys<D, 3>(s, hk, t0, nt, sk); break;
        case 4: stage_keys<D, 4>(s, hk, t0, nt, sk); break;
        case 8: stage_keys<D, 8>(s, hk, t0, nt, sk); break;
        default: stage_keys<D, 2>(s, hk, t0, nt, sk); break;  // 2, or 16 (no packed range)
    }
}

template <int D>
__device__ void stage_values_any(const KvSideView& s, int64_t hk, int64_t t0, int nt, float* sv) {
    switch (s.bits) {
        case 3: stage_values<D, 3>(s, hk, t0, nt, sv); break;
        case 4: stage_values<D, 4>(s, hk, t0, nt, sv); break;
        case 8: stage_values<D, 8>(s, hk, t0, nt, sv); break;
        default: stage_values<D, 2>(s, hk, t0, nt, sv); break;
    }
}

template <int D>
__global__ void __launch_bounds__(kThreads) flash_kernel(FlashAttentionParams p) {
    constexpr int T = tile_tokens<D>();
    extern __shared__ float smem[];
    float* sk = smem;                      // [T][D + 1]
    float* sv = sk + T * (D + 1);          // [T][D + 1]
    float* sq = sv + T * (D + 1);          // [rows][D]
    float* sacc = sq + kRowsMax * D;       // [rows][D]
    float* ss = sacc + kRowsMax * D;       // [rows][T] scores, then probabilities
    float* sm = ss + kRowsMax * T;         // [rows] running max
    float* sl = sm + kRowsMax;             // [rows] running sum
    float* salpha = sl + kRowsMax;         // [rows] rescale of this tile
    __shared__ int32_t spos[kRowsMax];

    const int64_t hk = blockIdx.x;
    const int split = static_cast<int>(blockIdx.y);
    const FlashWork work = p.work[blockIdx.z];
    const FlashSeq& seq = p.seqs[work.seq];
    const int qpg = static_cast<int>(p.n_head / p.n_head_kv);
    const int n_rows = work.n_rows * qpg;

    // Query rows: r = token * qpg + head-in-group.
    for (int e = static_cast<int>(threadIdx.x); e < n_rows * D; e += kThreads) {
        const int r = e / D, d = e % D;
        const int64_t row = work.row0 + r / qpg, h = hk * qpg + r % qpg;
        sq[e] = p.q[static_cast<size_t>(row) * p.q_stride + static_cast<size_t>(h * D + d)];
        sacc[e] = 0.0f;
    }
    int32_t pos_min = INT32_MAX, pos_max = -1;
    for (int t = 0; t < work.n_rows; ++t) {
        const int32_t pos = p.q_pos[work.row0 + t];
        pos_min = min(pos_min, pos);
        pos_max = max(pos_max, pos);
    }
    if (threadIdx.x < static_cast<unsigned>(work.n_rows)) spos[threadIdx.x] = p.q_pos[work.row0 + threadIdx.x];
    if (threadIdx.x < static_cast<unsigned>(n_rows)) {
        sm[threadIdx.x] = -INFINITY;
        sl[threadIdx.x] = 0.0f;
    }
    // This split's positions, cut to what some row of the item can see.
    int64_t lo = static_cast<int64_t>(split) * p.split_tokens;
    int64_t hi = min(lo + p.split_tokens, seq.n_kv);
    hi = min(hi, static_cast<int64_t>(pos_max) + 1);
    if (p.window > 0) lo = max(lo, static_cast<int64_t>(pos_min) - p.window + 1);
    __syncthreads();

    // Tiles are aligned to S + kT (S = the sinks), so a tile is entirely packed, entirely
    // fp16 or crosses only a region edge the generic loaders handle.
    const int64_t S = max(seq.k.n_sinks, seq.v.n_sinks);
    for (int64_t t0 = lo, t1; t0 < hi; t0 = t1) {
        t1 = t0 < S ? min(S, t0 + T) : S + ((t0 - S) / T + 1) * T;
        t1 = min(t1, hi);
        const int nt = static_cast<int>(t1 - t0);
        stage_keys_any<D>(seq.k, hk, t0, nt, sk);
        stage_values_any<D>(seq.v, hk, t0, nt, sv);
        __syncthreads();
        for (int e = static_cast<int>(threadIdx.x); e < n_rows * T; e += kThreads) {
            const int r = e / T, i = e % T;
            float s = -INFINITY;
            const int64_t j = t0 + i;
            const int32_t pos = spos[r / qpg];
            if (i < nt && j <= pos && (p.window == 0 || pos - j < p.window)) {
                const float* q = sq + r * D;
                const float* k = sk + i * (D + 1);
                float dot = 0.0f;
#pragma unroll 8
                for (int d = 0; d < D; ++d) dot = fmaf(q[d], k[d], dot);
                s = p.scale * dot;
                if (p.softcap > 0.0f) s = p.softcap * tanhf(s / p.softcap);
            }
            ss[e] = s;
        }
        __syncthreads();
        if (threadIdx.x < static_cast<unsigned>(n_rows)) {
            const int r = static_cast<int>(threadIdx.x);
            float* sr = ss + r * T;
            float tile_max = -INFINITY;
            for (int i = 0; i < nt; ++i) tile_max = nan_max(tile_max, sr[i]);
            const float m_old = sm[r];
            const float m_new = nan_max(m_old, tile_max);
            float alpha = 1.0f, sum = 0.0f;
            if (m_new != -INFINITY) {
                alpha = m_old == -INFINITY ? 0.0f : __expf(m_old - m_new);
                for (int i = 0; i < nt; ++i) {
                    const float e = sr[i] == -INFINITY ? 0.0f : __expf(sr[i] - m_new);
                    sr[i] = e;
                    sum += e;
                }
            } else {
                for (int i = 0; i < nt; ++i) sr[i] = 0.0f;
            }
            for (int i = nt; i < T; ++i) sr[i] = 0.0f;
            sm[r] = m_new;
            sl[r] = sl[r] * alpha + sum;
            salpha[r] = alpha;
        }
        __syncthreads();
        for (int e = static_cast<int>(threadIdx.x); e < n_rows * D; e += kThreads) {
            const int r = e / D, d = e % D;
            const float* pr = ss + r * T;
            float a = sacc[e] * salpha[r];
            for (int i = 0; i < nt; ++i) a = fmaf(pr[i], sv[i * (D + 1) + d], a);
            sacc[e] = a;
        }
        __syncthreads();
    }

    for (int e = static_cast<int>(threadIdx.x); e < n_rows * D; e += kThreads) {
        const int r = e / D, d = e % D;
        const int64_t row = work.row0 + r / qpg, h = hk * qpg + r % qpg;
        const size_t at = (static_cast<size_t>(row) * static_cast<size_t>(p.n_head) + static_cast<size_t>(h)) * p.n_splits + split;
        p.partial_acc[at * D + d] = sacc[e];
        if (d == 0) {
            p.partial_ml[2 * at] = sm[r];
            p.partial_ml[2 * at + 1] = sl[r];
        }
    }
}

template <int D>
const char* launch(const FlashAttentionParams& p, cudaStream_t stream) {
    const size_t smem = smem_floats<D>() * sizeof(float);
    if (cudaFuncSetAttribute(flash_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)) != cudaSuccess)
        return "flash_attention: the device lacks the shared memory this head size needs";
    const dim3 grid(static_cast<unsigned>(p.n_head_kv), static_cast<unsigned>(p.n_splits), static_cast<unsigned>(p.n_work));
    flash_kernel<D><<<grid, kThreads, smem, stream>>>(p);
    return flash_merge<D>(p, stream);
}

}  // namespace

const char* flash_attention(const FlashAttentionParams& p, cudaStream_t stream) {
    if (p.n_head <= 0 || p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0)
        return "flash_attention: n_head must be a positive multiple of n_head_kv";
    if (p.head_dim != p.head_dim_v) return "flash_attention: key and value head sizes must match";
    if (p.n_head / p.n_head_kv > kRowsMax) return "flash_attention: at most 16 query heads per kv head";
    if (p.n_splits <= 0 || p.split_tokens <= 0 || p.n_splits > 65535) return "flash_attention: bad split";
    if (p.n_work <= 0) return nullptr;
    switch (p.head_dim) {
        case 16: return launch<16>(p, stream);
        case 32: return launch<32>(p, stream);
        case 64: return launch<64>(p, stream);
        case 128: return launch<128>(p, stream);
        case 256: return launch<256>(p, stream);
        default: return "flash_attention: head size must be 16, 32, 64, 128 or 256";
    }
}

}  // namespace kvmix::cuda
