# The C++ libraries from Debian's packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgcodecs imgproc)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
# cpp-httplib as Debian builds it: a shared library whose header's macros (TLS, compression) must
# match, so they come from its pkg-config file.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# GDCM's CMake package drags in VTK and tool targets Debian does not ship; link its libraries directly.
find_path(GDCM_INCLUDE_DIR gdcmImageReader.h PATH_SUFFIXES gdcm-3.0 REQUIRED)
# gdcmDICT names transfer syntaxes in error messages.
foreach(_lib gdcmMSFF gdcmDSED gdcmDICT gdcmCommon)
  find_library(GDCM_${_lib} ${_lib} REQUIRED)
  list(APPEND GDCM_LIBRARIES ${GDCM_${_lib}})
endforeach()
add_library(medvqa_gdcm INTERFACE)
target_include_directories(medvqa_gdcm SYSTEM INTERFACE ${GDCM_INCLUDE_DIR})
target_link_libraries(medvqa_gdcm INTERFACE ${GDCM_LIBRARIES})
