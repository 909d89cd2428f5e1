// kvmix: the command-line face of the engine.
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
                 "  generate  -m MODEL -p PROMPT | -f FILE  generate text (-n N; --chat applies the chat template)\n"
                 "  chat      -m MODEL [--system TEXT]    interactive chat in the terminal\n"
                 "  perplexity -m MODEL -f FILE           perplexity of a text file (--ctx, --chunk, --json)\n"
                 "  bench     -m MODEL [--ctx LIST]       prefill/decode speed vs context depth (--gen, --kv LIST, --json)\n"
                 "  passkey   -m MODEL --ctx N            retrieval of a hidden number at several depths (--kv SPEC)\n"
                 "  profile   -m MODEL [--calib FILE]     gradient-based K/V layer importance -> bit profile (--self-generate N --len T)\n"
                 "  presets   -m MODEL [--budget BYTES]   bits, bytes per token and max context of each KV preset\n"
                 "  doctor    [-m MODEL] [--json]         CPU kernels, CUDA devices and the GPU self-check (CPU vs GPU logits)\n"
                 "\n"
                 "KV cache: --kv fp16 | k2v2 | k3v3 | k4v4 | k8v8 | kXvY | profile:FILE | high | balanced | compact\n"
                 "          | custom:FRACTION:kHIvHI:kLOvLO (presets use the model's `kvmix profile`), --kv-group 32|64|128,\n"
                 "          --kv-window RATIO, --kv-sinks N, --kv-rotate none|keys|values|both (KVmix mixed-precision\n"
                 "          cache; rotation: a fixed Hadamard transform per head before quantization, CPU only)\n"
                 "Device: --device cpu | cuda [--gpu N] (cuda needs a CUDA build and a GPU; the error says why not)\n"
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
    if (cmd == "bench") return kvmix::cli::cmd_bench(argc, argv);
    if (cmd == "presets") return kvmix::cli::cmd_presets(argc, argv);
    if (cmd == "doctor") return kvmix::cli::cmd_doctor(argc, argv);
#ifdef KVMIX_WITH_TOKENIZER
    if (cmd == "tokenize") return kvmix::cli::cmd_tokenize(argc, argv);
    if (cmd == "generate") return kvmix::cli::cmd_generate(argc, argv);
    if (cmd == "chat") return kvmix::cli::cmd_chat(argc, argv);
    if (cmd == "perplexity") return kvmix::cli::cmd_perplexity(argc, argv);
    if (cmd == "passkey") return kvmix::cli::cmd_passkey(argc, argv);
    if (cmd == "profile") return kvmix::cli::cmd_profile(argc, argv);
#else
    if (cmd == "tokenize" || cmd == "generate" || cmd == "chat" || cmd == "perplexity" || cmd == "passkey" || cmd == "profile") {
        std::fprintf(stderr, "kvmix: '%s' needs the tokenizer, which this build lacks (KVMIX_TOKENIZER=OFF)\n", cmd.c_str());
        return 1;
    }
#endif
    std::fprintf(stderr, "kvmix: unknown command '%s'\n\n", cmd.c_str());
    print_usage(stderr);
    return 2;
}
