#include "cli/cli-args.h"

#include <cstdio>

namespace kvmix::cli {

std::string Args::canonical(const std::string& s) const {
    auto it = aliases_.find(s);
    return it == aliases_.end() ? s : it->second;
}

bool Args::parse(int argc, char** argv, int first) {
    bool only_positional = false;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (only_positional || a.size() < 2 || a[0] != '-') {
            positional_.push_back(a);
            continue;
        }
        if (a == "-h" || a == "--help") {
            help_ = true;
            continue;
        }
        if (a == "--") {
            only_positional = true;
            continue;
        }
        std::string value;
        bool inline_value = false;
        if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = a.substr(eq + 1);
            a = a.substr(0, eq);
            inline_value = true;
        }
        const std::string name = canonical(a);
        if (with_value_.count(name)) {
            if (!inline_value) {
                if (i + 1 >= argc) {
                    error_ = "option " + a + " needs a value";
                    return false;
                }
                value = argv[++i];
            }
            values_[name] = value;
            all_values_[name].push_back(value);
        } else if (switches_.count(name) && !inline_value) {
            set_switches_.insert(name);
        } else {
            error_ = "unknown option " + a;
            return false;
        }
    }
    return true;
}

int Args::usage_exit(const char* command, const char* usage, bool complete) const {
    if (help_) {
        std::printf("%s\n", usage);
        return 0;
    }
    if (error_.empty() && complete) return -1;
    if (!error_.empty()) std::fprintf(stderr, "kvmix %s: %s\n", command, error_.c_str());
    std::fprintf(stderr, "%s\n", usage);
    return 2;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

}  // namespace kvmix::cli

namespace kvmix::cli {

std::vector<std::string> Args::get_all(const std::string& name) const {
    auto it = all_values_.find(name);
    return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace kvmix::cli
