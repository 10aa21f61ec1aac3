#!/usr/bin/env bash
# Before/after speed check of two builds of nabla in one run: per-op overhead
# (bench/overhead_bench), training epochs (`nabla train`, MLP 784-256-128-10 on
# Fashion-MNIST at batch 32, 128 and 1024), Jacobians and Hessians
# (bench/jacobian_bench) and the symbolic derive/Hessian bench (bench/sym_bench).
# Each round runs every bench from both builds back to back, the order flipped
# from one round to the next (before-after, after-before, ...), so that other
# tenants of a shared host hit both sides alike. Prints one table per bench:
# the median over the rounds before and after, after/before, and each round's
# own ratio (a real regression shows in every round, noise in some).
#
#   bench/compare_builds.sh BEFORE_BUILD AFTER_BUILD [rounds, default 3]
#
# Each build dir needs the targets nabla_cli overhead_bench jacobian_bench
# sym_bench (sym_bench is skipped where it is missing). About 2 minutes a
# round on 2 cores. Environment knobs:
#   EPOCHS=3          epochs per `nabla train` run; epoch time = median of epochs 2..EPOCHS
#   BATCHES=32,128,1024
#   THREADS=          --threads for `nabla train` (empty: nabla's default, as
#                     bench/train_compare.py without --threads)
#   JAC_THREADS=2     OMP/OPENBLAS threads for jacobian_bench and sym_bench, as bench/run_jacobian.sh
#   BENCHES=overhead,train,jacobian,sym   which benches to run
#   KEEP=DIR          keep the raw outputs in DIR
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them.
# Timings are reported, never checked: nothing here fails on a slow figure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=/usr/bin/python3

usage() { echo "usage: bench/compare_builds.sh BEFORE_BUILD AFTER_BUILD [rounds]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
BEFORE=$(cd "$1" && pwd) || usage
AFTER=$(cd "$2" && pwd) || usage
ROUNDS=${3:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || usage
EPOCHS=${EPOCHS:-3}
BATCHES=${BATCHES:-32,128,1024}
THREADS=${THREADS:-}
JAC_THREADS=${JAC_THREADS:-2}
BENCHES=${BENCHES:-overhead,train,jacobian,sym}
[[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || { echo "compare_builds: EPOCHS must be a positive integer" >&2; exit 2; }

want() { [[ ",$BENCHES," == *",$1,"* ]]; }

for b in "$BEFORE" "$AFTER"; do
  for t in nabla bench/overhead_bench bench/jacobian_bench; do
    [[ -x "$b/$t" ]] || { echo "compare_builds: $b/$t not built" >&2; exit 1; }
  done
  # each side must run its own libnabla (an LD_LIBRARY_PATH could send both to one)
  lib=$(ldd "$b/nabla" 2>/dev/null | awk '/libnabla/ {print $3}')
  [[ -z "$lib" || "$(cd "$(dirname "$lib")" && pwd)" == "$b" ]] ||
    { echo "compare_builds: $b/nabla loads $lib, not its own build's libnabla" >&2; exit 1; }
done
have_sym=1
[[ -x "$BEFORE/bench/sym_bench" && -x "$AFTER/bench/sym_bench" ]] || have_sym=0

if [[ -n "${KEEP:-}" ]]; then
  tmp=$KEEP
  mkdir -p "$tmp"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
data="$tmp/data.tsv"  # table <tab> row <tab> side <tab> round <tab> value <tab> unit
: >"$data"

# describe BUILD: the commit its sources are at (and whether they had local changes)
describe() {
  local src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt" 2>/dev/null || true)
  if [[ -n "$src" ]] && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    local dirty=""
    [[ -z "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]] || dirty=" (with local changes)"
    echo "$(git -C "$src" log -1 --format='%h %cd' --date=format:'%Y-%m-%d %H:%M')$dirty  [$src]"
  else
    echo "unknown commit [$1]"
  fi
}

echo "# compare_builds: $(date -u '+%Y-%m-%d %H:%M UTC'), $ROUNDS round(s)"
echo "# before: $(describe "$BEFORE")"
echo "# after:  $(describe "$AFTER")"
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores;" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
echo "# train: --epochs $EPOCHS --validation 0 --normalize none --schedule none${THREADS:+ --threads $THREADS}," \
     "epoch time = median of epochs 2..$EPOCHS (epoch 1 when EPOCHS=1)"

# gbench_json TABLE SIDE ROUND FILE [CPU_PREFIX]: the time of every benchmark in a Google Benchmark
# JSON file, in ms: real time, or the calling thread's CPU time for names starting with CPU_PREFIX
# (single-threaded code, which other tenants' load disturbs less that way)
gbench_json() {
  "$PY" - "$@" >>"$data" <<'PY'
import json, sys
table, side, rnd, path = sys.argv[1:5]
cpu_prefix = sys.argv[5] if len(sys.argv) > 5 else None
scale = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
bs = [b for b in json.load(open(path))["benchmarks"] if not b.get("error_occurred")]
if any(b.get("run_type") == "aggregate" for b in bs):  # with repetitions: their median
    bs = [b for b in bs if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"]
for b in bs:
    base = b.get("run_name", b["name"])
    cpu = cpu_prefix is not None and base.startswith(cpu_prefix)
    t = (b["cpu_time"] if cpu else b["real_time"]) * scale[b["time_unit"]]
    name = base + (f" {b['label']}" if b.get("label") else "")
    print(f"{table}\t{name}\t{side}\t{rnd}\t{t:.6g}\t{'ms cpu' if cpu else 'ms'}")
PY
}

run_overhead() {  # SIDE BUILD ROUND
  local out="$tmp/overhead.$1.$3.txt"
  "$2/bench/overhead_bench" --benchmark_min_time=0.2 >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  awk -v s="$1" -v r="$3" '$1 == "RESULT" {
         printf "overhead\t%s cpu\t%s\t%s\t%s\tus\n", $2, s, r, $3
         printf "overhead\t%s wall\t%s\t%s\t%s\tus\n", $2, s, r, $4 }' "$out" >>"$data"
}

run_train() {  # SIDE BUILD ROUND BATCH
  local m="$tmp/train.$1.$3.$4.json" log="$tmp/train.$1.$3.$4.log"
  local cmd=("$2/nabla" train --epochs "$EPOCHS" --batch-size "$4" --validation 0 --normalize none
             --schedule none --out "" --metrics-json "$m")
  [[ -z "$THREADS" ]] || cmd+=(--threads "$THREADS")
  "${cmd[@]}" >"$log" 2>&1 </dev/null || { cat "$log" >&2; exit 1; }
  "$PY" - "$m" "$1" "$3" "$4" >>"$data" <<'PY'
import json, sys
path, side, rnd, batch = sys.argv[1:5]
m = json.load(open(path))
t = sorted(e["seconds"] for e in (m[1:] if len(m) > 1 else m))
med = t[len(t) // 2] if len(t) % 2 else (t[len(t) // 2 - 1] + t[len(t) // 2]) / 2
print(f"train\tbatch {batch}\t{side}\t{rnd}\t{med:.6g}\ts/epoch")
print(f"train-acc\tbatch {batch}\t{side}\t{rnd}\t{m[-1]['test_accuracy']:.6g}\tacc")
PY
}

run_jacobian() {  # SIDE BUILD ROUND
  local j="$tmp/jacobian.$1.$3.json"
  OMP_NUM_THREADS=$JAC_THREADS OPENBLAS_NUM_THREADS=$JAC_THREADS \
    "$2/bench/jacobian_bench" --benchmark_format=json --benchmark_min_time=0.3 \
      --benchmark_repetitions=3 --benchmark_report_aggregates_only=true >"$j" 2>"$j.err" ||
    { cat "$j.err" >&2; exit 1; }
  gbench_json jacobian "$1" "$3" "$j"
}

run_sym() {  # SIDE BUILD ROUND
  local j="$tmp/sym.$1.$3.json"
  OMP_NUM_THREADS=$JAC_THREADS OPENBLAS_NUM_THREADS=$JAC_THREADS \
    "$2/bench/sym_bench" --benchmark_format=json --benchmark_min_time=0.2 >"$j" 2>"$j.err" ||
    { cat "$j.err" >&2; exit 1; }
  gbench_json sym "$1" "$3" "$j" BM_DeriveSimplify
}

# pair FUNCTION ROUND [ARGS]: the bench from both builds, order flipped on even rounds
pair() {
  local f=$1 r=$2
  shift 2
  if ((r % 2)); then
    "$f" before "$BEFORE" "$r" "$@"; "$f" after "$AFTER" "$r" "$@"
  else
    "$f" after "$AFTER" "$r" "$@"; "$f" before "$BEFORE" "$r" "$@"
  fi
}

start=$SECONDS
for ((r = 1; r <= ROUNDS; ++r)); do
  want overhead && pair run_overhead "$r"
  if want train; then
    IFS=, read -ra bs <<<"$BATCHES"
    for b in "${bs[@]}"; do pair run_train "$r" "$b"; done
  fi
  want jacobian && pair run_jacobian "$r"
  want sym && ((have_sym)) && pair run_sym "$r"
  echo "# round $r/$ROUNDS done after $((SECONDS - start)) s" >&2
done
want sym && ! ((have_sym)) && echo "# sym_bench missing in one of the builds: skipped"

"$PY" - "$data" <<'PY'
import sys
from collections import OrderedDict

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

rows = OrderedDict()  # (table, row) -> {"unit":, "before": {round: v}, "after": {round: v}}
for line in open(sys.argv[1]):
    table, row, side, rnd, value, unit = line.rstrip("\n").split("\t")
    d = rows.setdefault((table, row), {"unit": unit, "before": {}, "after": {}})
    d[side][int(rnd)] = float(value)

titles = {
    "overhead": "per-op overhead: bench/overhead_bench, y = sum(tanh(W x + b)), W 16x16 (median of 5 repetitions per run)",
    "train": "training: nabla train, MLP 784-256-128-10, Fashion-MNIST, Adam (seconds per epoch)",
    "jacobian": "Jacobians and Hessians: bench/jacobian_bench (real time, median of 3 repetitions per run)",
    "sym": "symbolic derive+simplify (CPU time) and Hessians (real time): bench/sym_bench",
}
flagged = []
for table in OrderedDict.fromkeys(t for t, _ in rows):
    if table == "train-acc":
        continue
    keys = [k for k in rows if k[0] == table]
    w = max(24, max(len(k[1]) for k in keys))
    print()
    print(f"== {titles.get(table, table)}")
    print(f"{'row':<{w}} {'unit':>7} {'before':>11} {'after':>11} {'after/before':>13}  per round (after/before)")
    for k in keys:
        d = rows[k]
        b, a = d["before"], d["after"]
        if not b or not a:
            continue
        mb, ma = median(b.values()), median(a.values())
        per = [a[r] / b[r] for r in sorted(b) if r in a and b[r] > 0]
        print(f"{k[1]:<{w}} {d['unit']:>7} {mb:>11.4g} {ma:>11.4g} {ma / mb:>13.3f}  "
              + " ".join(f"{x:.3f}" for x in per))
        if len(per) >= 2 and all(x > 1.10 for x in per):
            flagged.append(f"{table}: {k[1]} ({ma / mb:.3f}, every round > 1.10)")
    if table == "train":
        acc = [(k[1], rows[k]) for k in rows if k[0] == "train-acc"]
        if acc:
            print("test accuracy after the last epoch (before / after): "
                  + ", ".join(f"{r}: {median(d['before'].values()):.4f} / {median(d['after'].values()):.4f}"
                              for r, d in acc))
print()
if max((len(d["before"]) for d in rows.values()), default=0) < 2:
    print("one round only: no check of which rows are slower in every round")
elif flagged:
    print("slower after in every round by more than 10%:")
    for f in flagged:
        print("  " + f)
else:
    print("no row is slower after by more than 10% in every round")
PY
