# Obtains llama.cpp as DESIGN.md fixes it and adds it to the build.
#
# Debian 12 does not package llama.cpp and only Debian's and npm's registries are reachable,
# so the source comes from the npm package node-llama-cpp, which ships upstream llama.cpp as a
# git bundle. The tarball's SHA-256 is checked before anything is unpacked; the clone lives in a
# cache outside the source and build trees so that a fresh build directory does not fetch again.
#
# CLOISTER_LLAMA_SOURCE_DIR: an already unpacked llama.cpp tree (air-gapped builds); no fetch.
# CLOISTER_LLAMA_CACHE_DIR:  where fetched sources are kept (default ~/.cache/cloister).

set(CLOISTER_LLAMA_NPM_PACKAGE "node-llama-cpp@3.22.1" CACHE STRING "npm package that carries llama.cpp")
set(CLOISTER_LLAMA_SHA256 "a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"
    CACHE STRING "expected SHA-256 of the npm tarball")
set(CLOISTER_LLAMA_SOURCE_DIR "" CACHE PATH "use this unpacked llama.cpp tree instead of fetching")
if(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
  set(_cloister_cache_default "$ENV{XDG_CACHE_HOME}/cloister")
else()
  set(_cloister_cache_default "$ENV{HOME}/.cache/cloister")
endif()
set(CLOISTER_LLAMA_CACHE_DIR "${_cloister_cache_default}" CACHE PATH "cache for fetched llama.cpp sources")

function(cloister_fetch_llama out_dir)
  string(SUBSTRING "${CLOISTER_LLAMA_SHA256}" 0 16 short_sha)
  set(root "${CLOISTER_LLAMA_CACHE_DIR}/llama.cpp-${short_sha}")
  set(src "${root}/src")
  if(EXISTS "${src}/include/llama.h" AND EXISTS "${root}/.complete")
    set(${out_dir} "${src}" PARENT_SCOPE)
    return()
  endif()

  find_program(NPM_EXECUTABLE npm)
  find_program(GIT_EXECUTABLE git)
  if(NOT NPM_EXECUTABLE OR NOT GIT_EXECUTABLE)
    message(FATAL_ERROR "Fetching llama.cpp needs npm and git (run deploy/install-deps.sh), "
                        "or set -DCLOISTER_LLAMA_SOURCE_DIR=/path/to/llama.cpp for an offline build.")
  endif()

  set(work "${root}.tmp")
  file(REMOVE_RECURSE "${work}")
  file(MAKE_DIRECTORY "${work}")
  message(STATUS "llama.cpp: npm pack ${CLOISTER_LLAMA_NPM_PACKAGE} into ${work}")
  execute_process(COMMAND "${NPM_EXECUTABLE}" pack "${CLOISTER_LLAMA_NPM_PACKAGE}" --silent
                  WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc OUTPUT_VARIABLE packed
                  ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm pack ${CLOISTER_LLAMA_NPM_PACKAGE} failed (${rc}): ${err}\n"
                        "Offline? Set -DCLOISTER_LLAMA_SOURCE_DIR=/path/to/llama.cpp.")
  endif()
  file(GLOB tarball "${work}/*.tgz")
  file(SHA256 "${tarball}" actual)
  if(NOT actual STREQUAL CLOISTER_LLAMA_SHA256)
    file(REMOVE_RECURSE "${work}")
    message(FATAL_ERROR "llama.cpp source checksum mismatch for ${CLOISTER_LLAMA_NPM_PACKAGE}:\n"
                        "  expected ${CLOISTER_LLAMA_SHA256}\n  got      ${actual}\n"
                        "The package is not the one Cloister was built and tested with; refusing to build it.")
  endif()
  execute_process(COMMAND tar -xzf "${tarball}" package/llama/gitRelease.bundle
                  WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not unpack the llama.cpp git bundle from ${tarball}: ${err}")
  endif()
  execute_process(COMMAND "${GIT_EXECUTABLE}" -c advice.detachedHead=false clone --quiet
                          "${work}/package/llama/gitRelease.bundle" "${work}/src"
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "git clone of the llama.cpp bundle failed: ${err}")
  endif()
  file(REMOVE_RECURSE "${root}")
  file(MAKE_DIRECTORY "${root}")
  file(RENAME "${work}/src" "${src}")
  file(REMOVE_RECURSE "${work}")
  file(WRITE "${root}/.complete" "${CLOISTER_LLAMA_NPM_PACKAGE} ${CLOISTER_LLAMA_SHA256}\n")
  set(${out_dir} "${src}" PARENT_SCOPE)
endfunction()

if(CLOISTER_LLAMA_SOURCE_DIR)
  if(NOT EXISTS "${CLOISTER_LLAMA_SOURCE_DIR}/include/llama.h")
    message(FATAL_ERROR "CLOISTER_LLAMA_SOURCE_DIR=${CLOISTER_LLAMA_SOURCE_DIR} is not a llama.cpp tree "
                        "(no include/llama.h)")
  endif()
  set(LLAMA_SOURCE_DIR "${CLOISTER_LLAMA_SOURCE_DIR}")
else()
  cloister_fetch_llama(LLAMA_SOURCE_DIR)
endif()
message(STATUS "llama.cpp: ${LLAMA_SOURCE_DIR}")

# Reference tools: llama.cpp's own llama-embedding, llama-bench and llama-server, built from the
# same source, are what the benchmarks measure us against. Turning this on only defines their
# targets: llama.cpp is added EXCLUDE_FROM_ALL, so they (and llama-common, which they need) are
# compiled only when a target that depends on them is built, e.g. `--target bench_embed`.
option(CLOISTER_LLAMA_REFERENCE_TOOLS
       "define llama.cpp's llama-embedding, llama-bench and llama-server targets (built on demand)"
       ${CLOISTER_BUILD_BENCH})
if(CLOISTER_LLAMA_REFERENCE_TOOLS)
  set(_cloister_llama_tools ON)
else()
  set(_cloister_llama_tools OFF)
endif()

# Static, no network client, nothing but the libraries (DESIGN.md: no egress, no curl).
set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_CURL OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_BORINGSSL OFF CACHE BOOL "" FORCE)  # both would be fetched from the network
set(LLAMA_BUILD_LIBRESSL OFF CACHE BOOL "" FORCE)
set(LLAMA_LLGUIDANCE OFF CACHE BOOL "" FORCE)       # an ExternalProject cloned from GitHub
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)      # their tests download models
set(LLAMA_BUILD_EXAMPLES ${_cloister_llama_tools} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER ${_cloister_llama_tools} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS ${_cloister_llama_tools} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ${_cloister_llama_tools} CACHE BOOL "" FORCE)
set(LLAMA_TOOLS_INSTALL OFF CACHE BOOL "" FORCE)
# llama-server embeds a web UI that its build would otherwise download from Hugging Face
# (LLAMA_USE_PREBUILT_UI) or build with npm (LLAMA_BUILD_UI): neither, it is served without one.
set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
set(GGML_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(GGML_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(GGML_OPENMP ON CACHE BOOL "" FORCE)
set(GGML_CCACHE OFF CACHE BOOL "" FORCE)

# Portable builds (the Debian package, cmake/Package.cmake): nothing tuned to the build machine.
# ggml then builds one CPU backend per x86-64 level (x64, sse42, ..., haswell, skylakex, icelake,
# zen4, ...) as loadable modules and, at start-up, loads the best one the CPU supports. That
# needs ggml as shared libraries (GGML_BACKEND_DL requires BUILD_SHARED_LIBS), for llama.cpp only:
# Cloister's own modules stay static. The libraries live in CLOISTER_LLAMA_BACKEND_DIR.
option(CLOISTER_PORTABLE "build for any x86-64 CPU: llama.cpp's CPU variants chosen at run time" OFF)
set(CLOISTER_LLAMA_BACKEND_DIR "/usr/lib/cloister" CACHE PATH
    "portable builds: where the installed llama.cpp libraries and CPU backends are")
if(CLOISTER_PORTABLE)
  set(GGML_NATIVE OFF CACHE BOOL "" FORCE)
  set(GGML_BACKEND_DL ON CACHE BOOL "" FORCE)
  set(GGML_CPU_ALL_VARIANTS ON CACHE BOOL "" FORCE)
  set(GGML_BACKEND_DIR "${CLOISTER_LLAMA_BACKEND_DIR}" CACHE PATH "" FORCE)
  set(BUILD_SHARED_LIBS ON)  # a normal variable over the cache's OFF, for llama.cpp's tree only
  set(CMAKE_INSTALL_RPATH "${CLOISTER_LLAMA_BACKEND_DIR}")
endif()
add_subdirectory("${LLAMA_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/_deps/llama.cpp" EXCLUDE_FROM_ALL SYSTEM)
unset(BUILD_SHARED_LIBS)

# No Intel AMX kernels: on Sapphire Rapids and later Xeons, which -march=native enables them on,
# ggml_backend_amx_mul_mat crashes with a segmentation fault on ordinary inputs (a bge-small-
# shaped Q8_0 model embedding a 13-token query, in llama.cpp's own llama-embedding too; upstream
# ggml-org/llama.cpp#20824, open). Without them ggml uses its AVX-512 VNNI kernels.
# Portable builds have one CPU backend per variant (ggml-cpu-<name>); the flags go on each, after
# the variant's own (the sapphirerapids one asks for -mamx-tile -mamx-int8), so they win.
set(_cloister_cpu_targets ggml-cpu)
foreach(variant x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake cascadelake
                icelake cooperlake zen4 alderlake sapphirerapids)
  list(APPEND _cloister_cpu_targets ggml-cpu-${variant})
endforeach()
foreach(cpu_target IN LISTS _cloister_cpu_targets)
  if(TARGET ${cpu_target} AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND
     CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    target_compile_options(${cpu_target} PRIVATE -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
  endif()
endforeach()

# The BERT tokenizer vocabulary the test fixtures build their embedding model from.
set(CLOISTER_LLAMA_VOCAB_DIR "${LLAMA_SOURCE_DIR}/models" CACHE INTERNAL "")
