# `nabla serve` (src/cli/serve.cpp): the HTTP server is Debian's cpp-httplib
# (libcpp-httplib-dev: a header and a shared library, found by pkg-config);
# KaTeX is Debian's libjs-katex, served by the command from its folder; the
# page's own files (src/cli/web/) are embedded in the binary. Without
# cpp-httplib the command is built without the server, and `nabla serve`
# says so.
pkg_check_modules(HTTPLIB IMPORTED_TARGET cpp-httplib)
find_path(NABLA_KATEX_DIR katex.min.js PATHS /usr/share/javascript/katex NO_DEFAULT_PATH
  DOC "KaTeX's folder (katex.min.js, katex.min.css, fonts/), served by nabla serve")
if(NOT NABLA_KATEX_DIR)
  set(NABLA_KATEX_DIR /usr/share/javascript/katex)
endif()

set(NABLA_WEB_FILES
  ${PROJECT_SOURCE_DIR}/src/cli/web/index.html
  ${PROJECT_SOURCE_DIR}/src/cli/web/app.js
  ${PROJECT_SOURCE_DIR}/src/cli/web/style.css)
set(NABLA_WEB_CPP ${PROJECT_BINARY_DIR}/generated/web_assets.cpp)
string(REPLACE ";" "|" NABLA_WEB_FILE_ARG "${NABLA_WEB_FILES}")
add_custom_command(OUTPUT ${NABLA_WEB_CPP}
  COMMAND ${CMAKE_COMMAND} -DOUT=${NABLA_WEB_CPP} "-DFILES=${NABLA_WEB_FILE_ARG}"
    -P ${PROJECT_SOURCE_DIR}/cmake/NablaEmbed.cmake
  DEPENDS ${NABLA_WEB_FILES} ${PROJECT_SOURCE_DIR}/cmake/NablaEmbed.cmake
  COMMENT "Embedding the web page of nabla serve" VERBATIM)
target_sources(nabla_cli PRIVATE ${NABLA_WEB_CPP})
target_compile_definitions(nabla_cli PRIVATE NABLA_KATEX_DIR="${NABLA_KATEX_DIR}")
if(HTTPLIB_FOUND)
  target_link_libraries(nabla_cli PRIVATE PkgConfig::HTTPLIB)
  target_compile_definitions(nabla_cli PRIVATE NABLA_HAVE_HTTPLIB=1)
else()
  message(STATUS "cpp-httplib not found (libcpp-httplib-dev): nabla is built without `nabla serve`")
  target_compile_definitions(nabla_cli PRIVATE NABLA_HAVE_HTTPLIB=0)
endif()
