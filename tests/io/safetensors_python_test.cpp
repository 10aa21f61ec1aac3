// Interoperability with an independent reader and writer: short NumPy
// scripts that handle the format by hand (struct + json + np.frombuffer), as
// any other implementation of the layout would. Skipped when /usr/bin/python3
// or its NumPy is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/test_files.hpp"
#include "nabla/io.hpp"

namespace nabla::io {
namespace {

using nabla::testing::TempDir;
using nabla::testing::write_file;

constexpr const char* kPython = "/usr/bin/python3";

bool have_numpy() {
  if (::access(kPython, X_OK) != 0) return false;
  return std::system((std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
}

// Runs the script with the given argument; returns stdout+stderr and sets `status`.
std::string run_python(const TempDir& dir, const std::string& script, const std::string& arg, int& status) {
  const std::string path = dir.file("script.py");
  write_file(path, script);
  const std::string cmd = std::string(kPython) + " " + path + " '" + arg + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    status = -1;
    return "popen failed";
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = ::pclose(p);
  return out;
}

// Reads a safetensors file the long way and prints what it found as JSON.
constexpr const char* kReader = R"PY(
import json, struct, sys
import numpy as np

raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert n % 8 == 0, "header length %d is not a multiple of 8" % n
text = raw[8:8 + n].decode("utf-8")
assert text.startswith("{") and text.rstrip(" ").endswith("}"), "header is not a space-padded object"
header = json.loads(text)
data = raw[8 + n:]
meta = header.pop("__metadata__", {})
kinds = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
out = []
end = 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    b, e = info["data_offsets"]
    assert b == end, "hole or overlap before %s" % name
    end = e
    arr = np.frombuffer(data[b:e], dtype=kinds[info["dtype"]]).reshape(info["shape"])
    out.append({"name": name, "dtype": info["dtype"], "shape": list(arr.shape),
                "values": [float(v) for v in arr.reshape(-1)]})
assert end == len(data), "data section has %d bytes, tensors cover %d" % (len(data), end)
print(json.dumps({"metadata": meta, "tensors": out}))
)PY";

// Writes a safetensors file by hand: keys not in data order, padded header.
constexpr const char* kWriter = R"PY(
import json, struct, sys
import numpy as np

w = (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5) - np.float32(1)).astype("<f4")
b = np.array([1e-300, -2.5, np.pi], dtype="<f8")
s = np.array(42.0, dtype="<f4")
blobs = [("w", "F32", w), ("b", "F64", b), ("s", "F32", s)]
header, data = {}, b""
for name, code, arr in blobs:
    header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + arr.nbytes]}
    data += arr.tobytes()
header = dict(sorted(header.items()))  # "b", "s", "w": not the data order
header["__metadata__"] = {"producer": "numpy", "note": "hand-written"}
text = json.dumps(header, separators=(",", ":"))
text += " " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text.encode("utf-8") + data)
print("ok")
)PY";

class SafetensorsPython : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_numpy()) GTEST_SKIP() << kPython << " with numpy is not available";
  }
};

TEST_F(SafetensorsPython, NablaWritesNumpyReads) {
  TempDir dir;
  const std::string path = dir.file("nabla.safetensors");
  Tensor m = tensor({{1.5, -2.0, 3.25}, {0.1, 1e-7, -1e30}}).to(kFloat32);
  save_safetensors(path,
                   {{"fc.weight", m},
                    {"fc.bias", tensor({0.1, -0.2}, kFloat64)},
                    {"step", scalar_tensor(5.0, kFloat64)},
                    {"none", zeros({0, 4})},
                    {"fc.weight.T", m.t()}},
                   {{"epoch", "3"}, {"arch", "mlp 784-128-10"}});
  int status = 0;
  const std::string out = run_python(dir, kReader, path, status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["metadata"], (nlohmann::json{{"epoch", "3"}, {"arch", "mlp 784-128-10"}}));
  const auto& t = j["tensors"];
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0]["name"], "fc.weight");
  EXPECT_EQ(t[0]["dtype"], "F32");
  EXPECT_EQ(t[0]["shape"], (nlohmann::json{2, 3}));
  const std::vector<float> mv = m.to_vector<float>();
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(t[0]["values"][i].get<double>(), double(mv[i])) << i;
  EXPECT_EQ(t[1]["name"], "fc.bias");
  EXPECT_EQ(t[1]["dtype"], "F64");
  EXPECT_EQ(t[1]["values"][0].get<double>(), 0.1);
  EXPECT_EQ(t[1]["values"][1].get<double>(), -0.2);
  EXPECT_EQ(t[2]["name"], "step");
  EXPECT_EQ(t[2]["shape"], nlohmann::json::array());
  EXPECT_EQ(t[2]["values"][0].get<double>(), 5.0);
  EXPECT_EQ(t[3]["shape"], (nlohmann::json{0, 4}));
  EXPECT_TRUE(t[3]["values"].empty());
  EXPECT_EQ(t[4]["shape"], (nlohmann::json{3, 2}));
  EXPECT_EQ(t[4]["values"][1].get<double>(), double(mv[3]));  // row 0 of the transpose: m[0][0], m[1][0]
}

TEST_F(SafetensorsPython, NumpyWritesNablaReads) {
  TempDir dir;
  const std::string path = dir.file("numpy.safetensors");
  int status = 0;
  const std::string out = run_python(dir, kWriter, path, status);
  ASSERT_EQ(status, 0) << out;
  TensorFile f = load_safetensors(path);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "b", "s"}));  // data order
  EXPECT_EQ(f.metadata, (Metadata{{"producer", "numpy"}, {"note", "hand-written"}}));
  EXPECT_EQ(f.at("w").dtype(), kFloat32);
  EXPECT_EQ(f.at("w").shape(), Shape({2, 3}));
  EXPECT_EQ(f.at("w").to_vector<float>(), (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f}));
  EXPECT_EQ(f.at("b").dtype(), kFloat64);
  EXPECT_EQ(f.at("b").to_vector<double>(), (std::vector<double>{1e-300, -2.5, M_PI}));
  EXPECT_EQ(f.at("s").dim(), 0);
  EXPECT_EQ(f.at("s").item(), 42.0);
}

}  // namespace
}  // namespace nabla::io
