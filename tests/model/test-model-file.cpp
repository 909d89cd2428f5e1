// ModelFile: architecture detection, hyper-parameters from GGUF and config.json, the
// required-tensor checks with their messages, and the HF -> internal name map.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "check.h"
#include "gguf-builder.h"
#include "io/tensor-name-map.h"
#include "model/architectures.h"
#include "model/model-file.h"

using namespace kvmix;
using kvmix_test::GgufBuilder;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() / ("kvmix-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    static int& counter() {
        static int c = 0;
        return c;
    }
};

// A complete one-layer llama: n_embd 8, 2 heads of 4, 1 KV head, ff 16, vocab 5.
GgufBuilder tiny_llama(const std::string& skip = "", const std::string& arch = "llama") {
    GgufBuilder b;
    b.kv_string("general.architecture", arch)
        .kv_string("general.name", "tiny")
        .kv_u32(arch + ".block_count", 1)
        .kv_u32(arch + ".embedding_length", 8)
        .kv_u32(arch + ".feed_forward_length", 16)
        .kv_u32(arch + ".attention.head_count", 2)
        .kv_u32(arch + ".attention.head_count_kv", 1)
        .kv_u32(arch + ".context_length", 64)
        .kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f)
        .kv_f32(arch + ".rope.freq_base", 500000.0f);
    auto t = [&](const std::string& name, std::vector<uint64_t> ne) {
        if (name != skip) b.tensor_f32(name, std::move(ne));
    };
    t("token_embd.weight", {8, 5});
    t("output_norm.weight", {8});
    t("blk.0.attn_norm.weight", {8});
    t("blk.0.attn_q.weight", {8, 8});
    t("blk.0.attn_k.weight", {8, 4});
    t("blk.0.attn_v.weight", {8, 4});
    t("blk.0.attn_output.weight", {8, 8});
    t("blk.0.ffn_norm.weight", {8});
    t("blk.0.ffn_gate.weight", {8, 16});
    t("blk.0.ffn_up.weight", {8, 16});
    t("blk.0.ffn_down.weight", {16, 8});
    return b;
}

Expected<std::shared_ptr<const ModelFile>> open_built(const GgufBuilder& b, const TempDir& dir) {
    const std::string path = (dir.path / "m.gguf").string();
    if (!b.write(path)) return error(ErrorCode::io, "cannot write test file");
    return ModelFile::open(path);
}

std::string open_error(const GgufBuilder& b) {
    TempDir dir;
    auto m = open_built(b, dir);
    return m.ok() ? std::string("<opened>") : m.status().message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("model file: a complete GGUF llama opens with its hyper-parameters") {
    TempDir dir;
    auto m = open_built(tiny_llama(), dir);
    REQUIRE_OK(m);
    const ModelHParams& hp = (*m)->hparams();
    CHECK_EQ(hp.architecture, std::string("llama"));
    CHECK(hp.family == ArchFamily::llama);
    CHECK_EQ(hp.name, std::string("tiny"));
    CHECK_EQ(hp.n_layer, 1u);
    CHECK_EQ(hp.n_embd, 8u);
    CHECK_EQ(hp.n_head, 2u);
    CHECK_EQ(hp.n_head_kv, 1u);
    CHECK_EQ(hp.head_dim, 4u);
    CHECK_EQ(hp.n_ff, 16u);
    CHECK_EQ(hp.n_vocab, 5u);  // no tokenizer: from token_embd
    CHECK_EQ(hp.context_length, 64u);
    CHECK_CLOSE(hp.rope_theta, 500000.0, 1e-3);
    CHECK(hp.tied_embeddings);
    CHECK(hp.rope_interleaved);
    CHECK_EQ((*m)->tensors().size(), size_t(11));
    CHECK_EQ((*m)->tensor_type_counts().at("F32"), uint64_t(11));
    CHECK((*m)->unused_tensors().empty());
}

TEST_CASE("model file: mistral is read as the llama family") {
    TempDir dir;
    auto m = open_built(tiny_llama("", "mistral").kv_u32("mistral.attention.sliding_window", 32), dir);
    REQUIRE_OK(m);
    CHECK_EQ((*m)->hparams().sliding_window, 32u);
    CHECK_EQ((*m)->hparams().n_sliding_layers(), 1u);
}

TEST_CASE("model file: precise errors for broken models") {
    CHECK(contains(open_error(tiny_llama("blk.0.attn_k.weight")),
                   "missing required tensor 'blk.0.attn_k.weight'"));
    CHECK(contains(open_error(tiny_llama("", "gpt2")), "unknown architecture 'gpt2' (supported: llama"));
    CHECK(contains(open_error(tiny_llama("blk.0.attn_v.weight").tensor_f32("blk.0.attn_v.weight", {8, 3})),
                   "tensor 'blk.0.attn_v.weight' has shape [8, 3], expected [8, 4]"));
    // I8 (type 24) is a valid GGUF type we do not compute with.
    CHECK(contains(open_error(tiny_llama("blk.0.attn_norm.weight").tensor("blk.0.attn_norm.weight", 24, {8}, std::vector<uint8_t>(8))),
                   "tensor 'blk.0.attn_norm.weight' has type I8, which is not supported"));
    GgufBuilder no_layers;
    no_layers.kv_string("general.architecture", "llama");
    CHECK(contains(open_error(no_layers), "missing metadata key 'llama.block_count'"));
    GgufBuilder bad_heads = tiny_llama();
    bad_heads.kv_u32("llama.attention.key_length", 3);
    CHECK(contains(open_error(bad_heads), "head size 3 is odd"));
    GgufBuilder zero_layers;
    zero_layers.kv_string("general.architecture", "llama").kv_u32("llama.block_count", 0);
    CHECK(contains(open_error(zero_layers), "'llama.block_count' = 0 is outside the valid range"));
    TempDir dir;
    auto missing = ModelFile::open((dir.path / "nope.gguf").string());
    REQUIRE(!missing.ok());
    CHECK(contains(missing.status().message(), "does not exist"));
    auto empty_folder = ModelFile::open(dir.path.string());
    REQUIRE(!empty_folder.ok());
    CHECK(contains(empty_folder.status().message(), "config.json"));
}

TEST_CASE("model file: Hugging Face names map to internal names per family") {
    CHECK_EQ(*hf_to_internal_name("model.embed_tokens.weight", ArchFamily::llama), std::string("token_embd.weight"));
    CHECK_EQ(*hf_to_internal_name("lm_head.weight", ArchFamily::llama), std::string("output.weight"));
    CHECK_EQ(*hf_to_internal_name("model.norm.weight", ArchFamily::gemma3), std::string("output_norm.weight"));
    CHECK_EQ(*hf_to_internal_name("model.layers.12.self_attn.k_proj.weight", ArchFamily::llama), std::string("blk.12.attn_k.weight"));
    CHECK_EQ(*hf_to_internal_name("model.layers.0.post_attention_layernorm.weight", ArchFamily::llama), std::string("blk.0.ffn_norm.weight"));
    CHECK_EQ(*hf_to_internal_name("model.layers.0.post_attention_layernorm.weight", ArchFamily::gemma3),
             std::string("blk.0.post_attention_norm.weight"));
    CHECK_EQ(*hf_to_internal_name("model.layers.3.pre_feedforward_layernorm.weight", ArchFamily::gemma3), std::string("blk.3.ffn_norm.weight"));
    CHECK_EQ(*hf_to_internal_name("language_model.model.layers.1.self_attn.q_norm.weight", ArchFamily::gemma3),
             std::string("blk.1.attn_q_norm.weight"));
    CHECK(!hf_to_internal_name("model.layers.0.self_attn.rotary_emb.inv_freq", ArchFamily::llama).has_value());
    CHECK(!hf_to_internal_name("model.layers.x.self_attn.q_proj.weight", ArchFamily::llama).has_value());
    CHECK(!hf_to_internal_name("model.layers.0.self_attn.q_norm.weight", ArchFamily::llama).has_value());
    CHECK_EQ(*hf_to_internal_name("model.layers.2.self_attn.k_proj.bias", ArchFamily::qwen2), std::string("blk.2.attn_k.bias"));
    CHECK_EQ(*hf_to_internal_name("model.layers.0.post_attention_layernorm.weight", ArchFamily::qwen2), std::string("blk.0.ffn_norm.weight"));
    CHECK(!hf_to_internal_name("model.layers.0.self_attn.q_proj.bias", ArchFamily::llama).has_value());
    CHECK_EQ(*hf_to_internal_name("model.layers.1.self_attn.q_norm.weight", ArchFamily::qwen3), std::string("blk.1.attn_q_norm.weight"));
    CHECK_EQ(*hf_to_internal_name("model.layers.0.post_attention_layernorm.weight", ArchFamily::qwen3), std::string("blk.0.ffn_norm.weight"));
    CHECK(!hf_to_internal_name("model.layers.0.self_attn.q_proj.bias", ArchFamily::qwen3).has_value());
}

TEST_CASE("model file: config.json hyper-parameters for gemma3 and llama3 scaling") {
    const auto gemma = nlohmann::json::parse(R"({
        "model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 100,
        "sliding_window": 16, "query_pre_attn_scalar": 64, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]})");
    auto hp = gemma3_hparams_from_hf(gemma, "gemma3_text");
    REQUIRE_OK(hp);
    CHECK(hp->layer_sliding == (std::vector<bool>{true, false, true, false}));
    CHECK_CLOSE(hp->attention_scale, 0.125, 1e-7);
    CHECK_CLOSE(hp->embedding_scale, 8.0, 1e-6);
    CHECK_EQ(hp->norm_weight_offset, 1.0f);
    CHECK(hp->tied_embeddings);
    CHECK(hp->activation == Activation::gelu_tanh);

    auto pattern = gemma;
    pattern.erase("layer_types");
    pattern["num_hidden_layers"] = 7;
    pattern["sliding_window_pattern"] = 6;
    auto hp2 = gemma3_hparams_from_hf(pattern, "gemma3_text");
    REQUIRE_OK(hp2);
    CHECK(hp2->layer_sliding == (std::vector<bool>{true, true, true, true, true, false, true}));

    auto bad = gemma;
    bad["layer_types"] = {"sliding_attention"};
    auto hp3 = gemma3_hparams_from_hf(bad, "gemma3_text");
    REQUIRE(!hp3.ok());
    CHECK(contains(hp3.status().message(), "'layer_types' must list one entry per layer (4)"));

    const auto llama = nlohmann::json::parse(R"({
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "rms_norm_eps": 1e-5,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64}})");
    auto hl = llama_hparams_from_hf(llama, "llama");
    REQUIRE_OK(hl);
    CHECK(hl->rope_scaling.type == RopeScalingType::llama3);
    CHECK_EQ(hl->rope_scaling.original_context, 64u);
    CHECK_EQ(hl->head_dim, 16u);
    CHECK(!hl->rope_interleaved);

    auto yarnish = llama;
    yarnish["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
    auto hy = llama_hparams_from_hf(yarnish, "llama");
    REQUIRE(!hy.ok());
    CHECK(contains(hy.status().message(), "rope_scaling type 'dynamic' is not supported"));

    auto wrong = llama;
    wrong["num_attention_heads"] = "four";
    auto hw = llama_hparams_from_hf(wrong, "llama");
    REQUIRE(!hw.ok());
    CHECK_EQ(hw.status().message(), std::string("config.json: 'num_attention_heads' is \"four\", expected an integer"));
}

TEST_CASE("model file: GGUF qwen2 needs its projection biases, qwen3 its QK-norm and own head size") {
    TempDir dir;
    auto qwen2 = tiny_llama("", "qwen2")
                     .tensor_f32("blk.0.attn_q.bias", {8})
                     .tensor_f32("blk.0.attn_k.bias", {4})
                     .tensor_f32("blk.0.attn_v.bias", {4});
    auto m = open_built(qwen2, dir);
    REQUIRE_OK(m);
    const ModelHParams& hp = (*m)->hparams();
    CHECK(hp.family == ArchFamily::qwen2);
    CHECK(hp.attn_qkv_bias && !hp.qk_norm);
    CHECK(!hp.rope_interleaved);  // llama.cpp rotates qwen2 NeoX-style: rows stay unpermuted
    CHECK_EQ(hp.n_sliding_layers(), 0u);
    CHECK((*m)->unused_tensors().empty());
    CHECK(contains(open_error(tiny_llama("", "qwen2").tensor_f32("blk.0.attn_q.bias", {8}).tensor_f32("blk.0.attn_k.bias", {4})),
                   "missing required tensor 'blk.0.attn_v.bias'"));
    CHECK(contains(open_error(tiny_llama("", "qwen2")
                                  .tensor_f32("blk.0.attn_q.bias", {8})
                                  .tensor_f32("blk.0.attn_k.bias", {5})
                                  .tensor_f32("blk.0.attn_v.bias", {4})),
                   "tensor 'blk.0.attn_k.bias' has shape [5], expected [4]"));

    // Qwen3: head size 8 with n_embd 8 and 2 heads (n_embd / n_head would be 4).
    GgufBuilder q3;
    q3.kv_string("general.architecture", "qwen3")
        .kv_u32("qwen3.block_count", 1)
        .kv_u32("qwen3.embedding_length", 8)
        .kv_u32("qwen3.feed_forward_length", 16)
        .kv_u32("qwen3.attention.head_count", 2)
        .kv_u32("qwen3.attention.head_count_kv", 1)
        .kv_u32("qwen3.attention.key_length", 8)
        .kv_u32("qwen3.attention.value_length", 8)
        .kv_u32("qwen3.context_length", 64)
        .kv_f32("qwen3.attention.layer_norm_rms_epsilon", 1e-6f)
        .kv_f32("qwen3.rope.freq_base", 1000000.0f)
        .tensor_f32("token_embd.weight", {8, 5})
        .tensor_f32("output_norm.weight", {8})
        .tensor_f32("output.weight", {8, 5})
        .tensor_f32("blk.0.attn_norm.weight", {8})
        .tensor_f32("blk.0.attn_q.weight", {8, 16})
        .tensor_f32("blk.0.attn_k.weight", {8, 8})
        .tensor_f32("blk.0.attn_v.weight", {8, 8})
        .tensor_f32("blk.0.attn_q_norm.weight", {8})
        .tensor_f32("blk.0.attn_k_norm.weight", {8})
        .tensor_f32("blk.0.attn_output.weight", {16, 8})
        .tensor_f32("blk.0.ffn_norm.weight", {8})
        .tensor_f32("blk.0.ffn_gate.weight", {8, 16})
        .tensor_f32("blk.0.ffn_up.weight", {8, 16})
        .tensor_f32("blk.0.ffn_down.weight", {16, 8});
    TempDir dir3;
    auto m3 = open_built(q3, dir3);
    REQUIRE_OK(m3);
    const ModelHParams& h3 = (*m3)->hparams();
    CHECK(h3.family == ArchFamily::qwen3);
    CHECK(h3.qk_norm && !h3.attn_qkv_bias && !h3.sandwich_norms);
    CHECK_EQ(h3.head_dim, 8u);
    CHECK_EQ(h3.n_rot, 8u);
    CHECK_EQ(h3.norm_weight_offset, 0.0f);  // Qwen3's norms multiply by the weight itself
    CHECK(!h3.tied_embeddings);
}

TEST_CASE("model file: config.json for qwen2 / qwen3 and transformers 5 rope_parameters") {
    const auto qwen2 = nlohmann::json::parse(R"({
        "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "rope_theta": 1000000.0,
        "use_sliding_window": false, "sliding_window": 16, "max_window_layers": 1, "tie_word_embeddings": true})");
    auto h = qwen2_hparams_from_hf(qwen2, "qwen2");
    REQUIRE_OK(h);
    CHECK(h->family == ArchFamily::qwen2 && h->attn_qkv_bias && h->tied_embeddings);
    CHECK_EQ(h->head_dim, 16u);
    CHECK_EQ(h->sliding_window, 0u);  // named, but off without use_sliding_window
    CHECK_EQ(h->n_sliding_layers(), 0u);
    CHECK_CLOSE(h->rope_theta, 1000000.0, 1e-3);

    auto windowed = qwen2;
    windowed["use_sliding_window"] = true;
    auto hw = qwen2_hparams_from_hf(windowed, "qwen2");
    REQUIRE_OK(hw);
    CHECK_EQ(hw->sliding_window, 16u);
    CHECK(hw->layer_sliding == (std::vector<bool>{false, true, true}));  // from max_window_layers on
    windowed["layer_types"] = {"sliding_attention", "full_attention", "full_attention"};
    auto ht = qwen2_hparams_from_hf(windowed, "qwen2");
    REQUIRE_OK(ht);
    CHECK(ht->layer_sliding == (std::vector<bool>{true, false, false}));
    windowed["sliding_window"] = nullptr;  // transformers: no window at all
    auto hn = qwen2_hparams_from_hf(windowed, "qwen2");
    REQUIRE_OK(hn);
    CHECK_EQ(hn->n_sliding_layers(), 0u);

    auto qwen3 = qwen2;
    qwen3["model_type"] = "qwen3";
    qwen3["head_dim"] = 32;
    auto h3 = qwen3_hparams_from_hf(qwen3, "qwen3");
    REQUIRE_OK(h3);
    CHECK(h3->family == ArchFamily::qwen3 && h3->qk_norm && !h3->attn_qkv_bias);
    CHECK_EQ(h3->head_dim, 32u);
    qwen3["attention_bias"] = true;
    auto hb = qwen3_hparams_from_hf(qwen3, "qwen3");
    REQUIRE(!hb.ok());
    CHECK_EQ(hb.status().message(), std::string("config.json: attention_bias = true is not supported for qwen3"));

    // transformers 5 saves RoPE as rope_parameters: flat, or one entry per layer type (Gemma 3).
    const auto llama = nlohmann::json::parse(R"({
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 100,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})");
    auto hl = llama_hparams_from_hf(llama, "llama");
    REQUIRE_OK(hl);
    CHECK_CLOSE(hl->rope_theta, 500000.0, 1e-2);
    CHECK(hl->rope_scaling.type == RopeScalingType::llama3);
    CHECK_EQ(hl->rope_scaling.original_context, 8192u);
    const auto gemma = nlohmann::json::parse(R"({
        "model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 100, "sliding_window": 16,
        "layer_types": ["sliding_attention", "full_attention"],
        "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})");
    auto hg = gemma3_hparams_from_hf(gemma, "gemma3_text");
    REQUIRE_OK(hg);
    CHECK_CLOSE(hg->rope_theta, 1000000.0, 1e-2);
    CHECK_CLOSE(hg->rope_theta_local, 10000.0, 1e-3);
    CHECK(hg->rope_scaling.type == RopeScalingType::none);

    auto biased = llama;
    biased["attention_bias"] = true;
    auto hbl = llama_hparams_from_hf(biased, "llama");
    REQUIRE(!hbl.ok());
    CHECK(contains(hbl.status().message(), "attention_bias = true is not supported for llama"));
}

TEST_CASE("model file: every fixture opens and matches its manifest") {
    const std::string dir = kvmix_test::data_dir() + "/models";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name == "tokenizers" || (!entry.is_directory() && entry.path().extension() != ".gguf")) continue;
        auto m = ModelFile::open(entry.path().string());
        CHECK_OK(m);
        if (!m) continue;
        const ModelHParams& hp = (*m)->hparams();
        CHECK(hp.n_layer >= 1);
        // Gemma 3 fixtures: sandwich norms + QK norm; the GGUF stores 1 + w, HF stores w.
        if (hp.family == ArchFamily::gemma3) {
            CHECK(hp.qk_norm && hp.sandwich_norms);
            CHECK_EQ(hp.norm_weight_offset, (*m)->format() == ModelFormat::gguf ? 0.0f : 1.0f);
        }
        // Qwen: biases (Qwen2) or QK-norm (Qwen3), NeoX RoPE in both formats, every tensor used.
        if (hp.family == ArchFamily::qwen2 || hp.family == ArchFamily::qwen3) {
            CHECK_EQ(hp.attn_qkv_bias, hp.family == ArchFamily::qwen2);
            CHECK_EQ(hp.qk_norm, hp.family == ArchFamily::qwen3);
            CHECK(!hp.rope_interleaved && hp.norm_weight_offset == 0.0f);
            CHECK((*m)->unused_tensors().empty());
        }
    }
}

KVMIX_TEST_MAIN()
