// cuBLAS is loaded on demand (backend/cuda/cublas-library.h): a process linked with the
// engine has no libcublas mapped until a GPU model asks for it; load() then finds the
// toolkit's library and resolves every function the backend calls; a library that cannot
// be loaded gives an error that names it. Runs without a GPU (loading cuBLAS needs none).
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

#include "backend/cuda/cublas-library.h"
#include "check.h"

using namespace kvmix;
using kvmix::cuda::CublasLibrary;

namespace {

bool cublas_mapped() {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
        if (line.find("libcublas") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("cuBLAS: not mapped at start; load() resolves every function; a missing library is named") {
    CHECK(!cublas_mapped());

    CublasLibrary missing;
    const Status st = missing.load_from("libkvmix-no-such-cublas.so.13");
    CHECK(!st.ok());
    CHECK(st.code() == ErrorCode::unsupported);
    CHECK(st.message().find("libkvmix-no-such-cublas.so.13") != std::string::npos);
    CHECK(st.message().find("could not be loaded") != std::string::npos);
    CHECK(!missing.loaded());
    CHECK(!cublas_mapped());

    CublasLibrary lib;
    const Status loaded = lib.load();
    if (!loaded.ok()) std::fprintf(stderr, "%s\n", loaded.message().c_str());
    REQUIRE(loaded.ok());
    CHECK(lib.loaded());
    CHECK(lib.name().find(CublasLibrary::default_name()) != std::string::npos);
    const kvmix::cuda::CublasApi& api = lib.api();
    CHECK(api.create != nullptr);
    CHECK(api.destroy != nullptr);
    CHECK(api.set_stream != nullptr);
    CHECK(api.sgemm != nullptr);
    CHECK(api.sger != nullptr);
    CHECK(cublas_mapped());

    // Moves hand the handle and the table over; the moved-from object holds nothing.
    const auto sgemm = api.sgemm;
    CublasLibrary moved(std::move(lib));
    CHECK(moved.loaded());
    CHECK(moved.api().sgemm == sgemm);
    CHECK(!lib.loaded());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
}

KVMIX_TEST_MAIN()
