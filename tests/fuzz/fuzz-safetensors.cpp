// libFuzzer harness for the safetensors reader: any byte string must parse or fail cleanly,
// and every tensor view of a parsed image must lie inside the image.
// Inputs that start with '{' are also fed to the model.safetensors.index.json reader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/safetensors-file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parsed = kvmix::SafetensorsFile::parse_bytes(data, size);
    if (parsed.ok()) {
        const kvmix::SafetensorsFile& f = *parsed.value();
        if (f.data_offset() > size) __builtin_trap();
        for (const kvmix::TensorView& t : f.tensors()) {
            if (t.offset < f.data_offset() || t.offset > size || t.n_bytes > size - t.offset) __builtin_trap();
            if (t.data != data + t.offset) __builtin_trap();
            if (t.n_elements() * (t.type == kvmix::TensorType::f32 ? 4u : 2u) != t.n_bytes) __builtin_trap();
            if (f.find_tensor(t.name) != &t) __builtin_trap();
            // Touch both ends so ASan sees any view that escapes the buffer.
            if (t.n_bytes > 0) {
                volatile uint8_t sink = t.data[0];
                sink = t.data[t.n_bytes - 1];
                (void)sink;
            }
        }
    } else if (parsed.status().message().empty()) {
        __builtin_trap();  // every failure must say why
    }
    if (size > 0 && data[0] == '{') {
        const auto index = kvmix::parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(data), size));
        if (!index.ok() && index.status().message().empty()) __builtin_trap();
    }
    return 0;
}
