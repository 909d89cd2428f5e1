// A small command-line parser for the kvmix subcommands: flags with values
// (-m MODEL, --ctx 512), boolean switches (--json) and positional arguments.
// Not thread-safe; used once in main().
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace kvmix::cli {

class Args {
public:
    // `with_value`: options that take a value; `switches`: boolean options. Both list every
    // spelling ("-m", "--model"); `aliases` maps a spelling to its canonical name.
    Args(std::set<std::string> with_value, std::set<std::string> switches, std::map<std::string, std::string> aliases = {})
        : with_value_(std::move(with_value)), switches_(std::move(switches)), aliases_(std::move(aliases)) {}

    // Returns false and sets error() on an unknown option or a missing value. "-h" and
    // "--help" are always accepted and set help().
    bool parse(int argc, char** argv, int first);

    // What a command does after parse(): with --help, prints `usage` to stdout and returns 0;
    // after a parse error, or when `complete` (the command's required options) is false,
    // prints the error and `usage` to stderr and returns 2; otherwise returns -1 (go on).
    int usage_exit(const char* command, const char* usage, bool complete) const;

    bool help() const { return help_; }

    bool has(const std::string& name) const { return values_.count(name) || set_switches_.count(name); }
    std::string get(const std::string& name, const std::string& fallback = "") const;
    // Overrides an option's value (e.g. one entry of a list the command iterates over).
    void set(const std::string& name, const std::string& value) { values_[name] = value; }
    // Every value of an option given several times (e.g. --stop A --stop B), in order.
    std::vector<std::string> get_all(const std::string& name) const;
    const std::vector<std::string>& positional() const { return positional_; }
    const std::string& error() const { return error_; }

private:
    std::string canonical(const std::string& s) const;

    std::set<std::string> with_value_, switches_;
    std::map<std::string, std::string> aliases_;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::vector<std::string>> all_values_;
    std::set<std::string> set_switches_;
    std::vector<std::string> positional_;
    std::string error_;
    bool help_ = false;
};

}  // namespace kvmix::cli
