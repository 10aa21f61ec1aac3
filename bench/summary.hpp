// A Google Benchmark reporter that prints the usual console output and keeps,
// per benchmark name (as registered, without the /real_time suffix), the median over repetitions (the single run when there
// is one repetition) of the real time per iteration and of every counter, so
// that a program can print ratios between benchmarks after the run; and the
// fastest repetition where the benchmark computes a "min" statistic.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>

namespace nabla::bench {

struct Result {
  double real_ns = 0;                      // real time per iteration, ns
  double cpu_ns = 0;                       // CPU time of the calling thread per iteration, ns
  std::map<std::string, double> counters;  // as reported (rates already divided)
};

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      bool min = r.run_type == Run::RT_Aggregate && r.aggregate_name == "min";
      if (!single && !median && !min) continue;
      Result& out = (min ? mins_ : results_)[r.run_name.function_name];
      out.real_ns = r.GetAdjustedRealTime() * to_ns(r.time_unit);
      out.cpu_ns = r.GetAdjustedCPUTime() * to_ns(r.time_unit);
      for (const auto& [k, c] : r.counters) out.counters[k] = c.value;
    }
  }
  const std::map<std::string, Result>& results() const { return results_; }
  const Result* find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }
  // The fastest repetition, for benchmarks registered with a "min" statistic
  // (ComputeStatistics("min", ...)); null otherwise.
  const Result* find_min(const std::string& name) const {
    auto it = mins_.find(name);
    return it == mins_.end() ? nullptr : &it->second;
  }

 private:
  static double to_ns(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1.0;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kMillisecond: return 1e6;
      case benchmark::kSecond: return 1e9;
    }
    return 1.0;
  }
  std::map<std::string, Result> results_;
  std::map<std::string, Result> mins_;
};

}  // namespace nabla::bench
