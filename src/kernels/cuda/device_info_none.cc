// Device discovery in a build without CUDA: no devices.
#include "kernels/cuda/device_info.h"

namespace tensorforge::cuda {

bool built_with_cuda() { return false; }
bool built_with_cudnn_attention() { return false; }
int device_count() { return 0; }
int compute_capability() { return 0; }
int current_device() { return 0; }
void set_current_device(int) {}
std::string device_name() { return {}; }
void warm_up_libraries(int) {}
std::vector<std::pair<std::string, std::string>> library_versions() { return {}; }

}  // namespace tensorforge::cuda
