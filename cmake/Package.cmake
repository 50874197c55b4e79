# The Debian package (`make package`): install rules for what an installed Cloister needs, and
# CPack's DEB generator. Everything the package holds is in the install component "cloister", so
# llama.cpp's own install rules (headers, tools, CMake files) stay out of it.
#
#   /usr/bin/cloister                      the program (CLI, service, extraction worker)
#   /usr/lib/cloister/                     portable builds: libllama, libggml*, CPU backends
#   /etc/cloister/cloister.conf            configuration (a conffile)
#   /lib/systemd/system/cloister.service   the hardened unit
#   /usr/share/doc/cloister/               README, docs/, examples/ (nginx, unit drop-ins)
#   maintainer scripts (deploy/debian/)    the cloister user, /var/lib/cloister{,/inbox,/models}
#
# Build it portable (-DCLOISTER_PORTABLE=ON, cmake/Llama.cmake): otherwise llama.cpp is compiled
# for the build machine's CPU (-march=native) and may not run on the server.

include(GNUInstallDirs)
set(_deploy "${CMAKE_SOURCE_DIR}/deploy")

install(TARGETS cloister RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cloister)

if(CLOISTER_PORTABLE)
  if(NOT CLOISTER_LLAMA_BACKEND_DIR MATCHES "^/usr/(.+)$")
    message(FATAL_ERROR "CLOISTER_LLAMA_BACKEND_DIR must be under /usr for the package")
  endif()
  set(_libdir "${CMAKE_MATCH_1}")
  set_target_properties(cloister PROPERTIES INSTALL_RPATH "${CLOISTER_LLAMA_BACKEND_DIR}")
  # Headers only satisfy install(): their component is not packaged.
  install(TARGETS llama ggml ggml-base
          LIBRARY DESTINATION ${_libdir} NAMELINK_SKIP COMPONENT cloister
          PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT llama-headers)
  # Every CPU variant but sapphirerapids: it exists to use AMX, which Llama.cmake compiles out
  # (it crashes, see there), so on those CPUs ggml picks zen4/cooperlake, the same AVX-512 code.
  foreach(variant x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake
                  cascadelake icelake cooperlake zen4 alderlake)
    if(TARGET ggml-cpu-${variant})
      install(TARGETS ggml-cpu-${variant} LIBRARY DESTINATION ${_libdir} COMPONENT cloister)
    endif()
  endforeach()
else()
  message(STATUS "package: not portable (-DCLOISTER_PORTABLE=OFF): llama.cpp is tuned to this CPU")
endif()

install(FILES "${_deploy}/cloister.conf" DESTINATION /etc/cloister COMPONENT cloister)
install(FILES "${_deploy}/cloister.service" DESTINATION /lib/systemd/system COMPONENT cloister)
file(GLOB _docs "${CMAKE_SOURCE_DIR}/docs/*.md" "${CMAKE_SOURCE_DIR}/docs/*.json")
install(FILES "${CMAKE_SOURCE_DIR}/README.md" ${_docs}
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT cloister)
install(FILES "${_deploy}/nginx/cloister.conf" DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        RENAME nginx-cloister.conf COMPONENT cloister)
install(FILES "${_deploy}/systemd/intranet.conf" "${_deploy}/systemd/memory.conf"
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT cloister)

# Debian's per-package documents: the changelog (gzipped) and the copyright file, which must
# carry the notices of what the package ships from others: llama.cpp (its libraries, or ggml
# linked in) and FAISS (linked in), both under the Expat (MIT) license.
set(CLOISTER_PACKAGE_MAINTAINER "Cloister maintainers <cloister@localhost>" CACHE STRING
    "the package's Maintainer field: whoever builds and distributes it")
set(_pkgdoc "${CMAKE_BINARY_DIR}/package-doc")
file(MAKE_DIRECTORY "${_pkgdoc}")
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${_pkgdoc}/changelog"
     "cloister (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
     "  * Built from the Cloister source tree; see its git history for changes.\n\n"
     " -- ${CLOISTER_PACKAGE_MAINTAINER}  ${_date}\n")
execute_process(COMMAND gzip -9nf "${_pkgdoc}/changelog")
file(READ "${LLAMA_SOURCE_DIR}/LICENSE" _expat)
string(REGEX REPLACE "^[^\n]*\n+Copyright[^\n]*\n+" "" _expat "${_expat}")  # the text alone
string(STRIP "${_expat}" _expat)
string(REPLACE "\n\n" "\n.\n" _expat "${_expat}")
string(REPLACE "\n" "\n " _expat "${_expat}")
file(WRITE "${_pkgdoc}/copyright"
     "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
     "Upstream-Name: Cloister\n"
     "Comment: Cloister's own license has not been stated yet: state it here before\n"
     " distributing this package.\n\n"
     "Files: *\nCopyright: the Cloister maintainers\nLicense: not-yet-stated\n\n"
     "Files: usr/lib/cloister/*\nCopyright: 2023-2026 The ggml authors (llama.cpp)\nLicense: Expat\n\n"
     "Files: usr/bin/cloister\n"
     "Copyright: the Cloister maintainers; Facebook, Inc. and its affiliates (FAISS, linked in)\n"
     "License: not-yet-stated and Expat\n\n"
     "License: not-yet-stated\n No license has been stated for Cloister itself yet.\n\n"
     "License: Expat\n ${_expat}\n")
install(FILES "${_pkgdoc}/changelog.gz" "${_pkgdoc}/copyright"
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT cloister)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cloister)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${CLOISTER_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "private document knowledge base: search and answers on your own server")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "Cloister ingests an organisation's documents (PDF, mail, office files,\n"
    "text) and answers questions about them with citations, using local GGUF\n"
    "models through llama.cpp. Nothing leaves the server. Models are not\n"
    "included: see /usr/share/doc/cloister/air-gapped.md.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};cloister;cloister;/")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries from dpkg-shlibdeps; what it cannot see: adduser (postinst), tesseract (OCR is a
# program Cloister runs) and its English data, the default OCR language.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(CLOISTER_PORTABLE)
  # llama.cpp's shared libraries, which dpkg-shlibdeps must not look for in another package.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${CMAKE_BINARY_DIR}/bin")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, tesseract-ocr, tesseract-ocr-eng")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_deploy}/debian/postinst" "${_deploy}/debian/prerm" "${_deploy}/debian/postrm"
    "${_deploy}/debian/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
