# medvqa_module(NAME SOURCES a.cpp ... DEPS lib ... [TORCH_PCH]): a static library medvqa_NAME
# The modules of DESIGN.md in dependency order; src/ and tests/ add the folders that exist.
set(MEDVQA_MODULES core config io text vision plot dist models data train eval)
# with the public headers, our warning flags and, for TUs that include <torch/torch.h>, the shared
# precompiled header.
add_library(medvqa_warnings INTERFACE)
target_compile_options(medvqa_warnings INTERFACE -Wall -Wextra)

function(medvqa_module name)
  cmake_parse_arguments(M "TORCH_PCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(medvqa_${name} STATIC ${M_SOURCES})
  target_include_directories(medvqa_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(medvqa_${name} PUBLIC ${M_DEPS} PRIVATE medvqa_warnings)
  if(M_TORCH_PCH)
    target_precompile_headers(medvqa_${name} REUSE_FROM medvqa_torch_pch)
  endif()
endfunction()

# One precompiled <torch/torch.h> shared by every module that uses the full frontend.
add_library(medvqa_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/torch_pch.cpp)
target_link_libraries(medvqa_torch_pch PUBLIC torch PRIVATE medvqa_warnings)
target_precompile_headers(medvqa_torch_pch PRIVATE <torch/torch.h>)
