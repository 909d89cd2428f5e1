#include "tokenizer/bpe-pre-tokenizer.h"

#include <array>
#include <cstdint>
#include <utility>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace kvmix {

namespace {

// The regexes, as llama.cpp applies them per pre-tokenizer type. Where the Hugging Face
// original says (?i:'s|'t|...), llama.cpp spells the case-insensitive letters out; so do we.

// GPT-2's pattern, the base of most sets.
constexpr const char* re_gpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";

constexpr const char* re_llama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Llama 3's pattern with single digits.
constexpr const char* re_qwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Han, CJK (U+0800..U+4E00 as written upstream) and Hangul runs.
constexpr const char* re_deepseek_cjk = R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

// DeepSeek LLM spells its letters as explicit ranges (the cased letters of the Unicode
// version it was made with) instead of \p{L}.
constexpr const char* re_deepseek_llm_letters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})re"
    R"re(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})re"
    R"re(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})re"
    R"re(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})re"
    R"re(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})re"
    R"re(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})re"
    R"re(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})re"
    R"re(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})re"
    R"re(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
    R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})re"
    R"re(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})re"
    R"re(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})re"
    R"re(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";

struct NamedSet {
    std::array<std::string_view, 8> names;  // `tokenizer.ggml.pre` values sharing the set
    std::array<const char*, 6> regexes;
    bool ignore_merges;
    bool add_bos;
};

constexpr std::array<NamedSet, 9> named_sets = {{
    {{"default"}, {R"re([\p{P}\$\+<=>\^~\|]+)re", re_gpt2, R"re(\p{N}+)re", R"re([0-9][0-9][0-9])re"}, false, false},
    {{"gpt-2", "phi-2", "mpt", "olmo"}, {re_gpt2}, false, false},
    {{"llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"}, {re_llama3}, true, true},
    {{"dbrx", "smaug-bpe"}, {re_llama3}, false, false},  // Llama 3's regex, not its merge and BOS rules
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {re_qwen2}, false, false},
    {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"},
     {R"re(\p{N})re", re_gpt2},
     false,
     false},
    {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", re_gpt2, R"re([0-9][0-9][0-9])re"}, false, false},
    {{"deepseek-llm"},
     {R"re([\r\n])re", re_deepseek_llm_letters,
      R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re", R"re(\s+$)re",
      re_deepseek_cjk, R"re(\p{N}+)re"},
     false,
     false},
    {{"deepseek-coder"},
     {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", re_deepseek_cjk, R"re(\p{N})re"},
     false,
     false},
}};

std::string pcre2_message(int code) {
    std::array<PCRE2_UCHAR, 256> buf{};
    if (pcre2_get_error_message(code, buf.data(), buf.size()) < 0) return "PCRE2 error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(buf.data()));
}

// Shows a pattern in messages without flooding them.
std::string show_pattern(const std::string& re) {
    return re.size() <= 80 ? re : re.substr(0, 77) + "...";
}

struct MatchDataDeleter {
    void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};
struct MatchContextDeleter {
    void operator()(pcre2_match_context* mc) const { pcre2_match_context_free(mc); }
};

// Backtracking budget per match: linear in the piece (Llama 3's \s*[\r\n]+ backtracks
// over a whole whitespace run before another branch matches it), so only a pattern that
// explodes, as a hostile tokenizer.json could hold, fails, with an error instead of a stall.
uint32_t match_limit(size_t length) {
    const uint64_t limit = 10'000'000ull + 64ull * length;
    return limit > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(limit);
}

}  // namespace

Expected<BpePreTokenizerSpec> bpe_pre_tokenizer_spec(std::string_view pre) {
    for (const NamedSet& set : named_sets) {
        for (std::string_view name : set.names) {
            if (name.empty() || name != pre) continue;
            BpePreTokenizerSpec spec;
            spec.name = std::string(pre);
            for (const char* re : set.regexes)
                if (re) spec.regexes.emplace_back(re);
            spec.ignore_merges = set.ignore_merges;
            spec.add_bos = set.add_bos;
            return spec;
        }
    }
    return error(ErrorCode::unsupported,
                 "tokenizer: 'tokenizer.ggml.pre' is '" + std::string(pre) +
                     "', which is not a known pre-tokenizer (known: " + known_bpe_pre_tokenizers() + ")");
}

std::string known_bpe_pre_tokenizers() {
    std::string out;
    for (const NamedSet& set : named_sets)
        for (std::string_view name : set.names)
            if (!name.empty()) (out += out.empty() ? "" : ", ") += name;
    return out;
}

Expected<BpePreTokenizer> BpePreTokenizer::create(const std::vector<std::string>& regexes) {
    BpePreTokenizer out;
    for (size_t i = 0; i < regexes.size(); ++i) {
        const std::string& re = regexes[i];
        int err = 0;
        PCRE2_SIZE err_offset = 0;
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err,
                                         &err_offset, nullptr);
        if (!code)
            return format_error("pre-tokenizer regex " + std::to_string(i) + " '" + show_pattern(re) +
                                "' does not compile at offset " + std::to_string(err_offset) + ": " +
                                pcre2_message(err));
        out.codes_.push_back(code);
        // Without JIT (unsupported CPU, or PCRE2 built without it) the interpreter runs it.
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    }
    return out;
}

BpePreTokenizer::BpePreTokenizer(BpePreTokenizer&& other) noexcept : codes_(std::move(other.codes_)) {
    other.codes_.clear();
}

BpePreTokenizer& BpePreTokenizer::operator=(BpePreTokenizer&& other) noexcept {
    if (this != &other) {
        release();
        codes_ = std::move(other.codes_);
        other.codes_.clear();
    }
    return *this;
}

BpePreTokenizer::~BpePreTokenizer() {
    release();
}

void BpePreTokenizer::release() {
    for (pcre2_code* code : codes_) pcre2_code_free(code);
    codes_.clear();
}

Status BpePreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
    if (text.empty()) return Status::success();
    std::unique_ptr<pcre2_match_context, MatchContextDeleter> mc(pcre2_match_context_create(nullptr));
    if (!mc) return error(ErrorCode::out_of_memory, "tokenizer: cannot allocate a PCRE2 match context");
    std::vector<std::pair<size_t, size_t>> pieces = {{0, text.size()}}, next;  // (offset, length)
    for (size_t r = 0; r < codes_.size(); ++r) {
        pcre2_code* code = codes_[r];
        std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(pcre2_match_data_create_from_pattern(code, nullptr));
        if (!md) return error(ErrorCode::out_of_memory, "tokenizer: cannot allocate PCRE2 match data");
        next.clear();
        for (const auto& [offset, length] : pieces) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + offset);
            pcre2_set_match_limit(mc.get(), match_limit(length));
            size_t pos = 0, last = 0;  // search start; end of the last emitted piece
            while (pos < length) {
                int rc = pcre2_match(code, subject, length, pos, 0, md.get(), mc.get());
                // The JIT's fixed stack can run out on long runs; the interpreter uses the heap.
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                    rc = pcre2_match(code, subject, length, pos, PCRE2_NO_JIT, md.get(), mc.get());
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0)
                    return error(ErrorCode::invalid_argument, "tokenizer: pre-tokenizer regex " + std::to_string(r) +
                                                                  " failed on the text: " + pcre2_message(rc));
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
                const size_t start = ov[0], end = ov[1];
                if (end <= start) {
                    // An empty match: step over one character and search again.
                    pos = start + 1;
                    while (pos < length && (static_cast<uint8_t>(text[offset + pos]) & 0xC0) == 0x80) ++pos;
                    continue;
                }
                if (start > last) next.emplace_back(offset + last, start - last);
                next.emplace_back(offset + start, end - start);
                last = pos = end;
            }
            if (last < length) next.emplace_back(offset + last, length - last);
        }
        pieces.swap(next);
    }
    words.reserve(words.size() + pieces.size());
    for (const auto& [offset, length] : pieces) words.push_back(text.substr(offset, length));
    return Status::success();
}

}  // namespace kvmix
