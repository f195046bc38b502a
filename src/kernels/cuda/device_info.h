// CUDA device discovery. The CUDA kernels themselves arrive with the CUDA-backend issue; this file
// is where the build plugs them in (TENSORFORGE_CUDA=AUTO|ON|OFF in CMakeLists.txt).
#pragma once

namespace tensorforge::cuda {

/// True if this build includes the CUDA backend.
bool built_with_cuda();

/// Number of CUDA devices visible (0 without CUDA or without a GPU).
int device_count();

}  // namespace tensorforge::cuda
