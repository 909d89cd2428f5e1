#include "tokenizer/bpe-tokenizer-json.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "io/mapped-file.h"
#include "io/safetensors-file.h"
#include "tokenizer/gguf-vocab-keys.h"
#include "tokenizer/spm-gguf-vocab.h"

namespace kvmix {

namespace {

using json = nlohmann::json;

// Hugging Face's ByteLevel pattern (GPT-2's, with the final \s+ alternative).
constexpr const char* hf_byte_level_regex =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Bounds for untrusted files: tokenizer.json files of real models are 2-20 MB.
constexpr uint64_t max_file_bytes = 256ull << 20;
constexpr int64_t max_token_id = (1 << 26) - 1;
constexpr size_t max_unused_ids = 1 << 20;

Status json_error(const std::string& where, const std::string& message) {
    return format_error("tokenizer: tokenizer.json: " + where + ": " + message);
}
Status json_unsupported(const std::string& where, const std::string& message) {
    return error(ErrorCode::unsupported, "tokenizer: tokenizer.json: " + where + ": " + message);
}

const json* member(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

bool is_null_or_empty_string(const json* j) {
    return !j || j->is_null() || (j->is_string() && j->get_ref<const std::string&>().empty());
}

Expected<int32_t> token_id(const json& j, const std::string& where) {
    if (j.is_number_unsigned()) {
        const uint64_t v = j.get<uint64_t>();
        if (v > static_cast<uint64_t>(max_token_id))
            return json_error(where, "id " + std::to_string(v) + " is outside 0.." + std::to_string(max_token_id));
        return static_cast<int32_t>(v);
    }
    if (j.is_number_integer()) {  // signed: negative, or "-0"
        const int64_t v = j.get<int64_t>();
        if (v == 0) return int32_t{0};
        return json_error(where, "id " + std::to_string(v) + " is outside 0.." + std::to_string(max_token_id));
    }
    return json_error(where, "is not an integer id");
}

// Regex that matches `literal` exactly (PCRE2: a backslash before ASCII punctuation is
// always that character; other bytes, including UTF-8, stand for themselves).
std::string escape_literal(const std::string& literal) {
    std::string out;
    for (const char c : literal) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80 && !std::isalnum(u)) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

Status add_pre_tokenizer(const json& j, const std::string& where, std::vector<std::string>& regexes, bool& byte_level) {
    if (j.is_null()) return Status::success();
    const json* type = member(j, "type");
    if (!type || !type->is_string()) return json_error(where, "has no \"type\"");
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "Sequence") {
        const json* list = member(j, "pretokenizers");
        if (!list || !list->is_array()) return json_error(where + ".pretokenizers", "is not an array");
        for (size_t i = 0; i < list->size(); ++i)
            KVMIX_TRY(add_pre_tokenizer((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]", regexes,
                                        byte_level));
        return Status::success();
    }
    if (t == "ByteLevel") {
        const json* prefix = member(j, "add_prefix_space");
        if (prefix && prefix->is_boolean() && prefix->get<bool>())
            return json_unsupported(where, "ByteLevel with add_prefix_space is not supported");
        const json* use_regex = member(j, "use_regex");
        if (!use_regex || !use_regex->is_boolean() || use_regex->get<bool>()) regexes.emplace_back(hf_byte_level_regex);
        byte_level = true;
        return Status::success();
    }
    if (t == "Split") {
        const json* behavior = member(j, "behavior");
        if (!behavior || !behavior->is_string() || behavior->get_ref<const std::string&>() != "Isolated")
            return json_unsupported(where,
                                    "Split behavior " +
                                        (behavior ? behavior->dump(-1, ' ', false, json::error_handler_t::replace)
                                                  : std::string("(none)")) +
                                        " is not supported (only \"Isolated\")");
        const json* invert = member(j, "invert");
        if (invert && invert->is_boolean() && invert->get<bool>())
            return json_unsupported(where, "inverted Split is not supported");
        const json* pattern = member(j, "pattern");
        const json* re = pattern ? member(*pattern, "Regex") : nullptr;
        const json* str = pattern ? member(*pattern, "String") : nullptr;
        if (re && re->is_string()) {
            regexes.push_back(re->get<std::string>());
        } else if (str && str->is_string()) {
            if (str->get_ref<const std::string&>().empty()) return json_error(where + ".pattern", "is an empty string");
            regexes.push_back(escape_literal(str->get<std::string>()));
        } else {
            return json_error(where + ".pattern", "has neither a \"Regex\" nor a \"String\"");
        }
        return Status::success();
    }
    if (t == "Digits") {
        const json* individual = member(j, "individual_digits");
        regexes.emplace_back(individual && individual->is_boolean() && individual->get<bool>() ? R"re(\p{N})re"
                                                                                               : R"re(\p{N}+)re");
        return Status::success();
    }
    return json_unsupported(
        where, "pre-tokenizer type '" + t + "' is not supported (supported: ByteLevel, Split, Digits, Sequence)");
}

bool has_byte_level_decoder(const json& j) {
    const json* type = member(j, "type");
    if (!type || !type->is_string()) return false;
    if (type->get_ref<const std::string&>() == "ByteLevel") return true;
    const json* list = member(j, "decoders");
    if (type->get_ref<const std::string&>() != "Sequence" || !list || !list->is_array()) return false;
    return std::any_of(list->begin(), list->end(), [](const json& d) { return has_byte_level_decoder(d); });
}

Status check_normalizer(const json& j) {
    if (j.is_null()) return Status::success();
    const json* type = member(j, "type");
    if (!type || !type->is_string()) return json_error("normalizer", "has no \"type\"");
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "NFC") return Status::success();
    const json* list = member(j, "normalizers");
    if (t == "Sequence" && list && list->is_array()) {
        for (const json& n : *list) KVMIX_TRY(check_normalizer(n));
        return Status::success();
    }
    return json_unsupported("normalizer", "type '" + t + "' is not supported (only none or NFC)");
}

// A token named in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string config_token(const json& config, const char* key) {
    const json* j = member(config, key);
    if (!j) return {};
    if (j->is_string()) return j->get<std::string>();
    const json* content = member(*j, "content");
    return content && content->is_string() ? content->get<std::string>() : std::string();
}

// The special token a TemplateProcessing post-processor puts first (`last` = false) or
// last in its "single" template; empty when none.
std::string template_special(const json& post, bool last) {
    const json* type = member(post, "type");
    if (!type || !type->is_string() || type->get_ref<const std::string&>() != "TemplateProcessing") return {};
    const json* single = member(post, "single");
    if (!single || !single->is_array() || single->empty()) return {};
    const json& item = last ? single->back() : single->front();
    const json* special = member(item, "SpecialToken");
    const json* id = special ? member(*special, "id") : nullptr;
    if (!id || !id->is_string()) return {};
    // special_tokens maps the template's name to the token(s) it stands for.
    const json* map = member(post, "special_tokens");
    const json* entry = map ? member(*map, id->get_ref<const std::string&>().c_str()) : nullptr;
    const json* tokens = entry ? member(*entry, "tokens") : nullptr;
    if (tokens && tokens->is_array() && tokens->size() == 1 && (*tokens)[0].is_string())
        return (*tokens)[0].get<std::string>();
    return id->get<std::string>();
}

}  // namespace

Expected<BpeVocab> bpe_vocab_from_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json) {
    auto root_or = parse_json_strict(tokenizer_json, "tokenizer: tokenizer.json");
    KVMIX_TRY(root_or);
    const json& root = *root_or;
    if (!root.is_object()) return json_error("(top level)", "is not an object");

    const json* model = member(root, "model");
    if (!model || !model->is_object()) return json_error("model", "is missing");
    const json* model_type = member(*model, "type");
    if (!model_type || !model_type->is_string()) return json_error("model.type", "is missing");
    if (model_type->get_ref<const std::string&>() != "BPE")
        return json_unsupported("model.type",
                                "is '" + model_type->get<std::string>() + "'; only byte-level \"BPE\" is supported");
    const json* byte_fallback = member(*model, "byte_fallback");
    if (byte_fallback && byte_fallback->is_boolean() && byte_fallback->get<bool>())
        return json_unsupported("model.byte_fallback", "is true (a SentencePiece-style BPE, not byte-level)");
    const json* dropout = member(*model, "dropout");
    if (dropout && !dropout->is_null()) return json_unsupported("model.dropout", "BPE dropout is not supported");
    if (!is_null_or_empty_string(member(*model, "continuing_subword_prefix")))
        return json_unsupported("model.continuing_subword_prefix", "is set; only byte-level BPE is supported");
    if (!is_null_or_empty_string(member(*model, "end_of_word_suffix")))
        return json_unsupported("model.end_of_word_suffix", "is set; only byte-level BPE is supported");

    BpeVocab out;
    out.pre.name = "tokenizer.json";
    const json* ignore_merges = member(*model, "ignore_merges");
    out.pre.ignore_merges = ignore_merges && ignore_merges->is_boolean() && ignore_merges->get<bool>();

    bool byte_level = false;
    if (const json* pre = member(root, "pre_tokenizer"))
        KVMIX_TRY(add_pre_tokenizer(*pre, "pre_tokenizer", out.pre.regexes, byte_level));
    if (const json* decoder = member(root, "decoder")) byte_level |= has_byte_level_decoder(*decoder);
    if (!byte_level)
        return json_unsupported("pre_tokenizer",
                                "neither the pre-tokenizer nor the decoder is ByteLevel (not a byte-level BPE)");
    if (const json* normalizer = member(root, "normalizer")) KVMIX_TRY(check_normalizer(*normalizer));

    // Vocabulary and added tokens, by id.
    const json* vocab = member(*model, "vocab");
    if (!vocab || !vocab->is_object()) return json_error("model.vocab", "is not an object");
    const json* added = member(root, "added_tokens");
    if (added && !added->is_null() && !added->is_array()) return json_error("added_tokens", "is not an array");

    int64_t max_id = -1;
    size_t n_entries = 0;
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        auto id = token_id(it.value(), "model.vocab['" + show_vocab_piece(it.key()) + "']");
        KVMIX_TRY(id);
        max_id = std::max<int64_t>(max_id, *id);
        ++n_entries;
    }
    if (added && added->is_array()) {
        for (size_t i = 0; i < added->size(); ++i) {
            const json* id = member((*added)[i], "id");
            if (!id) return json_error("added_tokens[" + std::to_string(i) + "]", "has no \"id\"");
            auto v = token_id(*id, "added_tokens[" + std::to_string(i) + "].id");
            KVMIX_TRY(v);
            max_id = std::max<int64_t>(max_id, *v);
            ++n_entries;
        }
    }
    if (max_id < 0) return json_error("model.vocab", "is empty");
    const auto n = static_cast<size_t>(max_id) + 1;
    if (n > n_entries + max_unused_ids)
        return json_error("model.vocab", "ids reach " + std::to_string(max_id) + " but there are only " +
                                             std::to_string(n_entries) + " tokens");

    std::vector<bool> present(n, false);
    out.tokens.assign(n, std::string());
    out.info.types.assign(n, TokenType::normal);
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        const auto id = static_cast<size_t>(it.value().get<uint64_t>());
        if (present[id])
            return json_error("model.vocab['" + show_vocab_piece(it.key()) + "']",
                              "id " + std::to_string(id) + " is also '" + show_vocab_piece(out.tokens[id]) + "'");
        present[id] = true;
        out.tokens[id] = it.key();
    }
    // Added tokens keep their raw text, also where they share an id with model.vocab.
    if (added && added->is_array()) {
        for (size_t i = 0; i < added->size(); ++i) {
            const json& a = (*added)[i];
            const std::string where = "added_tokens[" + std::to_string(i) + "]";
            const json* content = member(a, "content");
            if (!content || !content->is_string() || content->get_ref<const std::string&>().empty())
                return json_error(where + ".content", "is missing or empty");
            const json* special = member(a, "special");
            const auto id = static_cast<size_t>(*token_id(*member(a, "id"), where + ".id"));
            out.tokens[id] = content->get<std::string>();
            out.info.types[id] =
                special && special->is_boolean() && special->get<bool>() ? TokenType::control : TokenType::user_defined;
            present[id] = true;
        }
    }
    for (size_t id = 0; id < n; ++id) {
        if (present[id]) continue;
        out.tokens[id] = "[PAD" + std::to_string(id) + "]";
        out.info.types[id] = TokenType::unused;
    }

    // Merges are checked against model.vocab's own spelling of each piece.
    {
        std::vector<std::string> vocab_pieces(n);
        std::vector<TokenType> vocab_types(n, TokenType::unused);
        for (auto it = vocab->begin(); it != vocab->end(); ++it) {
            const auto id = static_cast<size_t>(it.value().get<uint64_t>());
            vocab_pieces[id] = it.key();
            vocab_types[id] = TokenType::normal;
        }
        for (size_t id = 0; id < n; ++id)
            if (vocab_pieces[id].empty()) vocab_pieces[id] = out.tokens[id];
        auto index = index_bpe_pieces(vocab_pieces, vocab_types, "model.vocab");
        KVMIX_TRY(index);
        const json* merges = member(*model, "merges");
        if (!merges || !merges->is_array()) return json_error("model.merges", "is missing");
        out.merges.reserve(merges->size());
        for (size_t i = 0; i < merges->size(); ++i) {
            const json& m = (*merges)[i];
            const std::string where = "tokenizer.json: model.merges[" + std::to_string(i) + "]";
            std::string_view left, right;
            if (m.is_string()) {
                const std::string& s = m.get_ref<const std::string&>();
                const size_t space = s.find(' ');
                if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
                    s.find(' ', space + 1) != std::string::npos)
                    return format_error("tokenizer: " + where + " is '" + show_vocab_piece(s) +
                                        "', not two pieces separated by one space");
                left = std::string_view(s).substr(0, space);
                right = std::string_view(s).substr(space + 1);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                left = m[0].get_ref<const std::string&>();
                right = m[1].get_ref<const std::string&>();
            } else {
                return format_error("tokenizer: " + where + " is neither \"a b\" nor [\"a\", \"b\"]");
            }
            KVMIX_TRY(add_bpe_merge(*index, left, right, where, out.merges));
        }
    }

    // Special tokens and flags.
    auto piece_id = [&](const std::string& piece) -> int32_t {
        if (piece.empty()) return -1;
        for (size_t id = 0; id < n; ++id)
            if (out.tokens[id] == piece) return static_cast<int32_t>(id);
        return -1;
    };
    VocabInfo& info = out.info;
    const json* post = member(root, "post_processor");
    const std::string bos_template = post ? template_special(*post, false) : std::string();
    const std::string eos_template = post ? template_special(*post, true) : std::string();
    info.add_bos = !bos_template.empty();
    info.add_eos = !eos_template.empty();
    info.bos = piece_id(bos_template);
    info.eos = piece_id(eos_template);
    if (const json* unk = member(*model, "unk_token"); unk && unk->is_string()) {
        info.unk = piece_id(unk->get<std::string>());
        out.unk_for_missing_bytes = info.unk >= 0;
    }

    if (!config_json.empty()) {
        auto config_or = parse_json_strict(config_json, "tokenizer: tokenizer_config.json");
        KVMIX_TRY(config_or);
        const json& config = *config_or;
        if (!config.is_object()) return format_error("tokenizer: tokenizer_config.json: top level is not an object");
        auto named = [&](const char* key, int32_t& id) -> Status {
            const std::string piece = config_token(config, key);
            if (piece.empty()) return Status::success();
            id = piece_id(piece);
            if (id < 0)
                return format_error("tokenizer: tokenizer_config.json: " + std::string(key) + " '" +
                                    show_vocab_piece(piece) + "' is not in the vocabulary");
            return Status::success();
        };
        KVMIX_TRY(named("bos_token", info.bos));
        KVMIX_TRY(named("eos_token", info.eos));
        KVMIX_TRY(named("unk_token", info.unk));
        KVMIX_TRY(named("pad_token", info.pad));
        if (const json* b = member(config, "add_bos_token"); b && b->is_boolean()) info.add_bos = b->get<bool>();
        if (const json* b = member(config, "add_eos_token"); b && b->is_boolean()) info.add_eos = b->get<bool>();
    }
    info.add_bos = info.add_bos && info.bos >= 0;
    info.add_eos = info.add_eos && info.eos >= 0;
    info.add_space_prefix = false;
    info.remove_extra_whitespaces = false;
    std::vector<std::string_view> views(out.tokens.begin(), out.tokens.end());
    add_known_eog_tokens(info, views);
    return out;
}

Expected<BpeVocab> bpe_vocab_from_tokenizer_json_file(const std::string& path) {
    namespace fs = std::filesystem;
    auto read = [](const std::string& p) -> Expected<std::shared_ptr<const MappedFile>> {
        auto file = MappedFile::open(p);
        if (!file.ok()) return file.status();
        if ((*file)->size() > max_file_bytes)
            return format_error("'" + p + "' is " + std::to_string((*file)->size()) + " bytes (at most " +
                                std::to_string(max_file_bytes) + ")");
        return file;
    };
    auto text = read(path);
    if (!text.ok()) return text.status().with_context("tokenizer");
    std::shared_ptr<const MappedFile> config;
    const std::string config_path = (fs::path(path).parent_path() / "tokenizer_config.json").string();
    std::error_code ec;
    if (fs::is_regular_file(config_path, ec)) {
        auto c = read(config_path);
        if (!c.ok()) return c.status().with_context("tokenizer");
        config = std::move(c).value();
    }
    const auto view = [](const std::shared_ptr<const MappedFile>& f) {
        return f ? std::string_view(reinterpret_cast<const char*>(f->data()), f->size()) : std::string_view();
    };
    auto vocab = bpe_vocab_from_tokenizer_json(view(*text), view(config));
    if (!vocab.ok()) return vocab.status().with_context("'" + path + "'");
    return vocab;
}

}  // namespace kvmix
