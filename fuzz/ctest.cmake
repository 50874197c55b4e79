# A short run of every fuzz target in the test suite (make test), included by the top-level
# CMakeLists.txt with the tests. The targets are a clang project of their own (CMakeLists.txt
# here), configured and built in <build>/fuzz by the fixture test fuzz_build, the same tree
# `make fuzz` uses. Each fuzz_<name> test then runs its target from its seeds for
# CLOISTER_FUZZ_SECONDS with a fixed random seed (fuzz/run.sh check): it fails on a crash, a
# sanitizer report, a leak or a broken check. Label: fuzz (ctest -L fuzz runs only these).
set(CLOISTER_FUZZ_SECONDS 15 CACHE STRING "seconds each fuzz target runs in the test suite")
find_program(CLOISTER_CLANGXX clang++-14)
if(NOT CLOISTER_CLANGXX)
  message(WARNING "the fuzz tests are not registered: no clang++-14 (deploy/install-deps.sh installs it)")
else()
  set(fuzz_dir "${CMAKE_BINARY_DIR}/fuzz")
  set(fuzz_run "${CMAKE_CURRENT_LIST_DIR}/run.sh")
  add_test(NAME fuzz_build COMMAND "${fuzz_run}" build "${fuzz_dir}")
  set_tests_properties(fuzz_build PROPERTIES FIXTURES_SETUP fuzz_targets TIMEOUT 1800 LABELS fuzz)
  foreach(target IN ITEMS fuzz_mail fuzz_mbox fuzz_text fuzz_http fuzz_pdf)
    add_test(NAME ${target} COMMAND "${fuzz_run}" check "${fuzz_dir}" ${target}
                                    ${CLOISTER_FUZZ_SECONDS})
    set_tests_properties(${target} PROPERTIES FIXTURES_REQUIRED fuzz_targets TIMEOUT 600
                         LABELS fuzz ENVIRONMENT "CLOISTER_SHARED_DIR=${CLOISTER_SHARED_DIR}")
  endforeach()
endif()
