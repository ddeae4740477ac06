# medvqa_module(NAME SOURCES a.cpp ... DEPS lib ... [TORCH_PCH]): a static library medvqa_NAME
# with its public headers, our warning flags and, for TUs that include <torch/torch.h>, the shared
# precompiled header.
# The modules of DESIGN.md in dependency order; src/ and tests/ add the folders that exist.
set(MEDVQA_MODULES core config io text vision plot dist models data run train eval serve)
add_library(medvqa_warnings INTERFACE)
target_compile_options(medvqa_warnings INTERFACE -Wall -Wextra)

# A module sees only its own headers and those of the modules it depends on: each gets an include
# root in the build tree holding one link, medvqa/<name> -> include/medvqa/<name>, and passes it on
# to whoever links it. An include of a module outside the DEPS fails to compile.
function(medvqa_include_root name out)
  set(root ${CMAKE_BINARY_DIR}/include/${name})
  file(MAKE_DIRECTORY ${root}/medvqa)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/medvqa/${name} ${root}/medvqa/${name} SYMBOLIC)
  set(${out} ${root} PARENT_SCOPE)
endfunction()

function(medvqa_module name)
  cmake_parse_arguments(M "TORCH_PCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(medvqa_${name} STATIC ${M_SOURCES})
  medvqa_include_root(${name} root)
  target_include_directories(medvqa_${name} PUBLIC ${root})
  target_link_libraries(medvqa_${name} PUBLIC ${M_DEPS} PRIVATE medvqa_warnings)
  if(M_TORCH_PCH)
    target_precompile_headers(medvqa_${name} REUSE_FROM medvqa_torch_pch)
  endif()
endfunction()

# One precompiled <torch/torch.h> shared by every module that uses the full frontend.
add_library(medvqa_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/torch_pch.cpp)
target_link_libraries(medvqa_torch_pch PUBLIC torch PRIVATE medvqa_warnings)
target_precompile_headers(medvqa_torch_pch PRIVATE <torch/torch.h>)
