# ctest driver for the consumer test (cmake -P):
#   installs the nabla build tree BUILD_DIR into WORK_DIR/prefix, then
#   configures, builds and runs tests/consumer against that prefix, and runs
#   the installed `nabla --help` to check the command finds its library.
# Variables: BUILD_DIR, SOURCE_DIR (tests/consumer), WORK_DIR, CONFIG,
# CXX_COMPILER, CXX_FLAGS, LINKER_FLAGS (optional extra flags for the outside project).
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: ${v} is not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")
foreach(f include/nabla/nabla.hpp bin/nabla)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "consumer test: ${f} was not installed")
  endif()
endforeach()
file(GLOB cfg "${prefix}/lib*/cmake/nabla/nablaConfig.cmake")
if(NOT cfg)
  message(FATAL_ERROR "consumer test: nablaConfig.cmake was not installed")
endif()

run("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
run("build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("run consumer" "${WORK_DIR}/build/consumer")
run("run installed nabla --help" "${prefix}/bin/nabla" --help)

# The README's C++ blocks (README, PYTHON set): each compiled against the
# installed package with no C++ standard asked for (nabla::nabla must bring
# C++20 itself) and run, so the README cannot drift from the library.
if(README AND PYTHON)
  run("extract the README's C++ blocks" "${PYTHON}" "${SOURCE_DIR}/readme_blocks.py" "${README}"
      "${WORK_DIR}/readme")
  run("configure the README's programs" ${CMAKE_COMMAND} -S "${WORK_DIR}/readme" -B "${WORK_DIR}/readme/build"
      "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
      "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
      "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
  run("build the README's programs" ${CMAKE_COMMAND} --build "${WORK_DIR}/readme/build")
  file(STRINGS "${WORK_DIR}/readme/programs.txt" programs)
  foreach(p IN LISTS programs)
    string(REPLACE " " ";" p "${p}")
    list(GET p 0 name)
    list(GET p 1 line)
    run("the README's C++ block at line ${line}" "${WORK_DIR}/readme/build/${name}")
  endforeach()
endif()
