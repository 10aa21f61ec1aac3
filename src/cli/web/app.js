// The page of `nabla serve`: sends the form to POST /api/diff and shows the
// answer. Everything the server sends is inserted as text or typeset by
// KaTeX (trust off); nothing is inserted as HTML. A query string
// (?expr=…&let=…&wrt=x&layout=…&order=…&emit=numpy) fills the form and
// derives at once.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// Typesets LaTeX into node, or shows the fallback text when KaTeX is absent.
function typeset(node, latex, fallback) {
  if (window.katex) {
    try {
      window.katex.render(latex, node, { displayMode: true, throwOnError: false, trust: false });
      return;
    } catch (e) { /* shown as text below */ }
  }
  node.textContent = fallback;
}

function latexName(name) {
  return name.replace(/_/g, "\\_");
}

function wrtList(text) {
  return text.split(/[\s,]+/).filter((s) => s.length > 0);
}

function request() {
  return {
    expr: $("expr").value,
    let: $("let").value,
    wrt: wrtList($("wrt").value),
    layout: $("layout").value,
    order: Number($("order").value),
    check: $("check").checked,
    steps: $("steps").checked,
    emit: $("emit").value,
  };
}

function showCaret(field, column) {
  for (const f of ["expr", "let"]) $(f + "-caret").hidden = true;
  if (!column || (field !== "expr" && field !== "let")) return;
  const pre = $(field + "-caret");
  pre.textContent = $(field).value + "\n" + " ".repeat(column - 1) + "^";
  pre.hidden = false;
}

function showError(body) {
  document.body.dataset.state = "error";
  $("result").hidden = true;
  const box = $("error");
  box.replaceChildren(el("strong", { text: "error: " }), el("span", { id: "error-message", text: body.error }));
  box.hidden = false;
  showCaret(body.field, body.column);
  $("status").textContent = "";
}

function derivativeHead(kind, name, vecForm) {
  if (vecForm) {  // a tensor-valued derivative, as the matrix ∂vec(F)/∂vec(X)ᵀ
    const x = latexName(name.includes(",") ? name.split(",")[1] : name);
    const of = kind === "hessian" ? "\\nabla f" : "f";
    return `\\frac{\\partial \\operatorname{vec}(${of})}{\\partial \\operatorname{vec}(${x})^{\\top}} = `;
  }
  if (name.includes(",")) {  // a block of second derivatives, "x,y"
    const [x, y] = name.split(",").map(latexName);
    return `\\frac{\\partial^2 f}{\\partial ${x}\\,\\partial ${y}} = `;
  }
  const x = latexName(name);
  if (kind === "gradient") return `\\nabla_{${x}} f = `;
  if (kind === "hessian") return `\\nabla^2_{${x}} f = `;
  return `\\frac{\\partial f}{\\partial ${x}} = `;
}

function showCheck(name, c) {
  const ok = c.ok === true;
  const box = el("div", { class: "check " + (ok ? "ok" : "bad"), id: "check-" + name });
  box.dataset.ok = ok ? "true" : "false";
  if (c.error) {
    box.append(el("span", { class: "verdict", text: "check: not run" }), " ", el("span", { text: c.error }));
    return box;
  }
  box.append(el("span", { class: "verdict", text: ok ? "check: ok" : "check: MISMATCH" }));
  box.append(el("pre", { text: c.text }));
  return box;
}

function showSteps(s) {
  const d = el("details", { class: "steps" });
  d.open = true;
  d.append(el("summary", { text: "Steps" }), el("pre", { text: s.text }));
  return d;
}

function showResult(r) {
  document.body.dataset.state = "done";
  $("error").hidden = true;
  showCaret("", 0);
  typeset($("f"), `f = ${r.expr.latex}`, `f = ${r.expr.text}`);
  const list = $("derivatives");
  list.replaceChildren();
  for (const name of r.labels) {
    const d = r.derivatives[name];
    const kind = r.kind[name];
    const box = el("div", { class: "derivative", id: "d-" + name });
    box.append(el("h2", { text: `${kind} with respect to ${name.replace(",", " and ")}` }));
    const math = el("div", { class: "math" });
    typeset(math, derivativeHead(kind, name, d.vec_form === true) + d.latex, d.text);
    box.append(math);
    if (typeof d.index === "string")  // the same derivative in index notation
      box.append(el("p", { class: "index" }, "index notation: ", el("span", { class: "index-text", text: d.index })));
    box.append(el("p", { class: "meta" },
                  el("span", {}, "text: ", el("span", { class: "text", text: d.text })),
                  el("span", { text: `shape: ${d.shape[0]}×${d.shape[1]}` })));
    if (r.check && r.check[name]) box.append(showCheck(name, r.check[name]));
    if (r.steps && r.steps[name]) box.append(showSteps(r.steps[name]));
    list.append(box);
  }
  const code = $("code");
  if (r.code && typeof r.code.text === "string") {
    code.replaceChildren(el("pre", { id: "code-text", text: r.code.text }));
  } else if (r.code && r.code.error) {
    code.replaceChildren(el("p", { class: "unavailable", text: "no code: " + r.code.error }));
  } else {
    code.replaceChildren(el("p", { class: "unavailable", text: "Choose a language for the generated code." }));
  }
  $("result").hidden = false;
  $("status").textContent = "";
}

async function derive() {
  const req = request();
  const q = new URLSearchParams({ expr: req.expr, let: req.let, wrt: req.wrt.join(","),
                                  layout: req.layout, order: String(req.order), emit: req.emit });
  history.replaceState(null, "", "?" + q.toString());
  $("status").textContent = "deriving…";
  document.body.dataset.state = "busy";
  let res, body;
  try {
    res = await fetch("/api/diff", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify(req) });
    body = await res.json();
  } catch (e) {
    showError({ error: "no answer from the server (" + e.message + ")" });
    return;
  }
  if (!res.ok || body.error) showError(body);
  else showResult(body);
}

function init() {
  const q = new URLSearchParams(location.search);
  for (const k of ["expr", "let", "wrt", "layout", "order", "emit"]) {
    if (q.has(k)) $(k).value = q.getAll(k).join(k === "wrt" ? "," : " ");
  }
  if (q.get("check") === "0") $("check").checked = false;
  if (q.get("steps") === "0") $("steps").checked = false;
  $("form").addEventListener("submit", (ev) => { ev.preventDefault(); derive(); });
  if (q.get("expr")) derive();
}

document.addEventListener("DOMContentLoaded", init);
