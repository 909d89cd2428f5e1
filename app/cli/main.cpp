// kvmix: the command-line face of the engine (info, tokenize; more commands follow the engine).
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace {

void print_usage(FILE* out) {
    std::fprintf(out,
                 "usage: kvmix <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  info      -m MODEL [--json]          architecture, hyper-parameters, tensors, tokenizer\n"
                 "  tokenize  -m MODEL [--json] TEXT     token ids and pieces\n"
                 "\n"
                 "MODEL is a .gguf file, a Hugging Face folder (config.json + safetensors), or 'default'.\n"
                 "  kvmix --version | --help\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const std::string cmd = argv[1];
    if (cmd == "--version" || cmd == "-V") {
        std::printf("kvmix %s\n", KVMIX_VERSION);
        return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        print_usage(stdout);
        return 0;
    }
    if (cmd == "info") return kvmix::cli::cmd_info(argc, argv);
#ifdef KVMIX_WITH_TOKENIZER
    if (cmd == "tokenize") return kvmix::cli::cmd_tokenize(argc, argv);
#else
    if (cmd == "tokenize") {
        std::fprintf(stderr, "kvmix: this build has no tokenizer (configured with KVMIX_TOKENIZER=OFF)\n");
        return 1;
    }
#endif
    std::fprintf(stderr, "kvmix: unknown command '%s'\n\n", cmd.c_str());
    print_usage(stderr);
    return 2;
}
