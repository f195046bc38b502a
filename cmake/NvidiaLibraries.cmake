# Finds cuBLASLt, cuDNN and NVRTC for the CUDA backend, in the CUDA toolkit or in the pip-installed
# NVIDIA packages (nvidia-cublas, nvidia-cudnn-cu13, nvidia-cuda-nvrtc: the ones PyTorch's CUDA wheels
# use). Sets TENSORFORGE_NVIDIA_FOUND, TENSORFORGE_NVIDIA_MISSING (names of what is missing),
# TENSORFORGE_NVIDIA_INCLUDE_DIRS, TENSORFORGE_NVIDIA_LIBRARIES and TENSORFORGE_NVIDIA_LIBRARY_DIRS.
# The pip wheels ship only versioned shared objects (libcublasLt.so.13), so those names are searched too.

set(_tf_hints)
# The interpreter whose site-packages may hold NVIDIA's wheels: the build's Python (a pip build sets
# Python_EXECUTABLE), else python3 on PATH. find_program's result lives in its own cache variable: a
# normal variable of the same name would hide it (a plain CMake run then found no interpreter).
set(_tf_python "${Python_EXECUTABLE}")
if(NOT _tf_python)
  find_program(TENSORFORGE_NVIDIA_PYTHON NAMES python3 python)
  if(TENSORFORGE_NVIDIA_PYTHON)
    set(_tf_python "${TENSORFORGE_NVIDIA_PYTHON}")
  endif()
endif()
if(_tf_python)
  execute_process(
    COMMAND "${_tf_python}" -c "import nvidia; print(';'.join(nvidia.__path__))"
    OUTPUT_VARIABLE _tf_nvidia_roots OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _tf_rc)
  if(_tf_rc EQUAL 0)
    foreach(root IN LISTS _tf_nvidia_roots)
      foreach(sub cu13 cu12 cublas cudnn cuda_nvrtc)
        if(EXISTS "${root}/${sub}")
          list(APPEND _tf_hints "${root}/${sub}")
        endif()
      endforeach()
    endforeach()
  endif()
endif()
foreach(var CUDNN_ROOT CUDNN_PATH)
  if(DEFINED ENV{${var}})
    list(APPEND _tf_hints "$ENV{${var}}")
  endif()
endforeach()
list(APPEND _tf_hints ${CUDAToolkit_LIBRARY_ROOT} "${CUDAToolkit_LIBRARY_DIR}/..")

set(TENSORFORGE_NVIDIA_INCLUDE_DIRS)
set(TENSORFORGE_NVIDIA_LIBRARIES)
set(TENSORFORGE_NVIDIA_LIBRARY_DIRS)
set(TENSORFORGE_NVIDIA_MISSING)
# name;header;library names...
foreach(spec "cublasLt;cublasLt.h;cublasLt;libcublasLt.so.13;libcublasLt.so.12"
             "cudnn;cudnn.h;cudnn;libcudnn.so.9"
             "nvrtc;nvrtc.h;nvrtc;libnvrtc.so.13;libnvrtc.so.12")
  list(GET spec 0 name)
  list(GET spec 1 header)
  list(SUBLIST spec 2 -1 libnames)
  find_path(TENSORFORGE_${name}_INCLUDE_DIR NAMES ${header} HINTS ${_tf_hints} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(TENSORFORGE_${name}_LIBRARY NAMES ${libnames} NAMES_PER_DIR HINTS ${_tf_hints} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64)
  if(TENSORFORGE_${name}_INCLUDE_DIR AND TENSORFORGE_${name}_LIBRARY)
    list(APPEND TENSORFORGE_NVIDIA_INCLUDE_DIRS "${TENSORFORGE_${name}_INCLUDE_DIR}")
    list(APPEND TENSORFORGE_NVIDIA_LIBRARIES "${TENSORFORGE_${name}_LIBRARY}")
    get_filename_component(_dir "${TENSORFORGE_${name}_LIBRARY}" DIRECTORY)
    list(APPEND TENSORFORGE_NVIDIA_LIBRARY_DIRS "${_dir}")
    message(STATUS "TensorForge: ${name} ${TENSORFORGE_${name}_LIBRARY}")
  else()
    list(APPEND TENSORFORGE_NVIDIA_MISSING ${name})
  endif()
endforeach()
list(REMOVE_DUPLICATES TENSORFORGE_NVIDIA_INCLUDE_DIRS)
list(REMOVE_DUPLICATES TENSORFORGE_NVIDIA_LIBRARY_DIRS)
if(TENSORFORGE_NVIDIA_MISSING)
  set(TENSORFORGE_NVIDIA_FOUND OFF)
else()
  set(TENSORFORGE_NVIDIA_FOUND ON)
endif()
