#include "backend/cuda/cublas-library.h"

#include <dlfcn.h>

#include <utility>

namespace kvmix::cuda {

namespace {

template <class Fn>
bool resolve(void* handle, const char* symbol, Fn& out) {
    out = reinterpret_cast<Fn>(dlsym(handle, symbol));
    return out != nullptr;
}

}  // namespace

CublasLibrary::CublasLibrary(CublasLibrary&& o) noexcept
    : handle_(std::exchange(o.handle_, nullptr)), api_(std::exchange(o.api_, {})), name_(std::move(o.name_)) {}

CublasLibrary& CublasLibrary::operator=(CublasLibrary&& o) noexcept {
    if (this != &o) {
        close();
        handle_ = std::exchange(o.handle_, nullptr);
        api_ = std::exchange(o.api_, {});
        name_ = std::move(o.name_);
    }
    return *this;
}

CublasLibrary::~CublasLibrary() { close(); }

void CublasLibrary::close() {
    if (handle_ != nullptr) dlclose(handle_);
    handle_ = nullptr;
    api_ = {};
    name_.clear();
}

std::string CublasLibrary::default_name() { return "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR); }

Status CublasLibrary::load() {
    const std::string name = default_name();
    Status st = load_from(name);
#ifdef KVMIX_CUBLAS_DIR
    if (!st.ok()) {
        // The toolkit's own directory, for installs that are not in the loader's search path.
        Status in_toolkit = load_from(std::string(KVMIX_CUBLAS_DIR) + "/" + name);
        if (in_toolkit.ok()) return in_toolkit;
    }
#endif
    return st;
}

Status CublasLibrary::load_from(const std::string& name) {
    close();
    // RTLD_LOCAL: its symbols serve only the table below.
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        const char* why = dlerror();
        return error(ErrorCode::unsupported, "the CUDA backend needs cuBLAS (" + name + ", CUDA " + std::to_string(CUBLAS_VER_MAJOR) +
                                                 "), which could not be loaded: " + (why ? why : "unknown reason"));
    }
    CublasApi api;
    const char* missing = nullptr;
    if (!resolve(h, "cublasCreate_v2", api.create)) missing = "cublasCreate_v2";
    else if (!resolve(h, "cublasDestroy_v2", api.destroy)) missing = "cublasDestroy_v2";
    else if (!resolve(h, "cublasSetStream_v2", api.set_stream)) missing = "cublasSetStream_v2";
    else if (!resolve(h, "cublasSgemm_v2", api.sgemm)) missing = "cublasSgemm_v2";
    else if (!resolve(h, "cublasSger_v2", api.sger)) missing = "cublasSger_v2";
    if (missing != nullptr) {
        dlclose(h);
        return error(ErrorCode::unsupported, name + " has no " + missing + ": not the cuBLAS of CUDA " + std::to_string(CUBLAS_VER_MAJOR));
    }
    handle_ = h;
    api_ = api;
    name_ = name;
    return {};
}

}  // namespace kvmix::cuda
