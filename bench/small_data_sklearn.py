#!/usr/bin/python3
"""nabla's defaults against scikit-learn's MLP defaults on five small data
sets from scikit-learn (iris, wine, breast-cancer, digits: classification;
diabetes: regression), on the same train/test split.

Each data set is split 75/25 (train_test_split, random_state=0, stratified
for classification) and written as CSV; then, for each seed,

  nabla train --data train.csv --test-data test.csv --label target --quiet --seed S
  MLPClassifier(random_state=S) / MLPRegressor(random_state=S), on raw
      features and behind a StandardScaler (nabla standardizes by default)

and the test accuracy (regression: R² and RMSE) is printed, as a Markdown
table, with the wall time of each. Needs python3-sklearn (Debian).

    /usr/bin/python3 bench/small_data_sklearn.py --nabla build/rel/nabla [--seeds 3] [-- --patience 10]
"""
import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SETS = [("iris", datasets.load_iris, True), ("wine", datasets.load_wine, True),
        ("breast-cancer", datasets.load_breast_cancer, True), ("digits", datasets.load_digits, True),
        ("diabetes", datasets.load_diabetes, False)]


def write_csv(path, x, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(x.shape[1])] + ["target"])
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [int(t) if float(t).is_integer() else repr(float(t))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("nabla_args", nargs="*", help="more options for nabla train (after --)")
    a = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("| data set | rows (train/test) | nabla defaults | nabla s | sklearn MLP defaults | sklearn s | sklearn MLP + StandardScaler | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, load, classify in SETS:
            d = load()
            xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.25, random_state=0,
                                                  stratify=d.target if classify else None)
            tr, te = os.path.join(tmp, name + "-train.csv"), os.path.join(tmp, name + "-test.csv")
            write_csv(tr, xtr, ytr)
            write_csv(te, xte, yte)
            res = {"nabla": [], "raw": [], "scaled": []}
            secs = {"nabla": 0.0, "raw": 0.0, "scaled": 0.0}
            for seed in range(a.seeds):
                mj = os.path.join(tmp, "m.json")
                t0 = time.perf_counter()
                args = [a.nabla, "train", "--data", tr, "--test-data", te, "--label", "target", "--quiet",
                        "--seed", str(seed), "--out", os.path.join(tmp, "m.st"), "--metrics-json", mj]
                if not classify:
                    args += ["--task", "regression"]  # diabetes's target is integer-valued
                args += a.nabla_args
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
                secs["nabla"] += time.perf_counter() - t0
                # The model the checkpoint keeps (the best epoch's with --patience), on the test file.
                ej = os.path.join(tmp, "e.json")
                subprocess.run([a.nabla, "evaluate", "--model", os.path.join(tmp, "m.st"), "--metrics-json", ej],
                               check=True, stdout=subprocess.DEVNULL)
                e = json.load(open(ej))
                res["nabla"].append(e["accuracy"] if classify else (e["r2"], e["rmse"]))
                for kind in ("raw", "scaled"):
                    model = (MLPClassifier if classify else MLPRegressor)(random_state=seed)
                    if kind == "scaled":
                        model = make_pipeline(StandardScaler(), model)
                    t0 = time.perf_counter()
                    model.fit(xtr, ytr)
                    p = model.predict(xte)
                    secs[kind] += time.perf_counter() - t0
                    res[kind].append(accuracy_score(yte, p) if classify else
                                     (r2_score(yte, p), mean_squared_error(yte, p) ** 0.5))

            def show(v):
                if classify:
                    return f"{100 * np.mean(v):.1f}% (" + ", ".join(f"{100 * x:.1f}" for x in v) + ")"
                r2 = [x[0] for x in v]
                rmse = [x[1] for x in v]
                return f"R² {np.mean(r2):.3f}, RMSE {np.mean(rmse):.1f}"

            n = a.seeds
            print(f"| {name} | {len(ytr)}/{len(yte)} | {show(res['nabla'])} | {secs['nabla'] / n:.2f} | "
                  f"{show(res['raw'])} | {secs['raw'] / n:.2f} | {show(res['scaled'])} | {secs['scaled'] / n:.2f} |")


if __name__ == "__main__":
    main()
