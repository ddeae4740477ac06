# The C++ libraries: Debian's packages (scripts/setup.sh), or with MEDVQA_DEPS_PREFIX the static
# ones scripts/deps/build.sh builds from pinned archives without root (clusters, the GPU machine).
# Either way the modules link the same targets; only where they come from differs.
set(MEDVQA_DEPS_PREFIX "" CACHE PATH "Prefix of scripts/deps/build.sh; empty: Debian's packages")
find_package(Threads REQUIRED)
if(MEDVQA_DEPS_PREFIX)
  if(NOT EXISTS "${MEDVQA_DEPS_PREFIX}/medvqa-deps.txt")
    message(FATAL_ERROR "medvqa: MEDVQA_DEPS_PREFIX=${MEDVQA_DEPS_PREFIX} holds no medvqa-deps.txt: not a prefix "
      "scripts/deps/build.sh finished; build it with MEDVQA_PYTHON=${MEDVQA_PYTHON} scripts/deps/build.sh")
  endif()
  file(STRINGS "${MEDVQA_DEPS_PREFIX}/medvqa-deps.txt" _stamp LIMIT_COUNT 1)
  string(REGEX MATCH "abi=([01])" _ "${_stamp}")
  if(NOT CMAKE_MATCH_1 STREQUAL MEDVQA_TORCH_CXX11_ABI)
    message(FATAL_ERROR "medvqa: ${MEDVQA_DEPS_PREFIX} was built for CXX11 ABI ${CMAKE_MATCH_1}, torch uses "
      "${MEDVQA_TORCH_CXX11_ABI}: rebuild it with MEDVQA_PYTHON=${MEDVQA_PYTHON} scripts/deps/build.sh")
  endif()
  set(_search PATHS "${MEDVQA_DEPS_PREFIX}" NO_DEFAULT_PATH)
  list(PREPEND CMAKE_PREFIX_PATH "${MEDVQA_DEPS_PREFIX}")
  # What /usr/include is to Debian's packages (the header-only ones, gloo's for src/dist): searched
  # after every other folder, so torch's headers still find the fmt they ship, not the prefix's.
  set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES "${MEDVQA_DEPS_PREFIX}/include")
  set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES "${MEDVQA_DEPS_PREFIX}/include")
  message(STATUS "medvqa: C++ libraries from ${MEDVQA_DEPS_PREFIX} (${_stamp})")
elseif(MEDVQA_TORCH_CXX11_ABI STREQUAL "0")
  message(FATAL_ERROR "medvqa: torch of ${MEDVQA_PYTHON} uses the pre-C++11 std::string ABI, Debian's C++ "
    "packages the new one, so they cannot link together. Build the libraries for that ABI: "
    "MEDVQA_PYTHON=${MEDVQA_PYTHON} scripts/deps/build.sh, then -DMEDVQA_DEPS_PREFIX=$HOME/.cache/medvqa/prefix")
else()
  find_package(PkgConfig REQUIRED)
endif()
find_package(spdlog REQUIRED ${_search})
find_package(yaml-cpp REQUIRED ${_search})
find_package(nlohmann_json REQUIRED ${_search})
find_package(CLI11 CONFIG REQUIRED ${_search})
find_package(OpenCV REQUIRED COMPONENTS core imgcodecs imgproc ${_search})

# medvqa_dep(NAME PKG module LIBS lib...): an interface target medvqa_NAME for a library Debian
# describes by pkg-config (module) and the prefix holds as static libraries (LIBS; none: header-only).
function(medvqa_dep name)
  cmake_parse_arguments(D "" "PKG" "LIBS" ${ARGN})
  add_library(medvqa_${name} INTERFACE)
  if(MEDVQA_DEPS_PREFIX)
    foreach(_lib ${D_LIBS})
      find_library(MEDVQA_${name}_${_lib} ${_lib} PATHS "${MEDVQA_DEPS_PREFIX}/lib" NO_DEFAULT_PATH REQUIRED)
      target_link_libraries(medvqa_${name} INTERFACE ${MEDVQA_${name}_${_lib}})
    endforeach()
    target_link_libraries(medvqa_${name} INTERFACE Threads::Threads)
  else()
    pkg_check_modules(${name} REQUIRED IMPORTED_TARGET ${D_PKG})
    target_link_libraries(medvqa_${name} INTERFACE PkgConfig::${name})
  endif()
endfunction()
medvqa_dep(pcre2 PKG libpcre2-8 LIBS pcre2-8)
medvqa_dep(sentencepiece PKG sentencepiece LIBS sentencepiece_train sentencepiece)  # the tests train tiny models
medvqa_dep(utf8proc PKG libutf8proc LIBS utf8proc)
# cpp-httplib: Debian builds it as a shared library whose header's macros (TLS, compression) must
# match, so they come from its pkg-config file; the prefix has the plain header.
medvqa_dep(httplib PKG cpp-httplib)

add_library(medvqa_gdcm INTERFACE)
if(MEDVQA_DEPS_PREFIX)
  # GDCM's package names the static libraries of its bundled codecs that MSFF needs.
  find_package(GDCM REQUIRED CONFIG PATHS "${MEDVQA_DEPS_PREFIX}/lib" NO_DEFAULT_PATH)
  target_link_libraries(medvqa_gdcm INTERFACE gdcmMSFF)
  target_include_directories(medvqa_gdcm SYSTEM INTERFACE ${GDCM_INCLUDE_DIRS})
else()
  # GDCM's CMake package drags in VTK and tool targets Debian does not ship; link its libraries directly.
  find_path(GDCM_INCLUDE_DIR gdcmImageReader.h PATH_SUFFIXES gdcm-3.0 REQUIRED)
  # gdcmDICT names transfer syntaxes in error messages.
  foreach(_lib gdcmMSFF gdcmDSED gdcmDICT gdcmCommon)
    find_library(GDCM_${_lib} ${_lib} REQUIRED)
    target_link_libraries(medvqa_gdcm INTERFACE ${GDCM_${_lib}})
  endforeach()
  target_include_directories(medvqa_gdcm SYSTEM INTERFACE ${GDCM_INCLUDE_DIR})
endif()
