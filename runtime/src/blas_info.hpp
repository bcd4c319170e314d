#pragma once
// Which BLAS LibTorch's CPU GEMMs run on (Debian: libblas.so.3, the reference BLAS or OpenBLAS
// through update-alternatives), read from this process's mappings.
#include <nlohmann/json.hpp>

namespace parplan::runtime {

// {"library": the mapped libblas/openblas file, "kind": "openblas" | "reference" | "other",
//  "openblas_config", "openblas_core" (OpenBLAS only), "OPENBLAS_CORETYPE" (when set)}.
nlohmann::json blas_info();
// OpenBLAS's own thread pool (pthread build): `n` threads unless OPENBLAS_NUM_THREADS is set.
void set_blas_threads(int n);

}  // namespace parplan::runtime
