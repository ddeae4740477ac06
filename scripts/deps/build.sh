#!/usr/bin/env bash
# Builds the C++ dependencies of scripts/deps/sources.txt from their archives into a prefix
# (default $MEDVQA_CACHE/prefix), without root: static libraries, position-independent, with the
# std::string ABI of the torch that MEDVQA_PYTHON imports. Configure medvqa with
# -DMEDVQA_DEPS_PREFIX=<prefix>. Only what medvqa uses is built: OpenCV core/imgproc/imgcodecs
# (PNG, JPEG, TIFF, BMP, PNM), GDCM without applications, no GUI, video or GDAL.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib.sh"
prefix=${1:-$MEDVQA_CACHE/prefix}
python=${MEDVQA_PYTHON:-$root/.venv/bin/python}
sources=$MEDVQA_CACHE/sources
jobs=${MEDVQA_JOBS:-$(nproc)}
ensure_build_tools
deps_verify "$sources"
abi=$("$python" -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
# The prefix is current while the archives, this script, the compiler and the ABI are the same.
stamp="abi=$abi recipe=$(cat "$root/scripts/deps/sources.txt" "$root/scripts/deps/build.sh" | sha256sum | cut -c1-16) compiler=$(c++ -dumpfullversion)"
if [ "$(cat "$prefix/medvqa-deps.txt" 2>/dev/null)" = "$stamp" ]; then echo "deps: $prefix is up to date ($stamp)"; exit 0; fi
rm -rf "$prefix"; mkdir -p "$prefix"
work=$(mktemp -d "${TMPDIR:-/tmp}/medvqa-deps.XXXXXX"); trap 'rm -rf "$work"' EXIT

unpack() {  # unpack NAME -> prints the source folder
  mkdir -p "$work/$1" && tar -xf "$sources/$(deps_archive "$1")" -C "$work/$1" --strip-components=1 && echo "$work/$1"
}
cmake_install() {  # cmake_install NAME [cmake args...]; a function NAME_patches, if defined, patches the source first
  local name=$1; shift
  stage_begin "deps: $name"
  local src; src=$(unpack "$name")
  if declare -F "${name}_patches" >/dev/null; then "${name}_patches" "$src" || { echo "deps: $name: a patch failed"; exit 1; }; fi
  cmake -S "$src" -B "$work/$name-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=$abi" -DCMAKE_POLICY_DEFAULT_CMP0074=NEW "$@" >"$work/$name.log" 2>&1 \
    && cmake --build "$work/$name-build" -j "$jobs" >>"$work/$name.log" 2>&1 \
    && cmake --install "$work/$name-build" >>"$work/$name.log" 2>&1 \
    || { grep -A8 "CMake Error" "$work/$name.log" | head -60; tail -30 "$work/$name.log"; echo "deps: $name failed (log above)"; exit 1; }
  stage_end
}

# Image codecs for OpenCV: static, nothing optional, so no system library can slip in. OpenCV's
# kernels for AVX2 beside the SSE3 baseline, not for every ISA (the bundle's 60 MiB).
stage_begin "deps: zlib"  # its own configure: Debian's archive lacks the win32/ files its CMake build lists
src=$(unpack zlib)
(cd "$src" && CFLAGS="-O2 -fPIC" ./configure --static --prefix="$prefix" && make -j "$jobs" && make install) >"$work/zlib.log" 2>&1 \
  || { tail -40 "$work/zlib.log"; echo "deps: zlib failed (log above)"; exit 1; }
stage_end
cmake_install libpng -DPNG_SHARED=OFF -DPNG_TESTS=OFF -DPNG_EXECUTABLES=OFF -DZLIB_ROOT="$prefix"
# (its own GNUInstallDirs takes a relative libdir as relative to the prefix's parent)
cmake_install libjpeg-turbo -DCMAKE_INSTALL_LIBDIR="$prefix/lib" -DENABLE_SHARED=OFF -DWITH_SIMD=OFF -DWITH_TURBOJPEG=OFF
cmake_install tiff -Dtiff-tools=OFF -Dtiff-tests=OFF -Dtiff-contrib=OFF -Dtiff-docs=OFF -Dcxx=OFF -Djbig=OFF \
  -Dlerc=OFF -Dlzma=OFF -Dzstd=OFF -Dwebp=OFF -Dlibdeflate=OFF -Djpeg12=OFF
cmake_install opencv -DBUILD_LIST=core,imgproc,imgcodecs -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF \
  -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_DOCS=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF \
  -DBUILD_ZLIB=OFF -DBUILD_PNG=OFF -DBUILD_JPEG=OFF -DBUILD_TIFF=OFF -DWITH_IPP=OFF -DWITH_ITT=OFF \
  -DWITH_OPENCL=OFF -DWITH_CUDA=OFF -DWITH_EIGEN=OFF -DWITH_LAPACK=OFF -DWITH_TBB=OFF -DWITH_OPENMP=OFF \
  -DWITH_OPENEXR=OFF -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF \
  -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_VTK=OFF \
  -DWITH_PROTOBUF=OFF -DWITH_ADE=OFF -DWITH_QUIRC=OFF -DWITH_1394=OFF -DWITH_VA=OFF -DWITH_CAROTENE=OFF \
  -DWITH_IMGCODEC_HDR=ON -DWITH_IMGCODEC_SUNRASTER=ON -DWITH_IMGCODEC_PXM=ON -DWITH_IMGCODEC_PFM=ON \
  -DOPENCV_GENERATE_PKGCONFIG=OFF -DENABLE_PRECOMPILED_HEADERS=OFF -DCV_TRACE=OFF -DCPU_DISPATCH=AVX2
# GDCM with its own bundled codecs (JPEG, JPEG-LS, JPEG 2000, expat), libraries only; the zlib above
# (its bundled copy has the same symbol names).
cmake_install gdcm -DGDCM_USE_SYSTEM_ZLIB=ON -DZLIB_ROOT="$prefix" -DGDCM_BUILD_SHARED_LIBS=OFF -DGDCM_BUILD_APPLICATIONS=OFF -DGDCM_BUILD_TESTING=OFF \
  -DGDCM_BUILD_EXAMPLES=OFF -DGDCM_BUILD_DOCBOOK_MANPAGES=OFF -DGDCM_DOCUMENTATION=OFF -DGDCM_USE_VTK=OFF \
  -DGDCM_WRAP_PYTHON=OFF -DGDCM_WRAP_CSHARP=OFF -DGDCM_WRAP_JAVA=OFF
cmake_install pcre2 -DPCRE2_BUILD_PCRE2_8=ON -DPCRE2_BUILD_PCRE2_16=OFF -DPCRE2_BUILD_PCRE2_32=OFF -DPCRE2_SUPPORT_JIT=ON \
  -DPCRE2_BUILD_PCRE2GREP=OFF -DPCRE2_BUILD_TESTS=OFF -DPCRE2_SUPPORT_LIBBZ2=OFF -DPCRE2_SUPPORT_LIBZ=OFF \
  -DPCRE2_SUPPORT_LIBEDIT=OFF -DPCRE2_SUPPORT_LIBREADLINE=OFF
cmake_install utf8proc -DUTF8PROC_ENABLE_TESTING=OFF
# sentencepiece with Debian's patches (the API medvqa is written against: std::string_view), but the
# one that drops the static library; it compiles its bundled protobuf-lite into the library.
tar -xf "$sources/$(deps_archive sentencepiece-debian)" -C "$work"
sentencepiece_patches() {
  local p; for p in $(grep -v -e '^#' -e disable-static-library "$work/debian/patches/series"); do
    patch -d "$1" -p1 -s < "$work/debian/patches/$p" || return 1
  done
}
cmake_install sentencepiece -DSPM_ENABLE_SHARED=OFF -DSPM_USE_BUILTIN_PROTOBUF=ON -DSPM_ENABLE_TCMALLOC=OFF
cmake_install yaml-cpp -DYAML_CPP_BUILD_TESTS=OFF -DYAML_CPP_BUILD_TOOLS=OFF -DYAML_CPP_BUILD_CONTRIB=OFF
cmake_install fmt -DFMT_DOC=OFF -DFMT_TEST=OFF
cmake_install spdlog -DSPDLOG_FMT_EXTERNAL=ON -DSPDLOG_BUILD_EXAMPLE=OFF -DSPDLOG_BUILD_TESTS=OFF
cmake_install googletest -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON
# Header-only.
cmake_install nlohmann-json -DJSON_BuildTests=OFF -DJSON_Install=ON
cmake_install cli11 -DCLI11_BUILD_TESTS=OFF -DCLI11_BUILD_EXAMPLES=OFF -DCLI11_BUILD_DOCS=OFF
cmake_install cpp-httplib -DHTTPLIB_COMPILE=OFF -DHTTPLIB_USE_OPENSSL_IF_AVAILABLE=OFF \
  -DHTTPLIB_USE_ZLIB_IF_AVAILABLE=OFF -DHTTPLIB_USE_BROTLI_IF_AVAILABLE=OFF
# gloo: the headers c10d's ProcessGroupGloo.hpp includes (declarations only, never linked).
stage_begin "deps: gloo headers"
mkdir -p "$work/gloo" && (cd "$work/gloo" && ar x "$sources/$(deps_archive gloo)" \
  && tar -xf data.tar.* ./usr/include/gloo && cp -r usr/include/gloo "$prefix/include/")
stage_end
# What medvqa never uses: the libraries' tools and manuals, OpenCV's cascade data, GDCM's XML IOD
# tables (validation only), PCRE2's POSIX wrapper.
rm -rf "$prefix"/{bin,man,share/doc,share/man,share/opencv4,share/gdcm-3.0} "$prefix"/lib/libpcre2-posix.a
echo "$prefix" > "$prefix/medvqa-prefix"  # scripts/lib.sh deps_relocate
echo "$stamp" > "$prefix/medvqa-deps.txt"
echo "deps: $prefix ($(du -sh "$prefix" | cut -f1), $stamp)"
