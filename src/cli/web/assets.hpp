// The files of `nabla serve`'s page (index.html, app.js, style.css in this
// folder), embedded in the binary at build time by cmake/NablaServe.cmake so
// that the command serves them from wherever it is run or installed.
#pragma once

#include <string_view>

namespace nabla::cli::web {

extern const std::string_view index_html;
extern const std::string_view app_js;
extern const std::string_view style_css;

}  // namespace nabla::cli::web
