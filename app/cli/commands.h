// The kvmix subcommands. Each returns the process exit code and prints errors to stderr.
#pragma once

namespace kvmix::cli {

int cmd_info(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_passkey(int argc, char** argv);
int cmd_profile(int argc, char** argv);
int cmd_presets(int argc, char** argv);
int cmd_doctor(int argc, char** argv);

}  // namespace kvmix::cli
