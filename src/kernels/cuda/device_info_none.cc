// Device discovery in a build without CUDA: no devices.
#include "kernels/cuda/device_info.h"

namespace tensorforge::cuda {

bool built_with_cuda() { return false; }
int device_count() { return 0; }

}  // namespace tensorforge::cuda
