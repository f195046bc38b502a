# Finds cuDNN's C++ frontend (header-only: cudnn_frontend.h), which the pip package
# nvidia-cudnn-frontend installs in <site-packages>/include beside its Python package `cudnn`.
# Optional: with it the CUDA backend gains cuDNN's fused attention (cuda.attention.cudnn).
# CUDNN_FRONTEND_PATH (environment) may name another checkout's root. Sets
# TENSORFORGE_CUDNN_FRONTEND_INCLUDE_DIR (NOTFOUND when absent).
set(_tf_fe_hints)
if(DEFINED ENV{CUDNN_FRONTEND_PATH})
  list(APPEND _tf_fe_hints "$ENV{CUDNN_FRONTEND_PATH}")
endif()
# _tf_python: the interpreter cmake/NvidiaLibraries.cmake (included first) found.
if(_tf_python)
  # find_spec locates the package without importing it (importing pulls in its compiled module).
  execute_process(
    COMMAND "${_tf_python}" -c
            "import importlib.util, os; s = importlib.util.find_spec('cudnn'); print(os.path.dirname(os.path.dirname(s.origin)) if s and s.origin else '')"
    OUTPUT_VARIABLE _tf_fe_root OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_tf_fe_root)
    list(APPEND _tf_fe_hints "${_tf_fe_root}")
  endif()
endif()
find_path(TENSORFORGE_CUDNN_FRONTEND_INCLUDE_DIR NAMES cudnn_frontend.h HINTS ${_tf_fe_hints} PATH_SUFFIXES include
          NO_DEFAULT_PATH)
if(TENSORFORGE_CUDNN_FRONTEND_INCLUDE_DIR)
  message(STATUS "TensorForge: cuDNN frontend ${TENSORFORGE_CUDNN_FRONTEND_INCLUDE_DIR} (fused attention)")
else()
  message(STATUS "TensorForge: cuDNN frontend not found (pip install nvidia-cudnn-frontend for cuDNN's fused "
                 "attention); attention runs our own CUDA kernels")
endif()
