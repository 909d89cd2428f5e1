// kvmix info: what a model file is, human-readable or as one JSON object.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli-args.h"
#include "cli/commands.h"
#include "model/model-file.h"
#include "model/model-paths.h"
#include "tokenizer/chat-template.h"

namespace kvmix::cli {

namespace {

nlohmann::json info_json(const ModelFile& m) {
    const ModelHParams& hp = m.hparams();
    nlohmann::json j;
    j["path"] = m.path();
    j["format"] = model_format_name(m.format());
    j["architecture"] = hp.architecture;
    j["family"] = arch_family_name(hp.family);
    j["name"] = hp.name;
    j["file_bytes"] = m.file_bytes();
    j["n_layer"] = hp.n_layer;
    j["n_head"] = hp.n_head;
    j["n_head_kv"] = hp.n_head_kv;
    j["head_dim"] = hp.head_dim;
    j["head_dim_v"] = hp.head_dim_v;
    j["n_embd"] = hp.n_embd;
    j["n_ff"] = hp.n_ff;
    j["n_vocab"] = hp.n_vocab;
    j["context_length"] = hp.context_length;
    j["n_rot"] = hp.n_rot;
    j["rms_eps"] = hp.rms_eps;
    j["rope_theta"] = hp.rope_theta;
    j["rope_theta_local"] = hp.rope_theta_local;
    j["rope_scaling"] = {{"type", rope_scaling_name(hp.rope_scaling.type)}, {"factor", hp.rope_scaling.factor}};
    j["rope_freqs"] = hp.has_rope_freqs;
    j["sliding_window"] = hp.sliding_window;
    j["n_sliding_layers"] = hp.n_sliding_layers();
    j["tied_embeddings"] = hp.tied_embeddings;
    j["tensor_count"] = m.tensors().size();
    j["tensor_types"] = m.tensor_type_counts();
    j["weight_bytes"] = m.weight_bytes();
    j["unused_tensors"] = m.unused_tensors();
    const SpecialTokens& sp = m.special_tokens();
    j["special_tokens"] = {{"bos", sp.bos}, {"eos", sp.eos}, {"unk", sp.unk}, {"pad", sp.pad},
                           {"add_bos", sp.add_bos}, {"add_eos", sp.add_eos}};
    j["tokenizer"] = m.tokenizer_kind();
    const ChatFamily family = detect_chat_family(m.chat_template(), hp.architecture);
    j["chat_template"] = {{"present", !m.chat_template().empty()}, {"family", chat_family_name(family)}};
    return j;
}

std::string human_bytes(uint64_t b) {
    char buf[64];
    if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
    else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
    else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

void print_human(const nlohmann::json& j) {
    auto s = [&](const char* k) { return j[k].is_string() ? j[k].get<std::string>() : j[k].dump(); };
    std::printf("model:           %s\n", s("path").c_str());
    std::printf("name:            %s\n", s("name").c_str());
    std::printf("format:          %s, %s on disk\n", s("format").c_str(), human_bytes(j["file_bytes"].get<uint64_t>()).c_str());
    std::printf("architecture:    %s (family %s)\n", s("architecture").c_str(), s("family").c_str());
    std::printf("layers:          %s (%s with a sliding window of %s)\n", s("n_layer").c_str(), s("n_sliding_layers").c_str(),
                s("sliding_window").c_str());
    std::printf("embedding:       %s, feed-forward %s\n", s("n_embd").c_str(), s("n_ff").c_str());
    std::printf("attention:       %s heads, %s KV heads, head size %s\n", s("n_head").c_str(), s("n_head_kv").c_str(), s("head_dim").c_str());
    std::printf("context length:  %s\n", s("context_length").c_str());
    std::printf("rope:            base %s (local %s), scaling %s x%s\n", s("rope_theta").c_str(), s("rope_theta_local").c_str(),
                j["rope_scaling"]["type"].get<std::string>().c_str(), j["rope_scaling"]["factor"].dump().c_str());
    std::printf("vocabulary:      %s (tokenizer %s)\n", s("n_vocab").c_str(), s("tokenizer").c_str());
    const auto& sp = j["special_tokens"];
    std::printf("special tokens:  bos %s, eos %s, unk %s, pad %s%s\n", sp["bos"].dump().c_str(), sp["eos"].dump().c_str(),
                sp["unk"].dump().c_str(), sp["pad"].dump().c_str(), sp["add_bos"].get<bool>() ? " (adds bos)" : "");
    std::printf("chat template:   %s (family %s)\n", j["chat_template"]["present"].get<bool>() ? "present" : "absent, built-in used",
                j["chat_template"]["family"].get<std::string>().c_str());
    std::printf("tensors:         %s, %s of weights%s\n", s("tensor_count").c_str(), human_bytes(j["weight_bytes"].get<uint64_t>()).c_str(),
                j["tied_embeddings"].get<bool>() ? ", output tied to the embedding" : "");
    std::string types;
    for (auto it = j["tensor_types"].begin(); it != j["tensor_types"].end(); ++it)
        types += (types.empty() ? "" : ", ") + it.key() + " x" + it.value().dump();
    std::printf("tensor types:    %s\n", types.c_str());
    if (!j["unused_tensors"].empty()) std::printf("unused tensors:  %zu (ignored)\n", j["unused_tensors"].size());
}

}  // namespace

int cmd_info(int argc, char** argv) {
    const char* usage = "usage: kvmix info -m MODEL [--json]";
    Args args({"--model"}, {"--json"}, {{"-m", "--model"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("info", usage, args.has("--model") && args.positional().empty()); rc >= 0) return rc;
    auto path = resolve_model_argument(args.get("--model"));
    if (!path) {
        std::fprintf(stderr, "kvmix info: %s\n", path.status().message().c_str());
        return 1;
    }
    auto model = ModelFile::open(*path);
    if (!model) {
        std::fprintf(stderr, "kvmix info: %s\n", model.status().message().c_str());
        return 1;
    }
    const nlohmann::json j = info_json(**model);
    if (args.has("--json")) std::printf("%s\n", j.dump(2).c_str());
    else print_human(j);
    return 0;
}

}  // namespace kvmix::cli
