// nabla serve over HTTP: the test starts `nabla serve --port 0` (a free port
// on 127.0.0.1, read back from its first line), sends requests with a small
// client of its own, and stops the server in every case (the server also
// dies with the test process: PR_SET_PDEATHSIG).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_helpers.hpp"

namespace {

using json = nlohmann::json;
using namespace nabla_cli_test;

struct HttpReply {
  int status = 0;
  std::string head, body;
  std::string header(const std::string& name) const {
    std::string lower_head = head;
    std::string key = "\r\n" + name + ":";
    for (auto* s : {&lower_head, &key})
      for (char& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t p = lower_head.find(key);
    if (p == std::string::npos) return {};
    size_t b = p + key.size(), e = head.find("\r\n", b);
    std::string v = head.substr(b, e - b);
    return v.substr(v.find_first_not_of(' '));
  }
};

// One request on its own connection (Connection: close), read to the end.
HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& host = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HttpReply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                    "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413) and close before the body is sent
    off += static_cast<size_t>(n);
  }
  std::string all;
  char buf[8192];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t split = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.1 ", 0) != 0 || split == std::string::npos) return r;
  r.status = std::stoi(all.substr(9, 3));
  r.head = all.substr(0, split);
  r.body = all.substr(split + 4);
  return r;
}

// `nabla serve --port 0`, stopped (SIGTERM, then SIGKILL) when it goes out of scope.
class Server {
 public:
  Server() {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      ::dup2(out[1], 1);
      const char* cli = nabla_cli_path();
      ::execl(cli, cli, "serve", "--port", "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    // The first line: "nabla serve: http://127.0.0.1:PORT/ …", or the reason it did not start.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 500) <= 0) continue;
      char c[256];
      ssize_t n = ::read(out[0], c, sizeof c);
      if (n <= 0) break;
      line.append(c, static_cast<size_t>(n));
    }
    ::close(out[0]);
    first_line_ = line.substr(0, line.find('\n'));
    size_t p = first_line_.find("http://127.0.0.1:");
    if (p != std::string::npos) port_ = std::atoi(first_line_.c_str() + p + 17);
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& first_line() const { return first_line_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string first_line_;
};

class ServeTest : public CliFixture {
 protected:
  static std::unique_ptr<Server> server;
  static void SetUpTestSuite() {
    if (!nabla_cli_path()) return;
    server = std::make_unique<Server>();
  }
  static void TearDownTestSuite() { server.reset(); }
  void SetUp() override {
    CliFixture::SetUp();
    if (IsSkipped()) return;
    if (server->port() == 0 && server->first_line().empty()) {
      Result r = run("serve --port 0");  // built without the web server: it says so
      if (r.err.find("built without the web server") != std::string::npos) GTEST_SKIP() << r.err;
    }
    ASSERT_GT(server->port(), 0) << "nabla serve did not start: '" << server->first_line() << "'";
  }
  int port() const { return server->port(); }
  json post(const std::string& body, int expect_status) {
    HttpReply r = http(port(), "POST", "/api/diff", body);
    EXPECT_EQ(r.status, expect_status) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json") << r.head;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }
};

std::unique_ptr<Server> ServeTest::server;

TEST_F(ServeTest, DerivativeIsTheCommandsDocumentWithStepsAndCheck) {
  json req = {{"expr", "x'*A*x"}, {"let", "x:vector(n) A:matrix(n,n)"}, {"wrt", "x"}};
  json j = post(req.dump(), 200);
  // The same document `nabla diff --format json --steps` prints.
  Result cli = run("diff \"x'*A*x\" --let \"x:vector(n) A:matrix(n,n)\" --wrt x --format json --steps");
  ASSERT_EQ(cli.code, 0) << cli.err;
  EXPECT_EQ(j["derivatives"], json::parse(cli.out));
  EXPECT_GE(j["derivatives"]["x"]["steps"].size(), 2u);
  EXPECT_EQ(j["derivatives"]["x"]["shape"], json({"n", "1"}));
  EXPECT_EQ(j["kind"]["x"], "gradient");
  EXPECT_EQ(j["wrt"], json({"x"}));
  EXPECT_EQ(j["expr"]["text"], "x'*A*x");
  EXPECT_NE(j["expr"]["latex"].get<std::string>().find("\\top"), std::string::npos) << j["expr"];
  // The check: both comparisons small, and ok.
  EXPECT_EQ(j["check"]["x"]["ok"], true);
  EXPECT_EQ(j["check"]["x"]["autodiff_used"], true);
  EXPECT_LT(j["check"]["x"]["autodiff_error"].get<double>(), 1e-12);
  EXPECT_LT(j["check"]["x"]["fd_error"].get<double>(), 1e-5);
  EXPECT_NE(j["check"]["x"]["text"].get<std::string>().find("check: ok"), std::string::npos);
  // The steps, as --steps prints them, and one entry per step.
  Result steps = run("diff \"x'*A*x\" --let \"x:vector(n) A:matrix(n,n)\" --wrt x --steps");
  EXPECT_NE(steps.out.find(j["steps"]["x"]["text"].get<std::string>()), std::string::npos) << steps.out;
  EXPECT_TRUE(j["code"].is_null());  // no "emit" asked
}

TEST_F(ServeTest, GeneratedCodeIsWhatDiffEmitWrites) {
  for (const char* target : {"numpy", "torch", "cpp"}) {
    json j = post(json{{"expr", "x'*A*x"}, {"let", "x:vector(n) A:matrix(n,n)"}, {"wrt", "x"}, {"emit", target}}
                      .dump(),
                  200);
    Result cli = run(std::string("diff \"x'*A*x\" --let \"x:vector(n) A:matrix(n,n)\" --wrt x --emit ") + target);
    ASSERT_EQ(cli.code, 0) << cli.err;
    EXPECT_EQ(j["code"]["target"], target);
    EXPECT_EQ(j["code"]["text"], cli.out) << target;
    EXPECT_NE(cli.out.find("derivatives"), std::string::npos) << cli.out;
  }
  json bad = post(json{{"expr", "x"}, {"let", "x:scalar"}, {"wrt", "x"}, {"emit", "fortran"}}.dump(), 400);
  EXPECT_EQ(bad["field"], "emit");
}

TEST_F(ServeTest, SeveralVariablesAndAHessian) {
  json j = post(json{{"expr", "sum(sin(x)) + b*x'*x"}, {"let", "x:vector(n) b:scalar"}, {"wrt", {"x", "b"}}}.dump(),
                200);
  EXPECT_EQ(j["wrt"], json({"x", "b"}));
  EXPECT_EQ(j["derivatives"]["b"]["text"], "x'*x");
  EXPECT_EQ(j["derivatives"]["b"]["shape"], json({"1", "1"}));
  EXPECT_EQ(j["check"]["x"]["ok"], true);
  EXPECT_EQ(j["check"]["b"]["ok"], true);
  json h = post(json{{"expr", "sum(exp(x))"}, {"let", "x:vector(n)"}, {"wrt", "x"}, {"order", 2}}.dump(), 200);
  EXPECT_EQ(h["kind"]["x"], "hessian");
  EXPECT_EQ(h["derivatives"]["x"]["shape"], json({"n", "n"}));
  EXPECT_EQ(h["check"]["x"]["ok"], true);
  // Order 2 with two variables: every block, the mixed ones included, as nabla diff derives them.
  json xy = post(json{{"expr", "x*y"}, {"let", "x:scalar y:scalar"}, {"wrt", {"x", "y"}}, {"order", 2}}.dump(), 200);
  EXPECT_EQ(xy["labels"], json({"x,x", "x,y", "y,x", "y,y"}));
  Result blocks = run("diff \"x*y\" --let \"x:scalar y:scalar\" --wrt x --wrt y --order 2 --format json --steps");
  EXPECT_EQ(xy["derivatives"], json::parse(blocks.out));
  EXPECT_EQ(xy["derivatives"]["x,y"]["text"], "1");
  EXPECT_EQ(xy["check"]["x,y"]["ok"], true);
  // check and steps off: neither member.
  json bare = post(json{{"expr", "x'*x"}, {"let", "x:vector(n)"}, {"wrt", "x"}, {"check", false}, {"steps", false}}
                       .dump(),
                   200);
  EXPECT_FALSE(bare.contains("check"));
  EXPECT_FALSE(bare.contains("steps"));
  Result plain = run("diff \"x'*x\" --let \"x:vector(n)\" --wrt x --format json");
  EXPECT_EQ(bare["derivatives"], json::parse(plain.out));
  EXPECT_EQ(bare["derivatives"]["x"]["text"], "2*x");
}

TEST_F(ServeTest, ParseErrorsNameTheFieldAndColumn) {
  json e = post(json{{"expr", "x'*A*y"}, {"let", "x:vector(n) A:matrix(n,n)"}, {"wrt", "x"}}.dump(), 400);
  EXPECT_EQ(e["column"], 6);
  EXPECT_EQ(e["field"], "expr");
  EXPECT_NE(e["error"].get<std::string>().find("unknown variable 'y'"), std::string::npos) << e;
  json l = post(json{{"expr", "x'*x"}, {"let", "x:vectr(n)"}, {"wrt", "x"}}.dump(), 400);
  EXPECT_EQ(l["field"], "let");
  EXPECT_EQ(l["column"], 3);
  json w = post(json{{"expr", "x'*x"}, {"let", "x:vector(n)"}, {"wrt", "q"}}.dump(), 400);
  EXPECT_EQ(w["field"], "wrt");
  EXPECT_TRUE(w["column"].is_null());
  EXPECT_NE(w["error"].get<std::string>().find("'q'"), std::string::npos) << w;
  // Every message is one line.
  for (const json* j : {&e, &l, &w}) EXPECT_EQ((*j)["error"].get<std::string>().find('\n'), std::string::npos);
}

TEST_F(ServeTest, RefusesWhatIsNotARequest) {
  EXPECT_EQ(post("{\"expr\": ", 400)["error"], "the request is not JSON");
  EXPECT_NE(post("[1, 2]", 400)["error"].get<std::string>().find("must be a JSON object"), std::string::npos);
  EXPECT_EQ(post(json{{"let", "x:scalar"}, {"wrt", "x"}}.dump(), 400)["field"], "expr");
  EXPECT_EQ(post(json{{"expr", "x"}, {"let", "x:scalar"}}.dump(), 400)["field"], "wrt");
  json unknown = post(json{{"expr", "x"}, {"let", "x:scalar"}, {"wrt", "x"}, {"eval", "1"}}.dump(), 400);
  EXPECT_EQ(unknown["field"], "eval");
  EXPECT_EQ(post(json{{"expr", 3}, {"wrt", "x"}}.dump(), 400)["error"], "'expr' must be a string");
  EXPECT_EQ(post(json{{"expr", "x"}, {"let", "x:scalar"}, {"wrt", "x"}, {"order", 3}}.dump(), 400)["field"], "order");
  // An expression over the length limit is refused before it is parsed.
  std::string longest(2001, 'x');
  json big = post(json{{"expr", longest}, {"let", "x:scalar"}, {"wrt", "x"}}.dump(), 400);
  EXPECT_NE(big["error"].get<std::string>().find("longer than 2000 characters"), std::string::npos) << big;
  // Code is not an expression: the parser refuses it, nothing runs it.
  json code = post(json{{"expr", "system(\"touch pwned\")"}, {"let", "x:scalar"}, {"wrt", "x"}}.dump(), 400);
  EXPECT_GT(code["column"].get<int>(), 0) << code;
  EXPECT_FALSE(fs::exists("pwned"));
}

TEST_F(ServeTest, OversizedBodyWrongMethodForeignHost) {
  std::string huge = "{\"expr\": \"" + std::string(70 * 1024, 'x') + "\"}";
  HttpReply big = http(port(), "POST", "/api/diff", huge);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("larger than 65536 bytes"), std::string::npos) << big.body;
  HttpReply get = http(port(), "GET", "/api/diff");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("Allow"), "POST");
  EXPECT_EQ(json::parse(get.body)["error"], "use POST for /api/diff");
  EXPECT_EQ(http(port(), "DELETE", "/api/diff").status, 405);
  // A page elsewhere that points its own name at 127.0.0.1 is refused.
  HttpReply foreign = http(port(), "POST", "/api/diff", "{}", "attacker.example");
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(http(port(), "GET", "/", "", "localhost").status, 200);
  // The server still answers after all of that.
  EXPECT_EQ(post(json{{"expr", "x"}, {"let", "x:scalar"}, {"wrt", "x"}}.dump(), 200)["derivatives"]["x"]["text"], "1");
}

TEST_F(ServeTest, ServesThePageAndKatex) {
  HttpReply page = http(port(), "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>nabla diff</title>"), std::string::npos);
  EXPECT_NE(page.header("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  HttpReply js = http(port(), "GET", "/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.body.find("/api/diff"), std::string::npos);
  EXPECT_EQ(http(port(), "GET", "/katex/../../../../etc/passwd").status, 404);
  EXPECT_EQ(http(port(), "GET", "/katex/katex.mjs.map").status, 404);
  EXPECT_EQ(http(port(), "GET", "/no-such-page").status, 404);
  HttpReply katex = http(port(), "GET", "/katex/katex.min.js");
  if (katex.status == 404) GTEST_SKIP() << "KaTeX is not installed (libjs-katex): the page shows formulas as text";
  EXPECT_EQ(katex.status, 200);
  EXPECT_EQ(katex.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(katex.body.find("katex"), std::string::npos);
  EXPECT_GT(katex.body.size(), 100000u);
  EXPECT_EQ(http(port(), "GET", "/katex/katex.min.css").status, 200);
  HttpReply font = http(port(), "GET", "/katex/fonts/KaTeX_Main-Regular.woff2");
  EXPECT_EQ(font.status, 200);
  EXPECT_EQ(font.header("Content-Type"), "font/woff2");
}

// The server's child on its own: one request on stdin, the answer on stdout.
TEST_F(ServeTest, WorkerAnswersOneRequest) {
  std::ofstream(dir / "req.json") << json{{"expr", "sum(sin(x))"}, {"let", "x:vector(n)"}, {"wrt", "x"}}.dump();
  std::string cmd = std::string(nabla_cli_path()) + " serve --worker < " + (dir / "req.json").string() + " > " +
                    (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  json j = json::parse(slurp(dir / "out.json"));
  EXPECT_EQ(j["derivatives"]["x"]["text"], "cos(x)");
  std::ofstream(dir / "bad.json") << "{\"expr\": \"sin(\", \"let\": \"x:scalar\", \"wrt\": \"x\"}";
  cmd = std::string(nabla_cli_path()) + " serve --worker < " + (dir / "bad.json").string() + " > " +
        (dir / "out.json").string();
  int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(json::parse(slurp(dir / "out.json"))["field"], "expr");
}

}  // namespace
