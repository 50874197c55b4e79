# cloister_module(NAME SOURCES ... [DEPENDS module...] [PRIVATE_LIBS target...])
#
# One static library per module, cloister_<name> with the alias cloister::<name>. Its public
# headers are <name>/include/cloister/<name>/. A module sees another module's headers only
# through DEPENDS, so including a header of a module it does not depend on fails to compile:
# that is how the build enforces DESIGN.md's graph. Only core is re-exported (PUBLIC); other
# module dependencies are PRIVATE, so app's users (web) do not see the leaves behind it.
# Third-party libraries are always PRIVATE and never appear in a public header.
function(cloister_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PRIVATE_LIBS" ${ARGN})
  add_library(cloister_${name} STATIC ${ARG_SOURCES})
  add_library(cloister::${name} ALIAS cloister_${name})
  target_include_directories(cloister_${name}
    PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/include"
    PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/src")
  target_compile_options(cloister_${name} PRIVATE -Wall -Wextra -Wpedantic)
  foreach(dep IN LISTS ARG_DEPENDS)
    if(dep STREQUAL "core")
      target_link_libraries(cloister_${name} PUBLIC cloister::core)
    else()
      target_link_libraries(cloister_${name} PRIVATE cloister::${dep})
    endif()
  endforeach()
  if(ARG_PRIVATE_LIBS)
    target_link_libraries(cloister_${name} PRIVATE ${ARG_PRIVATE_LIBS})
  endif()
  set_property(GLOBAL APPEND PROPERTY CLOISTER_MODULES ${name})
  set_property(GLOBAL PROPERTY CLOISTER_MODULE_DEPS_${name} ${ARG_DEPENDS})
endfunction()
