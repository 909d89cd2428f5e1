// libFuzzer harness for the GGUF reader: any byte string must parse or fail cleanly, every
// tensor view of a parsed image must lie inside the image, and metadata must print.
#include <cstddef>
#include <cstdint>

#include "io/gguf-file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parsed = kvmix::GgufFile::parse_bytes(data, size);
    if (!parsed.ok()) {
        if (parsed.status().message().empty()) __builtin_trap();  // every failure must say why
        return 0;
    }
    const kvmix::GgufFile& f = *parsed.value();
    for (const kvmix::TensorView& t : f.tensors()) {
        if (t.offset < f.data_offset() || t.offset > size || t.n_bytes > size - t.offset) __builtin_trap();
        if (t.data != data + t.offset) __builtin_trap();
        if (f.find_tensor(t.name) != &t) __builtin_trap();
        if (t.n_bytes > 0) {  // touch both ends so ASan sees any view that escapes the buffer
            volatile uint8_t sink = t.data[0];
            sink = t.data[t.n_bytes - 1];
            (void)sink;
        }
    }
    for (const auto& [key, value] : f.metadata()) {
        if (f.find(key) != &value) __builtin_trap();
        (void)value.to_string();
        // The typed getters must refuse mismatches with a message, never crash.
        (void)f.get_string(key);
        (void)f.get_int(key);
        (void)f.get_float(key);
        (void)f.get_bool(key);
        (void)f.get_string_array(key);
        (void)f.get_float_array(key);
        (void)f.get_int_array(key);
    }
    return 0;
}
