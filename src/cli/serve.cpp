// nabla serve: a web page over `nabla diff`. The page (src/cli/web/, embedded
// in the binary) sends POST /api/diff; the answer is the document `nabla diff
// --format json` prints, with the steps, the check and the typeset forms.
//
// Note [Bounded derivations]: a request only ever reaches nabla::sym's parser
// (parse_declarations, parse, differentiate, check); nothing in it is run as
// code. Deriving is bounded three ways: the body (64 KiB), the expression and
// declarations (kMaxExprChars each) and the variables (kMaxWrt) are limited
// before any work; each derivation runs in a child process (`nabla serve
// --worker`, the request on its stdin, the answer on its stdout) under a CPU
// and an address-space limit, killed when the wall-clock deadline passes; and
// at most kMaxWorkers run at once. A derivation that blows up, loops or
// crashes costs one child, never the server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <semaphore>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "diff_output.hpp"
#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "web/assets.hpp"

#if NABLA_HAVE_HTTPLIB
#include <httplib.h>
#endif

namespace nabla::cli {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxBodyBytes = 64 * 1024;
constexpr size_t kMaxExprChars = 2000;  // the expression, and the declarations
constexpr size_t kMaxWrt = 8;
constexpr int kDeadlineSeconds = 10;    // wall clock, per request
constexpr rlim_t kWorkerCpuSeconds = 10;
constexpr rlim_t kWorkerMemoryBytes = rlim_t{2} << 30;
constexpr int kMaxWorkers = 2;

// What the page may ask: one derivation.
struct DiffRequest {
  std::string expr, let;
  std::vector<std::string> wrt;
  std::string layout = "auto";
  int order = 1;
  bool check = true;
  bool steps = true;
  uint64_t seed = 0;
  std::string emit;  // "", cpp, numpy or torch: the generated code
};

// An answer that is not a derivative: HTTP status, one line, and where in
// which field (the column is 1-based, 0 when unknown).
struct ApiError {
  int status = 400;
  std::string message;
  std::string field;
  int column = 0;
};

std::string error_json(const ApiError& e) {
  json j = {{"error", e.message}, {"column", e.column ? json(e.column) : json(nullptr)}};
  if (!e.field.empty()) j["field"] = e.field;
  return j.dump();
}

// "col 6: unknown variable 'y'" → 6; 0 when the message names no column.
int column_of(const std::string& msg) {
  if (msg.rfind("col ", 0) != 0) return 0;
  int col = 0;
  for (size_t i = 4; i < msg.size() && msg[i] >= '0' && msg[i] <= '9' && col < 1000000; ++i)
    col = col * 10 + (msg[i] - '0');
  return col;
}

// Reads and checks a request body; throws ApiError naming the first problem.
DiffRequest parse_request(const std::string& body) {
  auto bad = [](const std::string& field, const std::string& msg) { return ApiError{400, msg, field, 0}; };
  if (body.size() > kMaxBodyBytes)
    throw bad("", "the request is larger than " + std::to_string(kMaxBodyBytes) + " bytes");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw bad("", "the request is not JSON");
  if (!j.is_object()) throw bad("", "the request must be a JSON object {\"expr\": …, \"let\": …, \"wrt\": …}");
  DiffRequest r;
  auto text = [&](const char* key, std::string& out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw bad(key, std::string("'") + key + "' is required");
      return;
    }
    if (!it->is_string()) throw bad(key, std::string("'") + key + "' must be a string");
    out = it->get<std::string>();
    if (out.size() > kMaxExprChars)
      throw bad(key, std::string("'") + key + "' is longer than " + std::to_string(kMaxExprChars) + " characters");
    for (unsigned char c : out)
      if (c < 0x20 && c != '\t' && c != '\n') throw bad(key, std::string("'") + key + "' holds a control character");
  };
  auto flag = [&](const char* key, bool& out) {
    auto it = j.find(key);
    if (it == j.end()) return;
    if (!it->is_boolean()) throw bad(key, std::string("'") + key + "' must be true or false");
    out = it->get<bool>();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const char* known[] = {"expr", "let", "wrt", "layout", "order", "check", "steps", "seed", "emit"};
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return it.key() == k; }) ==
        std::end(known))
      throw bad(it.key(), "unknown field '" + it.key().substr(0, 40) +
                              "' (expr, let, wrt, layout, order, check, steps, seed, emit)");
  }
  text("expr", r.expr, true);
  text("let", r.let, false);
  text("layout", r.layout, false);
  if (r.layout != "auto" && r.layout != "numerator" && r.layout != "denominator")
    throw bad("layout", "'layout' must be auto, numerator or denominator");
  text("emit", r.emit, false);
  if (!r.emit.empty() && r.emit != "cpp" && r.emit != "numpy" && r.emit != "torch")
    throw bad("emit", "'emit' must be cpp, numpy or torch");
  auto w = j.find("wrt");
  if (w == j.end()) throw bad("wrt", "'wrt' is required (the variable to differentiate by)");
  std::vector<json> names = w->is_array() ? w->get<std::vector<json>>() : std::vector<json>{*w};
  if (names.empty()) throw bad("wrt", "'wrt' names no variable");
  if (names.size() > kMaxWrt) throw bad("wrt", "'wrt' names more than " + std::to_string(kMaxWrt) + " variables");
  for (const json& n : names) {
    if (!n.is_string() || n.get<std::string>().empty() || n.get<std::string>().size() > 64)
      throw bad("wrt", "'wrt' must be a variable name or a list of them");
    r.wrt.push_back(n.get<std::string>());
  }
  if (auto o = j.find("order"); o != j.end()) {
    if (!o->is_number_integer() || (o->get<int64_t>() != 1 && o->get<int64_t>() != 2))
      throw bad("order", "'order' must be 1 or 2");
    r.order = o->get<int>();
  }
  if (auto s = j.find("seed"); s != j.end()) {
    if (!s->is_number_unsigned()) throw bad("seed", "'seed' must be a non-negative integer");
    r.seed = s->get<uint64_t>();
  }
  flag("check", r.check);
  flag("steps", r.steps);
  return r;
}

// The answer to one request: the command's JSON document under "derivatives",
// and beside it what the page shows (with "emit", the code --emit writes). Throws ApiError (the field and column of
// a parse error) or nabla::Error.
std::string answer(const DiffRequest& r) {
  using namespace nabla::sym;
  auto fail = [](const std::string& field, const std::exception& e) {
    return ApiError{400, e.what(), field, column_of(e.what())};
  };
  Declarations decls;
  try {
    decls = parse_declarations(r.let);
  } catch (const Error& e) {
    throw fail("let", e);
  }
  Expr f;
  try {
    f = parse(r.expr, decls);
  } catch (const Error& e) {
    throw fail("expr", e);
  }
  DiffOptions opts;
  opts.layout = layout_named(r.layout);
  opts.order = r.order;
  opts.steps = r.steps;
  Derivation dv;
  try {
    dv = derive_all(f, r.wrt, decls, opts);
  } catch (const Error& e) {
    bool undeclared =
        std::any_of(r.wrt.begin(), r.wrt.end(), [&](const std::string& w) { return !decls.vars.count(w); });
    throw fail(undeclared ? "wrt" : "expr", e);
  }

  json out;
  out["expr"] = {{"text", to_text(f)}, {"latex", to_latex(f)}, {"shape", f->shape.str()}};
  out["wrt"] = r.wrt;
  out["labels"] = dv.label;  // the derivatives' names: the variables, or "x,y" for the blocks of order 2
  out["derivatives"] = json::parse(derivatives_json(dv.label, dv.ds, r.steps, nullptr, &decls));
  out["kind"] = json::object();
  json steps = json::object(), checks = json::object();
  for (size_t i = 0; i < dv.ds.size(); ++i) {
    const Derivative& d = dv.ds[i];
    const std::string& w = dv.label[i];
    out["kind"][w] = d.kind == DerivKind::gradient   ? "gradient"
                     : d.kind == DerivKind::jacobian ? "jacobian"
                                                     : "hessian";
    if (r.steps) {
      // The parts are in the command's document; beside them, the derivation as
      // --steps prints it, and the intermediate variables typeset.
      json s = {{"text", format_steps(d, "f", &decls)}, {"intermediates", json::array()}};
      for (const auto& [name, e] : d.intermediates)
        s["intermediates"].push_back({{"name", name}, {"latex", to_latex(e)}});
      steps[w] = s;
    }
    if (r.check) {
      try {
        Bindings b = random_values(decls, r.seed);
        CheckReport c = check(f, dv.first[i], d, b);
        checks[w] = {{"ok", c.ok},
                     {"autodiff_used", c.autodiff_used},
                     {"autodiff_error", c.autodiff_error},
                     {"fd_error", c.fd_error},
                     {"tolerance", c.tolerance},
                     {"note", c.note},
                     {"text", check_text(c, "")}};
      } catch (const std::bad_alloc&) {
        checks[w] = {{"ok", false}, {"error", "the check needs more memory than a request may use"}};
      } catch (const std::exception& e) {
        checks[w] = {{"ok", false}, {"error", e.what()}};
      }
    }
  }
  if (r.steps) out["steps"] = steps;
  if (r.check) out["check"] = checks;
  // The code nabla diff --emit writes: f and every derivative in one function.
  out["code"] = nullptr;
  if (!r.emit.empty()) {
    try {
      out["code"] = {{"target", r.emit},
                     {"text", emit_derivation(target_named(r.emit), "derivatives", f, dv, decls)}};
    } catch (const Error& e) {
      out["code"] = {{"target", r.emit}, {"error", e.what()}};
    }
  }
  return out.dump();
}

// `nabla serve --worker`: one request on stdin, its answer on stdout. Exit 0
// with a derivative, 1 with an error document.
int run_worker() {
  std::string body;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(0, buf, sizeof buf)) > 0 && body.size() <= kMaxBodyBytes) body.append(buf, static_cast<size_t>(n));
  try {
    std::cout << answer(parse_request(body));
    return 0;
  } catch (const ApiError& e) {
    std::cout << error_json(e);
  } catch (const std::bad_alloc&) {
    std::cout << error_json({400, "the derivation needs more memory than a request may use", "", 0});
  } catch (const std::exception& e) {
    std::cout << error_json({400, e.what(), "", column_of(e.what())});
  }
  return 1;
}

struct ServeArgs {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string katex = NABLA_KATEX_DIR;
};

#if NABLA_HAVE_HTTPLIB

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs one derivation in a child process (Note [Bounded derivations]) and
// returns its HTTP status and body.
std::pair<int, std::string> derive_in_worker(const std::string& self, const std::string& body) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return {500, error_json({500, "cannot start a derivation (pipe)", "", 0})};
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return {500, error_json({500, "cannot start a derivation (pipe)", "", 0})};
  }
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child of a threaded process: only async-signal-safe calls until exec.
    ::dup2(in[0], 0), ::dup2(out[1], 1);
    if (devnull >= 0) ::dup2(devnull, 2);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    rlimit cpu{kWorkerCpuSeconds, kWorkerCpuSeconds + 1};
    ::setrlimit(RLIMIT_CPU, &cpu);
#if !defined(__SANITIZE_ADDRESS__)
    rlimit mem{kWorkerMemoryBytes, kWorkerMemoryBytes};
    ::setrlimit(RLIMIT_AS, &mem);
#endif
    const char* argv[] = {self.c_str(), "serve", "--worker", nullptr};
    ::execv(self.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(in[0]), ::close(out[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(in[1]), ::close(out[0]);
    return {500, error_json({500, "cannot start a derivation (fork)", "", 0})};
  }
  // The request fits the pipe (at most kMaxBodyBytes), so this write does not wait.
  ssize_t w = ::write(in[1], body.data(), body.size());
  (void)w;
  ::close(in[1]);

  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int k = ::poll(&p, 1, static_cast<int>(left.count()));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) continue;
    char buf[8192];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (reply.size() < (size_t{64} << 20)) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return {400, error_json({400, "the derivation took longer than " + std::to_string(kDeadlineSeconds) +
                                      " s and was stopped; try a smaller expression",
                             "expr", 0})};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {200, reply};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1) return {400, reply};
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
    return {400, error_json({400, "the derivation used more than " + std::to_string(kWorkerCpuSeconds) +
                                      " s of CPU time and was stopped; try a smaller expression",
                             "expr", 0})};
  std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                        : "exit code " + std::to_string(WEXITSTATUS(status));
  return {500, error_json({500, "the derivation stopped unexpectedly (" + how + ")", "", 0})};
}

// The KaTeX files a page may ask for: a relative path of plain names with one
// of these extensions, under the KaTeX folder.
const char* katex_mime(const std::string& path) {
  static const std::regex ok(R"(([A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(css|js|woff2|woff|ttf))");
  if (!std::regex_match(path, ok)) return nullptr;
  auto ends = [&](const char* s) {
    size_t n = std::strlen(s);
    return path.size() >= n && path.compare(path.size() - n, n, s) == 0;
  };
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".woff2")) return "font/woff2";
  if (ends(".woff")) return "font/woff";
  return "font/ttf";
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void run_serve(const ServeArgs& a) {
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  NABLA_CHECK(len > 0, "serve: cannot find its own executable (/proc/self/exe)");
  self[len] = 0;
  const std::string exe = self;
  bool have_katex = !read_text_file(a.katex + "/katex.min.js").empty();

  // SIGINT and SIGTERM stop the server from one thread that waits for them
  // (blocked here, before any thread starts, so no other thread takes them).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto svr = std::make_shared<httplib::Server>();
  svr->new_task_queue = [] { return new httplib::ThreadPool(4); };
  svr->set_payload_max_length(kMaxBodyBytes);
  svr->set_read_timeout(5, 0);
  svr->set_write_timeout(5, 0);
  svr->set_default_headers({
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      // The page's own script and KaTeX only; KaTeX sets inline styles.
      {"Content-Security-Policy",
       "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'"},
  });

  // Bound to the loopback, answer only requests addressed to it (a page of
  // another site that resolves its name to 127.0.0.1 gets 403).
  const bool loopback = is_loopback(a.host);
  svr->set_pre_routing_handler([loopback](const httplib::Request& req, httplib::Response& res) {
    if (!loopback) return httplib::Server::HandlerResponse::Unhandled;
    std::string host = req.get_header_value("Host");  // name[:port], or [v6]:port
    std::string name = host.substr(0, host[0] == '[' ? host.find(']') + 1 : host.find(':'));
    if (name == "127.0.0.1" || name == "localhost" || name == "[::1]")
      return httplib::Server::HandlerResponse::Unhandled;
    res.status = 403;
    res.set_content(error_json({403, "this server answers requests to localhost only", "", 0}), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });

  auto asset = [](std::string_view body, const char* mime) {
    return [body, mime](const httplib::Request&, httplib::Response& res) {
      res.set_content(body.data(), body.size(), mime);
    };
  };
  svr->Get("/", asset(web::index_html, "text/html; charset=utf-8"));
  svr->Get("/app.js", asset(web::app_js, "text/javascript; charset=utf-8"));
  svr->Get("/style.css", asset(web::style_css, "text/css; charset=utf-8"));
  svr->Get("/katex/(.*)", [katex = a.katex](const httplib::Request& req, httplib::Response& res) {
    std::string rel = req.matches[1];
    const char* mime = katex_mime(rel);
    std::string body = mime ? read_text_file(katex + "/" + rel) : std::string();
    if (body.empty()) {
      res.status = 404;
      res.set_content("not found\n", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "max-age=86400");
    res.set_content(body, mime);
  });

  auto workers = std::make_shared<std::counting_semaphore<kMaxWorkers>>(kMaxWorkers);
  svr->Post("/api/diff", [exe, workers](const httplib::Request& req, httplib::Response& res) {
    std::string body;
    int status = 200;
    try {
      parse_request(req.body);  // refuse what is not a request before starting a process
      if (!workers->try_acquire_for(std::chrono::seconds(kDeadlineSeconds))) {
        status = 503;
        body = error_json({503, "the server is busy; try again", "", 0});
      } else {
        std::tie(status, body) = derive_in_worker(exe, req.body);
        workers->release();
      }
    } catch (const ApiError& e) {
      status = e.status;
      body = error_json(e);
    }
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body, "application/json");
  });
  auto post_only = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "POST");
    res.set_content(error_json({405, "use POST for /api/diff", "", 0}), "application/json");
  };
  svr->Get("/api/diff", post_only);
  svr->Put("/api/diff", post_only);
  svr->Delete("/api/diff", post_only);
  svr->Patch("/api/diff", post_only);
  // Errors without a body of their own (404, 413 for a body over the limit):
  // JSON under /api/, a line of text elsewhere.
  svr->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 413 ? "the request is larger than " + std::to_string(kMaxBodyBytes) + " bytes"
                      : res.status == 404 ? "no such page: " + req.path.substr(0, 200)
                                          : "HTTP " + std::to_string(res.status);
    if (req.path.rfind("/api/", 0) == 0)
      res.set_content(error_json({res.status, msg, "", 0}), "application/json");
    else
      res.set_content(msg + "\n", "text/plain; charset=utf-8");
  });

  int port = a.port;
  if (port == 0) {
    port = svr->bind_to_any_port(a.host);
    NABLA_CHECK(port > 0, "serve: cannot listen on ", a.host, " (any port)");
  } else {
    NABLA_CHECK(svr->bind_to_port(a.host, port), "serve: cannot listen on ", a.host, ":", port,
                " (in use? try --port 0 for a free one)");
  }
  std::string shown = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
  std::cout << "nabla serve: http://" << shown << ":" << port << "/  (Ctrl-C stops)" << std::endl;
  if (!have_katex)
    std::cout << "nabla serve: KaTeX not found in " << a.katex << " (--katex DIR); formulas are shown as text"
              << std::endl;

  std::thread([svr, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    svr->stop();
  }).detach();
  svr->listen_after_bind();
}

#endif  // NABLA_HAVE_HTTPLIB

}  // namespace

void register_serve(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("serve", "Serve a web page on localhost that derives, typesets and checks");
  auto args = std::make_shared<ServeArgs>();
  auto worker = std::make_shared<bool>(false);
  sub->add_option("--port", args->port, "Port to listen on (0: a free one, printed)")->check(CLI::Range(0, 65535));
  sub->add_option("--host", args->host, "Address to listen on (the loopback unless you mean otherwise)");
  sub->add_option("--katex", args->katex, "Folder of KaTeX's katex.min.js, katex.min.css and fonts/");
  sub->add_flag("--worker", *worker, "One derivation: request on stdin, answer on stdout (the server's child)")
      ->group("");
  sub->callback([args, worker] {
    if (*worker) throw Exit{run_worker()};
#if NABLA_HAVE_HTTPLIB
    run_serve(*args);
#else
    NABLA_CHECK(false,
                "this nabla was built without the web server (cpp-httplib was not found when it was configured)");
#endif
  });
}

}  // namespace nabla::cli
