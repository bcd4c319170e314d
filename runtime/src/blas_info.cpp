// The BLAS in use, from /proc/self/maps and OpenBLAS's own entry points (looked up at run time:
// nothing links against OpenBLAS directly).
#include "blas_info.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace parplan::runtime {

namespace {
template <class F>
F symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

nlohmann::json blas_info() {
  nlohmann::json j;
  std::string lib;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    auto name = std::filesystem::path(path).filename().string();
    if (name.rfind("libblas", 0) == 0 || name.rfind("libopenblas", 0) == 0) {
      lib = path;
      break;
    }
  }
  j["library"] = lib.empty() ? "none mapped" : lib;
  auto config = symbol<char* (*)()>("openblas_get_config");
  auto core = symbol<char* (*)()>("openblas_get_corename");
  if (config) {
    j["kind"] = "openblas";
    j["openblas_config"] = config();
    if (core) j["openblas_core"] = core();
  } else {
    j["kind"] = lib.find("/blas/") != std::string::npos ? "reference" : lib.empty() ? "none" : "other";
  }
  if (const char* ct = std::getenv("OPENBLAS_CORETYPE")) j["OPENBLAS_CORETYPE"] = ct;
  return j;
}

void set_blas_threads(int n) {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  if (auto f = symbol<void (*)(int)>("openblas_set_num_threads")) f(n);
}

}  // namespace parplan::runtime
