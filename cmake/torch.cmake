# LibTorch from the torch wheel in the project's virtualenv, never from the system: Debian's
# libtorch-dev (1.13) would silently mismatch, so the search is pinned to the wheel's prefix.
set(MEDVQA_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python of the venv holding torch")
if(NOT MEDVQA_TORCH_PREFIX)
  execute_process(
    COMMAND "${MEDVQA_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "medvqa: cannot import torch with ${MEDVQA_PYTHON}; run scripts/setup.sh first")
  endif()
  set(MEDVQA_TORCH_PREFIX "${_prefix}" CACHE PATH "torch.utils.cmake_prefix_path of the pinned wheel")
endif()
find_package(Torch REQUIRED CONFIG PATHS "${MEDVQA_TORCH_PREFIX}/Torch" NO_DEFAULT_PATH)
if(Torch_VERSION VERSION_LESS 2.0)
  message(FATAL_ERROR "medvqa: LibTorch 2.x required, found ${Torch_VERSION} in ${Torch_DIR}")
endif()
message(STATUS "medvqa: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
get_filename_component(MEDVQA_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
# libtorch_cuda.so finds NCCL, cuDNN and friends through $ORIGIN RPATHs into the wheel's nvidia/
# packages; GNU ld does not follow those at link time, so name the folders for it.
file(GLOB _nvidia_lib_dirs LIST_DIRECTORIES true "${MEDVQA_TORCH_LIB_DIR}/../../nvidia/*/lib")
foreach(_dir ${_nvidia_lib_dirs})
  get_filename_component(_dir "${_dir}" REALPATH)
  add_link_options("LINKER:-rpath-link,${_dir}")
endforeach()
