// CUDA device discovery: devices, their architecture, and the library versions engine files record.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tensorforge::cuda {

/// True if this build includes the CUDA backend.
bool built_with_cuda();

/// True if this build has cuDNN's C++ frontend, so cuDNN's fused attention (cuda.attention.cudnn)
/// can take attention layers (attention_cudnn.cc).
bool built_with_cudnn_attention();

/// Number of CUDA devices visible (0 without CUDA or without a GPU).
int device_count();

/// The current device's compute capability as major * 10 + minor (90 for an H100); 0 without one.
int compute_capability();

/// This thread's current CUDA device (0 without CUDA).
int current_device();

/// Makes `ordinal` this thread's current CUDA device (another thread working for a build uses the
/// builder's device); nothing without CUDA.
void set_current_device(int ordinal);

/// The current device's name ("NVIDIA H100 80GB HBM3"); empty without one.
std::string device_name();

/// Loads cuBLASLt and cuDNN and makes a handle of each for device `ordinal` on the calling thread,
/// which returns them to the process's pool when it ends: called on a helper thread while a first
/// compilation lowers its graph, so that the build finds the libraries loaded. Throws
/// Error(kRuntime) when a library fails; nothing without CUDA.
void warm_up_libraries(int ordinal);

/// (library, version) of each library CUDA engines use, as loaded at run time; empty without CUDA.
std::vector<std::pair<std::string, std::string>> library_versions();

}  // namespace tensorforge::cuda
