#!/usr/bin/python3
"""The page of `nabla serve` in a real browser.

Starts `nabla serve --port 0`, loads the page in headless Chromium with a
query string that fills the form and derives on load, and checks the DOM
Chromium dumps once the page has settled: the derivative typeset by KaTeX
(its MathML annotation holds the LaTeX, its HTML the symbols), the check
saying ok, the steps, the generated code; and for a parse error,
the message and the caret under the column. A screenshot of each page is
kept in --out (the build tree's tests/web/).

    page_test.py --nabla build/release/nabla --out build/release/tests/web

Exit status: 0 passed, 1 failed, 77 skipped (Chromium is not installed).
"""
import argparse
import ctypes
import html
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

SKIP = 77


def die_with_parent():
    """In the child: SIGKILL when the test process dies (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Server:
    """`nabla serve --port 0`; stopped (its whole process group) on exit."""

    def __init__(self, nabla):
        self.proc = subprocess.Popen([nabla, "serve", "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=die_with_parent)
        line = b""
        deadline = time.monotonic() + 15
        while b"\n" not in line and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        m = re.search(rb"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            err = os.read(self.proc.stderr.fileno(), 4096) if self.proc.poll() is not None else b""
            self.stop()
            raise RuntimeError(f"nabla serve did not start: {line!r} {err!r}")
        self.url = f"http://127.0.0.1:{int(m.group(1))}/"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def chromium(browser, profile, url, *mode):
    """Runs headless Chromium on url; returns stdout. Its processes share a
    session, killed together when it overruns."""
    args = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--window-size=1100,1700",
            "--virtual-time-budget=10000", *mode, url]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)
    try:
        out, _ = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"chromium did not finish within 40 s on {url}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # helpers left behind, if any
        except ProcessLookupError:
            pass
    return out.decode("utf-8", "replace")


def element(dom, elem_id):
    """The outer HTML of the element with this id (up to its matching end tag)."""
    m = re.search(r'<(\w+)[^>]*\bid="%s"' % re.escape(elem_id), dom)
    if not m:
        return None
    tag, depth, pos = m.group(1), 0, m.start()
    for t in re.finditer(r"<(/?)%s\b[^>]*>" % tag, dom[pos:]):
        depth += -1 if t.group(1) else 1
        if depth == 0:
            return dom[pos:pos + t.end()]
    return dom[pos:]


def text_of(fragment):
    return html.unescape(re.sub(r"<[^>]+>", "", fragment or ""))


class Checks:
    def __init__(self):
        self.failures = []

    def expect(self, cond, what):
        print(("ok    " if cond else "FAIL  ") + what)
        if not cond:
            self.failures.append(what)


def page_url(base, **query):
    return base + "?" + urllib.parse.urlencode(query)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nabla", required=True)
    ap.add_argument("--out", required=True, help="folder for the DOM dumps and screenshots")
    a = ap.parse_args()
    browser = find_chromium()
    if not browser:
        print("SKIP: Chromium is not installed (Debian's chromium; scripts/setup.sh installs it)")
        return SKIP
    os.makedirs(a.out, exist_ok=True)
    c = Checks()
    with Server(a.nabla) as srv, tempfile.TemporaryDirectory(prefix="nabla-web-") as profile:
        # A gradient: typeset, checked, with its steps.
        url = page_url(srv.url, expr="x'*A*x", let="x:vector(n) A:matrix(n,n)", wrt="x")
        dom = chromium(browser, profile, url, "--dump-dom")
        with open(os.path.join(a.out, "gradient.html"), "w") as f:
            f.write(dom)
        c.expect('data-state="done"' in dom, "the page derived on load (body data-state=done)")
        d = element(dom, "d-x") or ""
        c.expect('class="katex"' in d, "the derivative is typeset by KaTeX")
        tex = text_of(" ".join(re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', d)))
        c.expect(r"\nabla_{x} f =" in tex and r"A^{\top}" in tex, f"KaTeX's source is the gradient: {tex!r}")
        shown = text_of(re.search(r'<span class="katex-html".*', d, re.S).group(0) if "katex-html" in d else "")
        c.expect("∇" in shown and "⊤" in shown and "A" in shown, "the typeset gradient shows ∇, A and ⊤")
        check = element(dom, "check-x")
        c.expect(check is not None and 'data-ok="true"' in check and "check: ok" in text_of(check),
                 "the numeric check says ok")
        c.expect("symbolic vs central finite differences" in text_of(check), "the check names finite differences")
        c.expect("product rule" in text_of(d), "the steps are shown")
        code = text_of(element(dom, "code-text"))
        c.expect("def derivatives(x, A):" in code and "import numpy as np" in code,
                 "the generated code (NumPy, the default) is shown")

        # The logistic loss, for the screenshot (the README's picture).
        url = page_url(srv.url, expr="sum(log(1 + exp(-y .* (X*w))))", let="X:matrix(m,n) w:vector(n) y:vector(m)",
                       wrt="w")
        dom = chromium(browser, profile, url, "--dump-dom")
        c.expect('data-state="done"' in dom and 'class="katex"' in (element(dom, "d-w") or ""),
                 "the logistic loss's gradient is typeset")
        c.expect('data-ok="true"' in (element(dom, "check-w") or ""), "its check says ok")
        png = os.path.join(a.out, "serve.png")
        if os.path.exists(png):
            os.remove(png)
        chromium(browser, profile, url, "--screenshot=" + png)
        ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 20000
        c.expect(ok, f"a screenshot is kept: {png}")

        # Several variables and a Jacobian.
        url = page_url(srv.url, expr="W*x + b", let="W:matrix(m,n) x:vector(n) b:vector(m)", wrt="x,b")
        dom = chromium(browser, profile, url, "--dump-dom")
        c.expect(element(dom, "d-x") is not None and element(dom, "d-b") is not None, "one answer per variable")
        tex = text_of(" ".join(re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>',
                                          element(dom, "d-x") or "")))
        c.expect(r"\frac{\partial f}{\partial x}" in tex and "W" in tex, f"the Jacobian is W: {tex!r}")

        # A parse error: the message, and a caret under its column.
        url = page_url(srv.url, expr="x'*A*y", let="x:vector(n) A:matrix(n,n)", wrt="x")
        dom = chromium(browser, profile, url, "--dump-dom")
        with open(os.path.join(a.out, "error.html"), "w") as f:
            f.write(dom)
        c.expect('data-state="error"' in dom, "a parse error is shown as an error")
        c.expect("unknown variable 'y'" in text_of(element(dom, "error-message")), "the error names y")
        caret = element(dom, "expr-caret") or ""
        c.expect("hidden" not in caret.split(">")[0] and text_of(caret).endswith("\n     ^"),
                 f"the caret stands under column 6: {text_of(caret)!r}")
    if c.failures:
        print(f"{len(c.failures)} check(s) failed; the pages are in {a.out}")
        return 1
    print(f"all checks passed; screenshot and DOM dumps in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
