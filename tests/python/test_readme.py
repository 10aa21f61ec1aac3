"""The README's Python examples run as written (in order, in one namespace)."""
import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def python_blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Python: `import nabla`"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = python_blocks()
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    ns = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), ns)  # noqa: S102
    assert ns["accuracy"] > 0.75                 # one epoch of the training loop
    assert ns["J"].shape == (3, 4) and ns["Jd"].shape == (4, 3)
    assert ns["H"].tolist() == [[6.0, 0.0], [0.0, 12.0]]
    assert ns["d"].text == "(1 - tanh(W*x + b).^2)*x'"
    assert ns["G"].shape == (2, 2) and ns["h"].text == "A + A'"
    assert ns["Net"]().num_parameters() == 784 * 10 + 10 + 10
    assert os.path.getsize("mlp.safetensors") > 4 * 784 * 256
