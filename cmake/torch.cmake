# LibTorch from the torch wheel of one Python (MEDVQA_PYTHON: the project's .venv by default, or a
# cluster's own environment), never from the system: Debian's libtorch-dev (1.13) would silently
# mismatch, so the search is pinned to that wheel's prefix. Any torch 2.x from 2.6 on.
set(MEDVQA_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python whose torch medvqa links")
set(MEDVQA_TORCH_MIN 2.6)
execute_process(
  COMMAND "${MEDVQA_PYTHON}" -c "import torch, torch.utils; print(';'.join(map(str, [torch.__version__.split('+')[0], \
torch.__version__, torch.utils.cmake_prefix_path, torch.version.cuda, int(torch._C._GLIBCXX_USE_CXX11_ABI)])))"
  OUTPUT_VARIABLE _torch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_VARIABLE _err RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "medvqa: cannot import torch with MEDVQA_PYTHON=${MEDVQA_PYTHON}:\n${_err}\n"
    "Point -DMEDVQA_PYTHON (or the MEDVQA_PYTHON variable of scripts/build.sh) at a Python with torch >= "
    "${MEDVQA_TORCH_MIN}, or run scripts/setup.sh for the project's own.")
endif()
list(GET _torch 0 MEDVQA_TORCH_VERSION)
list(GET _torch 1 _torch_full)
list(GET _torch 2 MEDVQA_TORCH_PREFIX)
list(GET _torch 3 _torch_cuda)
list(GET _torch 4 MEDVQA_TORCH_CXX11_ABI)
if(MEDVQA_TORCH_VERSION VERSION_LESS MEDVQA_TORCH_MIN OR MEDVQA_TORCH_VERSION VERSION_GREATER_EQUAL 3)
  message(FATAL_ERROR "medvqa: refused torch ${_torch_full} of ${MEDVQA_PYTHON}: medvqa needs torch 2.x from "
    "${MEDVQA_TORCH_MIN} on, the oldest LibTorch whose C++ API (c10d process groups, autograd hooks) it is "
    "written against. Install torch>=${MEDVQA_TORCH_MIN},<3 there or point MEDVQA_PYTHON at another Python.")
endif()
find_package(Torch REQUIRED CONFIG PATHS "${MEDVQA_TORCH_PREFIX}/Torch" NO_DEFAULT_PATH)
if(_torch_cuda STREQUAL "None")
  set(_torch_cuda "CPU only")
else()
  set(_torch_cuda "CUDA ${_torch_cuda}")
endif()
message(STATUS "medvqa: LibTorch ${Torch_VERSION} (torch ${_torch_full}, ${_torch_cuda}, "
  "CXX11 ABI ${MEDVQA_TORCH_CXX11_ABI}) from ${Torch_DIR}, chosen by MEDVQA_PYTHON=${MEDVQA_PYTHON}")
get_filename_component(MEDVQA_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
# Some wheels (2.11: built with a toolchain whose std::filesystem lived in a static library) export
# std::filesystem from libtorch.so, and a call that binds there crashes. Naming libstdc++ before
# torch puts it first in every executable's symbol lookup, whatever the wheel exports.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
# libtorch_cuda.so finds NCCL, cuDNN and friends through $ORIGIN RPATHs into the wheel's nvidia/
# packages; GNU ld does not follow those at link time, so name the folders for it.
file(GLOB _nvidia_lib_dirs LIST_DIRECTORIES true "${MEDVQA_TORCH_LIB_DIR}/../../nvidia/*/lib")
foreach(_dir ${_nvidia_lib_dirs})
  get_filename_component(_dir "${_dir}" REALPATH)
  add_link_options("LINKER:-rpath-link,${_dir}")
endforeach()
