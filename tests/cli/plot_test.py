#!/usr/bin/python3
"""`nabla train --plot` through the real binary: the SVG's structure, and the
picture headless Chromium renders from it.

Trains tiny CSV runs of 1, 3 and 300 epochs (and a resumed one) and checks
each SVG: at most 10 labelled epochs on the x axis, labels from the first
epoch to the last, every legend entry below its panel (so it covers no
curve), points on a one-epoch run, no curve for a test set that does not
exist, and the whole history after a resume. Then, when Chromium is
installed, renders each SVG to PNG and checks the picture's size and that it
is not blank (white with a few lines is not enough: many pixels of the
curves' colours).

    plot_test.py --nabla build/rel/nabla --out build/rel/tests/plot

Exit status: 0 passed, 1 failed, 77 the SVG checks passed but Chromium is
not installed.
"""
import argparse
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def train(nabla, *args):
    r = subprocess.run([nabla, "train", "--quiet", *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"nabla train {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def svg_checks(path, epochs, test_curve, fail):
    root = ET.parse(path).getroot()
    texts = [(float(t.get("x")), float(t.get("y")), "".join(t.itertext())) for t in root.iter(SVG + "text")]
    rects = [r for r in root.iter(SVG + "rect") if r.get("fill") == "none"]
    if len(rects) != 2:
        fail(f"{path}: {len(rects)} panels, expected 2")
        return
    bottom = max(float(r.get("y")) + float(r.get("height")) for r in rects)
    spans = [(float(r.get("x")), float(r.get("x")) + float(r.get("width"))) for r in rects]
    inside = lambda x: any(lo - 0.5 <= x <= hi + 0.5 for lo, hi in spans)
    numbers = sorted({int(s) for x, y, s in texts if s.isdigit() and inside(x) and bottom < y < bottom + 25})
    if not 1 <= len(numbers) <= 10:
        fail(f"{path}: {len(numbers)} labelled epochs on the x axis: {numbers}")
    if numbers and (numbers[0] < 1 or numbers[-1] > epochs or epochs - numbers[-1] > epochs / 5):
        fail(f"{path}: x labels {numbers} do not span epochs 1..{epochs}")
    legend = [(y, s) for x, y, s in texts if s.endswith(("loss", "accuracy", "RMSE")) and s not in ("loss", "accuracy", "RMSE")]
    if not legend:
        fail(f"{path}: no legend")
    for y, s in legend:
        if y <= bottom:
            fail(f"{path}: legend entry '{s}' at y={y} is inside the panels (bottom {bottom})")
    names = {s for _, s in legend}
    if ("test accuracy" in names) != test_curve:
        fail(f"{path}: legend {sorted(names)}: a test curve {'is missing' if test_curve else 'without a test set'}")
    lines = [p for p in root.iter(SVG + "polyline")]
    points = [len(p.get("points").split()) for p in lines]
    if any(n != epochs for n in points):
        fail(f"{path}: curves with {points} points, expected {epochs} each")
    circles = len(list(root.iter(SVG + "circle")))
    if epochs <= 30 and circles < epochs * len(lines):
        fail(f"{path}: {circles} points drawn for {len(lines)} curves of {epochs} epochs")


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"{path}: PNG of depth {depth}, colour type {color}")
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for r in range(height):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def render(browser, profile, svg, png):
    args = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--window-size=900,400", f"--screenshot={png}", "file://" + os.path.abspath(svg)]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, start_new_session=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", required=True)
    ap.add_argument("--out", required=True, help="folder for the SVGs and their PNGs")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failures = []
    fail = failures.append
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "d.csv")
        with open(data, "w") as f:
            f.write("a,b,label\n")
            for i in range(24):
                f.write(f"{math.sin(i)},{math.cos(i * 1.3)},{i % 2}\n")
        test = os.path.join(tmp, "t.csv")
        shutil.copy(data, test)
        common = ["--data", data, "--hidden", "4", "--batch-size", "8"]
        runs = {}
        for name, epochs, extra in (("one", 1, []), ("three", 3, ["--test-data", test]), ("many", 300, [])):
            svg = os.path.join(a.out, f"plot-{name}.svg")
            train(a.nabla, *common, *extra, "--epochs", str(epochs), "--out", os.path.join(tmp, name + ".st"),
                  "--plot", svg)
            runs[svg] = (epochs, bool(extra))
        # A resumed run plots the whole history.
        ckpt = os.path.join(tmp, "r.st")
        train(a.nabla, *common, "--epochs", "2", "--out", ckpt)
        svg = os.path.join(a.out, "plot-resumed.svg")
        train(a.nabla, "--resume", ckpt, "--epochs", "5", "--plot", svg)
        runs[svg] = (5, False)
        for svg, (epochs, has_test) in runs.items():
            svg_checks(svg, epochs, has_test, fail)
        browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
        if browser:
            for svg in runs:
                png = svg[:-4] + ".png"
                if os.path.exists(png):
                    os.remove(png)
                render(browser, os.path.join(tmp, "profile"), svg, png)
                if not os.path.exists(png):
                    fail(f"{svg}: Chromium wrote no picture")
                    continue
                w, h, bpp, rows = png_pixels(png)
                if (w, h) != (900, 400):
                    fail(f"{png}: {w}x{h}, expected 900x400")
                pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), bpp)]
                colours = {p for p in pixels}
                ink = sum(1 for p in pixels if p != b"\xff\xff\xff")
                # Curves in their colours: blue train loss, green validation accuracy.
                blue = sum(1 for p in pixels if p[2] > 150 and p[0] < 80)
                if len(colours) < 8 or ink < w * h // 100 or blue < 40:
                    fail(f"{png}: looks blank ({len(colours)} colours, {ink} non-white pixels, {blue} blue)")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    if not browser:
        print("SVG checks passed; Chromium is not installed, so nothing was rendered")
        return 77
    print(f"all checks passed; SVGs and PNGs in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
