"""The module graph is enforced: every `#include "medvqa/<module>/..."` in src/, include/ and the
module's tests/ names the module itself or one it depends on, directly or through others, as
written once in its src/<module>/CMakeLists.txt (`medvqa_module(NAME ... DEPS medvqa_x ...)`).
Nothing points back up. The binary (src/cli) links every module and is not checked. The compiler
enforces the same graph: each module's TUs get only the include roots of the modules they reach."""
import json
import re
from pathlib import Path

from conftest import ROOT

MODULE = re.compile(r"medvqa_module\((\w+)(.*?)\)\s*$", re.S | re.M)
INCLUDE = re.compile(r'\s*#\s*include\s+"medvqa/(\w+)/')


def module_graph(root):
    """{module: the modules its DEPS name}, from every src/*/CMakeLists.txt."""
    graph = {}
    for cmake in sorted((root / "src").glob("*/CMakeLists.txt")):
        for m in MODULE.finditer(cmake.read_text()):
            deps = m.group(2).split("DEPS", 1)[1] if "DEPS" in m.group(2) else ""
            graph[m.group(1)] = set(re.findall(r"\bmedvqa_(\w+)", deps))
    return graph


def reachable(graph, module):
    seen, todo = set(), [module]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep in graph and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def violations(root):
    """'file:line: module includes other (allowed: ...)' for every include against the graph."""
    graph = module_graph(root)
    out = []
    for module in sorted(graph):
        allowed = reachable(graph, module) | {module}
        files = [*(root / "src" / module).glob("*.cpp"), *(root / "include/medvqa" / module).glob("*.h"),
                 *(root / "tests" / module).glob("*.cpp"), *(root / "tests" / module).glob("*.h")]
        for path in sorted(files):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                m = INCLUDE.match(line)
                if m and m.group(1) not in allowed:
                    out.append(f"{path.relative_to(root)}:{number}: {module} includes {m.group(1)} "
                               f"(allowed: {', '.join(sorted(allowed))})")
    return out


def test_every_include_follows_the_module_graph():
    graph = module_graph(ROOT)
    assert {"core", "io", "models", "data", "train", "eval"} <= set(graph), graph
    assert not violations(ROOT), "includes against the module graph:\n" + "\n".join(violations(ROOT))


def test_an_include_that_points_up_is_named_with_its_file_and_line(tmp_path):
    for module, deps in (("core", ""), ("io", "DEPS medvqa_core"), ("train", "DEPS medvqa_io")):
        (tmp_path / "src" / module).mkdir(parents=True)
        (tmp_path / "src" / module / "CMakeLists.txt").write_text(f"medvqa_module({module} SOURCES a.cpp {deps})\n")
    (tmp_path / "src/train/a.cpp").write_text('#include "medvqa/core/error.h"\n#include "medvqa/io/x.h"\n')
    (tmp_path / "src/io/a.cpp").write_text('#include <vector>\n\n#include "medvqa/train/trainer.h"\n')
    assert violations(tmp_path) == ["src/io/a.cpp:3: io includes train (allowed: core, io)"]


def include_roots(command):
    """The medvqa include roots a compile command puts on the path: {'core', ...}, and '*' for the
    whole include/ folder (which would let a module see every header)."""
    roots = set(re.findall(r"-I\S*/build[^/\s]*/include/(\w+)\b", command))
    if re.search(rf"-I{re.escape(str(ROOT / 'include'))}(\s|$)", command):
        roots.add("*")
    return roots


def test_a_module_compiles_with_only_its_own_and_its_dependencies_headers(medvqa_bin):
    """The graph is also the compiler's: every TU of src/<module>/ (as CMake wrote it into
    compile_commands.json) sees the include roots of its module and the modules it reaches, no more,
    so an include that points up fails to compile before any test runs."""
    graph = module_graph(ROOT)
    commands = json.loads((medvqa_bin.parent / "compile_commands.json").read_text())
    checked, wrong = 0, []
    for c in commands:
        path = Path(c["file"])
        if ROOT / "src" not in path.parents or path.parent.name not in graph:
            continue
        module = path.parent.name
        extra = include_roots(c["command"]) - reachable(graph, module) - {module}
        checked += 1
        if extra:
            wrong.append(f"{path.relative_to(ROOT)}: {module} sees {', '.join(sorted(extra))}")
    assert checked > 50, f"only {checked} module TUs in compile_commands.json"
    assert not wrong, "\n".join(wrong)


def test_include_roots_are_read_from_a_compile_command():
    cmd = f"c++ -I/x/build/include/train -I/x/build/include/core -I{ROOT / 'include'} -isystem /t -c a.cpp"
    assert include_roots(cmd) == {"train", "core", "*"}
