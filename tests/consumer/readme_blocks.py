#!/usr/bin/python3
"""The README's C++ blocks as programs of an outside project.

Every ```cpp block of README.md becomes a program built against the
installed package: a block with its own `int main(` as it is; the other
blocks of one `##` section, in order, as the body of one main() that
includes <nabla/nabla.hpp> and <iostream> (so a section's second block may
use what its first declared). Writes OUT/CMakeLists.txt (one executable per
program, readme_1, readme_2, ...) and OUT/programs.txt (their names and the
README line each starts at). A block right after a line
`<!-- compiled by FILE -->` is a fragment that FILE compiles and runs in
its context, and is left to it.

    readme_blocks.py README.md OUT
"""
import os
import sys


def programs(lines):
    out, section, fragments = [], None, []

    def flush():
        if fragments:
            start = fragments[0][0]
            body = "\n".join(code for _, code in fragments)
            out.append((start, "#include <nabla/nabla.hpp>\n\n#include <iostream>\n\nint main() {\n" + body +
                        "\n  return 0;\n}\n"))
            fragments.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            flush()
            section = line
        if line.strip() == "```cpp":
            start, block = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                block.append(lines[i])
                i += 1
            if i == len(lines):
                sys.exit(f"README.md:{start}: a ```cpp block is not closed")
            code = "\n".join(block)
            before = next((lines[k].strip() for k in range(start - 2, -1, -1) if lines[k].strip()), "")
            if before.startswith("<!-- compiled by "):
                pass
            elif "int main(" in code:
                out.append((start, code + "\n"))
            else:
                fragments.append((start, code))
        i += 1
    flush()
    return out


def main():
    readme, dest = sys.argv[1], sys.argv[2]
    with open(readme, encoding="utf-8") as f:
        progs = programs(f.read().split("\n"))
    if not progs:
        sys.exit(f"{readme}: no ```cpp block")
    os.makedirs(dest, exist_ok=True)
    cmake = ["cmake_minimum_required(VERSION 3.25)", "project(nabla_readme LANGUAGES CXX)",
             "find_package(nabla 0.1 REQUIRED)"]
    names = []
    for k, (line, code) in enumerate(progs, 1):
        name = f"readme_{k}"
        with open(os.path.join(dest, name + ".cpp"), "w", encoding="utf-8") as f:
            f.write(f"// README.md line {line}\n" + code)
        # No CMAKE_CXX_STANDARD: the package's target must ask for C++20 itself.
        cmake.append(f"add_executable({name} {name}.cpp)")
        cmake.append(f"target_link_libraries({name} PRIVATE nabla::nabla)")
        names.append(f"{name} {line}")
    with open(os.path.join(dest, "CMakeLists.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(cmake) + "\n")
    with open(os.path.join(dest, "programs.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
