# Fuzz targets: libFuzzer entry points (LLVMFuzzerTestOneInput) that are also
# ordinary ctest tests.
#
#   nabla_add_fuzz_target(<name> SOURCES <files...> [CORPUS <dir>] [RUNS <n>])
#
# With Clang the target links libFuzzer (-fsanitize=fuzzer) and its test runs
# `-runs=<n> -seed=1` over a copy of the corpus; run it by hand without -runs
# to fuzz for real. With GCC (which has no libFuzzer) the target links
# cmake/fuzz_driver.cpp, a replay driver taking the same arguments: it runs
# every corpus file, then <n> seeded mutations of them. Either way the test is
# deterministic and bounded, and in the asan tree it runs under ASan + UBSan.
set(NABLA_FUZZ_DRIVER "${CMAKE_CURRENT_LIST_DIR}/fuzz_driver.cpp")

function(nabla_add_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;RUNS" "SOURCES" ${ARGN})
  if(NOT F_SOURCES)
    message(FATAL_ERROR "nabla_add_fuzz_target(${name}): SOURCES is required")
  endif()
  if(NOT F_RUNS)
    set(F_RUNS 2000)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_executable(${name} ${F_SOURCES})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${F_SOURCES} ${NABLA_FUZZ_DRIVER})
  endif()
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE nabla)
  # libFuzzer writes new inputs into its first corpus directory: give it a
  # scratch one in the build tree so the checked-in corpus stays untouched.
  set(scratch "${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus")
  file(MAKE_DIRECTORY "${scratch}")
  set(args -runs=${F_RUNS} -seed=1 -max_len=4096 "${scratch}")
  if(F_CORPUS)
    list(APPEND args "${F_CORPUS}")
  endif()
  add_test(NAME fuzz.${name} COMMAND ${name} ${args})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
