// cuBLAS loaded at run time (dlopen) instead of linked. A linked libcublas (and the
// libcublasLt it needs) is mapped and relocated in every process at start: ~155 MB resident
// before anything runs, on machines without a GPU too. Loaded on demand, only a process that
// builds a GPU model pays for it.
//
// CublasLibrary::load() opens libcublas.so.<the toolkit's major version> through the normal
// library search (ld.so.cache, LD_LIBRARY_PATH), then in the toolkit's library directory of
// the build, and resolves the functions the backend calls; its error names the library and
// the loader's reason. The handle is closed by the destructor. Move-only; the loaded table
// is read-only and may be shared by threads once load() has returned.
#pragma once

#include <cublas_v2.h>

#include <string>

#include "kvmix/status.h"

namespace kvmix::cuda {

struct CublasApi {
    decltype(&cublasCreate_v2) create = nullptr;
    decltype(&cublasDestroy_v2) destroy = nullptr;
    decltype(&cublasSetStream_v2) set_stream = nullptr;
    decltype(&cublasSgemm_v2) sgemm = nullptr;
    decltype(&cublasSger_v2) sger = nullptr;
};

class CublasLibrary {
public:
    CublasLibrary() = default;
    CublasLibrary(const CublasLibrary&) = delete;
    CublasLibrary& operator=(const CublasLibrary&) = delete;
    CublasLibrary(CublasLibrary&& o) noexcept;
    CublasLibrary& operator=(CublasLibrary&& o) noexcept;
    ~CublasLibrary();

    // The default library (see above); loaded() afterwards on success.
    Status load();
    // From `name` (a file name for the library search, or a path) only.
    Status load_from(const std::string& name);

    bool loaded() const { return handle_ != nullptr; }
    const CublasApi& api() const { return api_; }
    // The name the library was found under ("" before load()).
    const std::string& name() const { return name_; }

    // "libcublas.so.N" for the toolkit this was built with.
    static std::string default_name();

private:
    void close();

    void* handle_ = nullptr;
    CublasApi api_;
    std::string name_;
};

}  // namespace kvmix::cuda
