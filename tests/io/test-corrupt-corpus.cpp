// Every hand-made corrupt file in tests/data/corrupt/ (made by tests/tools/gen-corrupt-corpus.py)
// must be refused by its parser with the message listed in expected.json, without crashing.
// The parser is chosen by extension: .gguf -> GgufFile, .safetensors -> SafetensorsFile.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "check.h"
#include "io/gguf-file.h"
#include "io/safetensors-file.h"

using namespace kvmix;
namespace fs = std::filesystem;

namespace {

fs::path corpus_dir() { return fs::path(kvmix_test::data_dir()) / "corrupt"; }

Expected<nlohmann::json> load_expected() {
    std::ifstream in(corpus_dir() / "expected.json", std::ios::binary);
    if (!in) return error(ErrorCode::io, "cannot read " + (corpus_dir() / "expected.json").string());
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_json_strict(ss.str(), "expected.json");
}

Status open_with_parser(const fs::path& path) {
    const std::string ext = path.extension().string();
    if (ext == ".gguf") {
        const auto r = GgufFile::open(path.string());
        return r.ok() ? Status::success() : r.status();
    }
    if (ext == ".safetensors") {
        const auto r = SafetensorsFile::open(path.string());
        return r.ok() ? Status::success() : r.status();
    }
    return error(ErrorCode::invalid_argument, "no parser for extension '" + ext + "'");
}

bool is_corpus_file(const fs::path& p) { return p.extension() == ".gguf" || p.extension() == ".safetensors"; }

}  // namespace

TEST_CASE("corrupt corpus: every file fails with its expected message") {
    if (!fs::is_directory(corpus_dir())) SKIP("no corpus at " + corpus_dir().string());
    const auto expected = load_expected();
    REQUIRE_OK(expected);
    REQUIRE(expected.value().is_object());
    int checked = 0;
    for (const auto& [file, want] : expected.value().items()) {
        REQUIRE(want.is_string());
        const fs::path path = corpus_dir() / file;
        if (!fs::exists(path)) {
            kvmix_test::report_failure(__FILE__, __LINE__, "expected.json lists missing file " + file);
            continue;
        }
        const Status s = open_with_parser(path);
        const std::string& substring = want.get_ref<const std::string&>();
        if (s.ok()) {
            kvmix_test::report_failure(__FILE__, __LINE__, file + ": parsed without error, expected '" + substring + "'");
        } else if (s.message().find(substring) == std::string::npos) {
            kvmix_test::report_failure(__FILE__, __LINE__,
                                       file + ": message '" + s.message() + "' lacks '" + substring + "'");
        } else if (s.message().find(path.string()) == std::string::npos) {
            kvmix_test::report_failure(__FILE__, __LINE__, file + ": message '" + s.message() + "' does not name the file");
        }
        ++checked;
    }
    CHECK(checked > 0);
    std::printf("checked %d corrupt files\n", checked);
}

TEST_CASE("corrupt corpus: every corpus file is listed in expected.json") {
    if (!fs::is_directory(corpus_dir())) SKIP("no corpus at " + corpus_dir().string());
    const auto expected = load_expected();
    REQUIRE_OK(expected);
    for (const auto& entry : fs::directory_iterator(corpus_dir())) {
        const fs::path p = entry.path();
        if (!is_corpus_file(p)) continue;
        if (!expected.value().contains(p.filename().string()))
            kvmix_test::report_failure(__FILE__, __LINE__, p.filename().string() + " has no entry in expected.json");
    }
}

TEST_CASE("fuzz seeds: the valid seed files parse") {
    const fs::path seeds = fs::path(kvmix_test::data_dir()).parent_path() / "fuzz" / "seeds";
    if (!fs::is_directory(seeds)) SKIP("no fuzz seeds at " + seeds.string());
    int parsed = 0;
    for (const auto& entry : fs::recursive_directory_iterator(seeds)) {
        if (!entry.is_regular_file() || !is_corpus_file(entry.path())) continue;
        const Status s = open_with_parser(entry.path());
        if (!s.ok()) kvmix_test::report_failure(__FILE__, __LINE__, "seed failed: " + s.message());
        ++parsed;
    }
    CHECK(parsed >= 4);
}

KVMIX_TEST_MAIN()
