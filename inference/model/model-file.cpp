#include "model/model-file.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/tensor-name-map.h"
#include "model/architectures.h"

namespace kvmix {

namespace fs = std::filesystem;

const char* model_format_name(ModelFormat format) { return format == ModelFormat::gguf ? "gguf" : "safetensors"; }

Expected<std::shared_ptr<const ModelFile>> ModelFile::open(const std::string& path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return error(ErrorCode::io, "model '" + path + "' does not exist");
    if (fs::is_directory(st)) return open_safetensors(path);
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".safetensors" || ext == ".json") return open_safetensors(fs::path(path).parent_path().string());
    return open_gguf(path);
}

const TensorView* ModelFile::tensor(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t ModelFile::weight_bytes() const {
    uint64_t total = 0;
    for (const auto& t : tensors_) total += t.n_bytes;
    return total;
}

std::map<std::string, uint64_t> ModelFile::tensor_type_counts() const {
    std::map<std::string, uint64_t> out;
    for (const auto& t : tensors_) ++out[tensor_type_name(t.type)];
    return out;
}

Status ModelFile::index_and_validate() {
    for (size_t k = 0; k < tensors_.size(); ++k) {
        if (!index_.emplace(tensors_[k].name, k).second) return format_error("duplicate tensor '" + tensors_[k].name + "'");
    }
    std::set<std::string> used;
    for (const TensorSpec& spec : tensor_specs(hparams_)) {
        const TensorView* t = tensor(spec.name);
        if (!t) {
            if (spec.required) return format_error("missing required tensor '" + spec.name + "'");
            continue;
        }
        used.insert(spec.name);
        bool shape_ok = t->n_dims == spec.ne.size();
        for (size_t d = 0; shape_ok && d < spec.ne.size(); ++d) shape_ok = t->ne[d] == spec.ne[d];
        if (!shape_ok) {
            std::ostringstream want;
            want << "[";
            for (size_t d = 0; d < spec.ne.size(); ++d) want << (d ? ", " : "") << spec.ne[d];
            want << "]";
            return format_error("tensor '" + spec.name + "' has shape " + t->shape_string() + ", expected " + want.str());
        }
        const TensorTypeTraits& traits = tensor_type_traits(t->type);
        if (!traits.supported)
            return error(ErrorCode::unsupported, "tensor '" + spec.name + "' has type " + traits.name +
                                                     ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
    }
    for (const auto& t : tensors_)
        if (!used.count(t.name)) unused_.push_back(t.name);
    return {};
}

Expected<std::shared_ptr<const ModelFile>> ModelFile::open_gguf(const std::string& path) {
    auto gguf = GgufFile::open(path);
    if (!gguf) return gguf.status();
    std::shared_ptr<ModelFile> m(new ModelFile());
    m->format_ = ModelFormat::gguf;
    m->path_ = path;
    m->gguf_ = *gguf;
    const GgufFile& g = **gguf;
    m->file_bytes_ = g.file_size();
    auto arch_name = g.get_string("general.architecture");
    if (!arch_name) return arch_name.status().with_context("'" + path + "'");
    const ArchitectureInfo* arch = find_architecture_gguf(*arch_name);
    if (!arch)
        return error(ErrorCode::unsupported, "'" + path + "': unknown architecture '" + *arch_name +
                                                 "' (supported: " + supported_architectures() + ")");
    auto hp = arch->from_gguf(g, *arch_name);
    if (!hp) return hp.status().with_context("'" + path + "'");
    m->hparams_ = std::move(hp).value();
    m->tensors_ = g.tensors();

    auto id_or = [&](const char* key, int32_t fallback) -> int32_t {
        auto v = g.get_int(key);
        return v && *v >= 0 && *v < static_cast<int64_t>(m->hparams_.n_vocab) ? static_cast<int32_t>(*v) : fallback;
    };
    m->special_.bos = id_or("tokenizer.ggml.bos_token_id", -1);
    m->special_.eos = id_or("tokenizer.ggml.eos_token_id", -1);
    m->special_.unk = id_or("tokenizer.ggml.unknown_token_id", -1);
    m->special_.pad = id_or("tokenizer.ggml.padding_token_id", -1);
    if (auto b = g.get_bool("tokenizer.ggml.add_bos_token")) m->special_.add_bos = *b;
    if (auto b = g.get_bool("tokenizer.ggml.add_eos_token")) m->special_.add_eos = *b;
    if (auto t = g.get_string("tokenizer.chat_template")) m->chat_template_ = *t;
    if (auto t = g.get_string("tokenizer.ggml.model")) m->tokenizer_kind_ = *t;
    KVMIX_TRY(m->index_and_validate().with_context("'" + path + "'"));
    return std::shared_ptr<const ModelFile>(std::move(m));
}

namespace {

// tokenizer_config.json is optional; a broken one is an error (it would change the prompt).
Status read_tokenizer_config(const fs::path& dir, std::string& chat_template) {
    const fs::path p = dir / "tokenizer_config.json";
    std::error_code ec;
    if (!fs::exists(p, ec)) return {};
    auto file = MappedFile::open(p.string());
    if (!file) return file.status();
    const auto* bytes = reinterpret_cast<const char*>((*file)->data());
    auto json = parse_json_strict(std::string_view(bytes, (*file)->size()), "tokenizer_config.json");
    if (!json) return json.status();
    if (!json->is_object()) return format_error("tokenizer_config.json: top level is not an object");
    auto it = json->find("chat_template");
    if (it != json->end() && it->is_string()) chat_template = it->get<std::string>();
    return {};
}

int32_t config_token_id(const nlohmann::json& config, const char* key, uint32_t n_vocab) {
    auto it = config.find(key);
    if (it == config.end()) return -1;
    const nlohmann::json* v = &*it;
    if (v->is_array() && !v->empty()) v = &(*v)[0];  // eos_token_id may list several
    if (!v->is_number_integer()) return -1;
    const int64_t id = v->get<int64_t>();
    return id >= 0 && id < static_cast<int64_t>(n_vocab) ? static_cast<int32_t>(id) : -1;
}

}  // namespace

Expected<std::shared_ptr<const ModelFile>> ModelFile::open_safetensors(const std::string& dir) {
    auto st = SafetensorsModel::open(dir);
    if (!st) return st.status();
    std::shared_ptr<ModelFile> m(new ModelFile());
    m->format_ = ModelFormat::safetensors;
    m->path_ = dir;
    m->safetensors_ = *st;
    const SafetensorsModel& model = **st;
    const nlohmann::json& config = model.config();
    std::string model_type;
    if (auto it = config.find("model_type"); it != config.end() && it->is_string()) model_type = it->get<std::string>();
    if (model_type.empty()) return format_error("'" + dir + "': config.json has no 'model_type'");
    const ArchitectureInfo* arch = find_architecture_hf(model_type);
    if (!arch)
        return error(ErrorCode::unsupported, "'" + dir + "': unknown architecture '" + model_type +
                                                 "' (supported: " + supported_architectures() + ")");
    auto hp = arch->from_hf_config(config, model_type);
    if (!hp) return hp.status().with_context("'" + dir + "'");
    m->hparams_ = std::move(hp).value();
    m->hparams_.name = fs::path(dir).filename().string();
    if (m->hparams_.name.empty()) m->hparams_.name = fs::path(dir).parent_path().filename().string();
    for (const auto& shard : model.shards()) m->file_bytes_ += shard->file_size();

    for (const TensorView& t : model.tensors()) {
        auto name = hf_to_internal_name(t.name, m->hparams_.family);
        if (!name) {
            m->unused_.push_back(t.name);
            continue;
        }
        TensorView v = t;
        v.name = *name;
        m->tensors_.push_back(std::move(v));
    }
    // Tied checkpoints sometimes still carry lm_head; it is then a duplicate of the embedding.
    if (m->hparams_.tied_embeddings) {
        std::erase_if(m->tensors_, [&](const TensorView& t) {
            if (t.name != "output.weight") return false;
            m->unused_.push_back("lm_head.weight");
            return true;
        });
    }
    const std::vector<std::string> hf_unused = std::move(m->unused_);
    m->unused_.clear();

    const nlohmann::json& text_config =
        config.contains("text_config") && config["text_config"].is_object() ? config["text_config"] : config;
    m->special_.bos = config_token_id(text_config, "bos_token_id", m->hparams_.n_vocab);
    if (m->special_.bos < 0) m->special_.bos = config_token_id(config, "bos_token_id", m->hparams_.n_vocab);
    m->special_.eos = config_token_id(text_config, "eos_token_id", m->hparams_.n_vocab);
    if (m->special_.eos < 0) m->special_.eos = config_token_id(config, "eos_token_id", m->hparams_.n_vocab);
    m->special_.pad = config_token_id(text_config, "pad_token_id", m->hparams_.n_vocab);
    m->tokenizer_model_path_ = model.tokenizer_model_path();
    // As GGUF names them: "llama" for SentencePiece, "gpt2" for a byte-level BPE tokenizer.json.
    std::error_code ec;
    m->tokenizer_kind_ = !m->tokenizer_model_path_.empty()                  ? "llama"
                         : fs::exists(fs::path(dir) / "tokenizer.json", ec) ? "gpt2"
                                                                            : "";
    KVMIX_TRY(read_tokenizer_config(dir, m->chat_template_).with_context("'" + dir + "'"));
    KVMIX_TRY(m->index_and_validate().with_context("'" + dir + "'"));
    m->unused_.insert(m->unused_.end(), hf_unused.begin(), hf_unused.end());
    return std::shared_ptr<const ModelFile>(std::move(m));
}

}  // namespace kvmix
