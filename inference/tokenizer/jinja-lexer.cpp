// Jinja lexer: whitespace control follows jinja2's documented rules: "-" strips all
// whitespace on that side, "+" disables lstrip/trim, trim_blocks eats one newline after a
// block or comment tag, lstrip_blocks removes the indentation before a block or comment
// tag that starts a line.
#include "tokenizer/jinja-lexer.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "tokenizer/jinja-value.h"

namespace kvmix {

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

Status lex_error(std::size_t line, const std::string& what) {
    return format_error("template line " + std::to_string(line) + ": " + what);
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// Python-style escapes inside a string literal; an unknown escape keeps its backslash.
Status decode_string(std::string_view body, std::size_t line, std::string& out) {
    for (std::size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (c != '\\' || i + 1 >= body.size()) {
            out += c;
            continue;
        }
        const char e = body[++i];
        auto hex = [&](std::size_t digits) -> Status {
            std::uint32_t cp = 0;
            const auto r = std::from_chars(body.data() + i + 1, body.data() + i + 1 + digits, cp, 16);
            if (r.ec != std::errc() || r.ptr != body.data() + i + 1 + digits || cp > 0x10ffff)
                return lex_error(line, "bad escape in string literal");
            append_utf8(out, cp);
            i += digits;
            return {};
        };
        switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case 'a': out += '\a'; break;
            case '0': out += '\0'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\n': break;  // line continuation
            case 'x':
            case 'u':
            case 'U': {
                const std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (i + digits >= body.size()) return lex_error(line, "truncated escape in string literal");
                KVMIX_TRY(hex(digits));
                break;
            }
            default:
                out += '\\';
                out += e;
        }
    }
    return {};
}

// Tokenizes a tag body starting at pos; stops at the closing delimiter at bracket depth 0.
// Returns the position just past the delimiter and sets strip_after/keep_after from its sign.
Status lex_tag(std::string_view src, std::size_t& pos, std::size_t& line, bool is_expr,
               std::vector<JinjaToken>& tokens, char& end_sign) {
    const std::string_view close = is_expr ? "}}" : "%}";
    int depth = 0;
    while (true) {
        while (pos < src.size() && is_ascii_space(src[pos])) {
            if (src[pos] == '\n') ++line;
            ++pos;
        }
        if (pos >= src.size()) return lex_error(line, is_expr ? "unterminated '{{'" : "unterminated '{%'");
        const std::string_view rest = src.substr(pos);
        if (depth == 0) {
            if (rest.starts_with(close)) {
                end_sign = 0;
                pos += 2;
                return {};
            }
            if ((rest[0] == '-' || rest[0] == '+') && rest.substr(1).starts_with(close)) {
                end_sign = rest[0];
                pos += 3;
                return {};
            }
        }
        JinjaToken tok;
        tok.line = line;
        const char c = rest[0];
        if (is_name_start(c)) {
            std::size_t n = 1;
            while (n < rest.size() && (is_name_start(rest[n]) || is_digit(rest[n]))) ++n;
            tok.kind = JinjaToken::Kind::name;
            tok.text = std::string(rest.substr(0, n));
            pos += n;
        } else if (is_digit(c)) {
            std::size_t n = 0;
            bool is_float = false;
            std::string digits;
            auto take_digits = [&] {
                while (n < rest.size() && (is_digit(rest[n]) || (rest[n] == '_' && n + 1 < rest.size() && is_digit(rest[n + 1])))) {
                    if (rest[n] != '_') digits += rest[n];
                    ++n;
                }
            };
            take_digits();
            if (n + 1 < rest.size() && rest[n] == '.' && is_digit(rest[n + 1])) {
                is_float = true;
                digits += rest[n++];
                take_digits();
            }
            if (n < rest.size() && (rest[n] == 'e' || rest[n] == 'E')) {
                std::size_t m = n + 1;
                if (m < rest.size() && (rest[m] == '+' || rest[m] == '-')) ++m;
                if (m < rest.size() && is_digit(rest[m])) {
                    is_float = true;
                    digits += 'e';
                    digits.append(rest.substr(n + 1, m - n - 1));
                    n = m;
                    take_digits();
                }
            }
            if (is_float) {
                tok.kind = JinjaToken::Kind::floating;
                char* end = nullptr;
                tok.float_value = std::strtod(digits.c_str(), &end);
            } else {
                tok.kind = JinjaToken::Kind::integer;
                const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), tok.int_value);
                if (r.ec != std::errc()) return lex_error(line, "integer literal out of range");
            }
            tok.text = std::string(rest.substr(0, n));
            pos += n;
        } else if (c == '\'' || c == '"') {
            std::size_t n = 1;
            while (n < rest.size() && rest[n] != c) n += rest[n] == '\\' ? 2 : 1;
            if (n >= rest.size()) return lex_error(line, "unterminated string literal");
            tok.kind = JinjaToken::Kind::string;
            KVMIX_TRY(decode_string(rest.substr(1, n - 1), line, tok.text));
            for (std::size_t k = 0; k < n; ++k) line += rest[k] == '\n';
            pos += n + 1;
        } else {
            static constexpr std::string_view two[] = {"//", "**", "==", "!=", "<=", ">="};
            tok.kind = JinjaToken::Kind::op;
            for (auto op : two)
                if (rest.starts_with(op)) tok.text = std::string(op);
            if (tok.text.empty()) {
                if (std::string_view("+-*/%~<>=()[]{}.,:|").find(c) == std::string_view::npos)
                    return lex_error(line, std::string("unexpected character '") + c + "' in tag");
                tok.text = std::string(1, c);
                if (c == '(' || c == '[' || c == '{') ++depth;
                if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
            }
            pos += tok.text.size();
        }
        tokens.push_back(std::move(tok));
    }
}

}  // namespace

Expected<std::vector<JinjaSegment>> jinja_lex(std::string_view source, const JinjaLexOptions& options) {
    // Newlines are normalized to "\n" and one trailing newline dropped, like jinja2's defaults.
    std::string src;
    src.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            src += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            src += source[i];
        }
    }
    if (!options.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();

    std::vector<JinjaSegment> segments;
    std::size_t pos = 0, line = 1;
    bool line_starting = true;  // the previous tag ended by consuming a newline
    while (pos < src.size()) {
        std::size_t open = pos;
        while (true) {
            open = src.find('{', open);
            if (open == std::string::npos || open + 1 >= src.size()) {
                open = std::string::npos;
                break;
            }
            const char k = src[open + 1];
            if (k == '{' || k == '%' || k == '#') break;
            ++open;
        }
        std::string text = src.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
        const std::size_t text_line = line;
        for (char c : text) line += c == '\n';
        if (open == std::string::npos) {
            if (!text.empty()) segments.push_back({JinjaSegment::Kind::text, std::move(text), {}, text_line});
            break;
        }
        const char kind = src[open + 1];
        std::size_t p = open + 2;
        const char sign = (p < src.size() && (src[p] == '-' || src[p] == '+')) ? src[p] : 0;
        if (sign) ++p;
        if (sign == '-') {
            text = jinja_text::strip(text, false, true, nullptr);
        } else if (sign != '+' && options.lstrip_blocks && kind != '{') {
            const std::size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
            if (l_pos > 0 || line_starting) {
                bool blank = l_pos < text.size();
                for (std::size_t i = l_pos; i < text.size() && blank;) {
                    const std::size_t n = jinja_text::space_at(text, i);
                    blank = n > 0;
                    i += n;
                }
                if (blank) text.resize(l_pos);
            }
        }
        if (!text.empty()) segments.push_back({JinjaSegment::Kind::text, std::move(text), {}, text_line});

        char end_sign = 0;
        const std::size_t tag_line = line;
        if (kind == '#') {
            std::size_t close = src.find("#}", p);
            if (close == std::string::npos) return lex_error(line, "unterminated comment");
            for (std::size_t i = p; i < close; ++i) line += src[i] == '\n';
            if (close > p && (src[close - 1] == '-' || src[close - 1] == '+')) end_sign = src[close - 1];
            pos = close + 2;
        } else {
            JinjaSegment seg;
            seg.kind = kind == '{' ? JinjaSegment::Kind::expr : JinjaSegment::Kind::stmt;
            seg.line = tag_line;
            pos = p;
            KVMIX_TRY(lex_tag(src, pos, line, kind == '{', seg.tokens, end_sign));
            if (seg.kind == JinjaSegment::Kind::stmt && !seg.tokens.empty() &&
                seg.tokens[0].kind == JinjaToken::Kind::name && seg.tokens[0].text == "raw")
                return error(ErrorCode::unsupported, "template line " + std::to_string(tag_line) + ": '{% raw %}' is not supported");
            segments.push_back(std::move(seg));
        }
        // What the tag end consumes after itself.
        const std::size_t end_pos = pos;
        if (end_sign == '-') {
            while (pos < src.size()) {
                const std::size_t n = jinja_text::space_at(src, pos);
                if (!n) break;
                line += src[pos] == '\n';
                pos += n;
            }
        } else if (end_sign != '+' && kind != '{' && options.trim_blocks && pos < src.size() && src[pos] == '\n') {
            ++pos;
            ++line;
        }
        line_starting = pos > end_pos && src[pos - 1] == '\n';
    }
    return segments;
}

}  // namespace kvmix
