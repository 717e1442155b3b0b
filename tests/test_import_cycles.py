"""No import cycle among the project's modules (streams/, schemas/): each layer can be read and changed alone."""

from __future__ import annotations

from pathlib import Path

from tests.support.import_graph import cycles, import_graph, project_modules

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_has_no_import_cycle() -> None:
    modules = project_modules(ROOT, ["streams", "schemas"])
    assert "streams.agents" in modules and "streams.container" in modules  # the graph reads the real tree
    graph = import_graph(modules)
    assert "streams.container" in graph["streams.agents"]
    assert cycles(graph) == []


def test_the_agents_and_views_do_not_import_the_wiring() -> None:
    graph = import_graph(project_modules(ROOT, ["streams", "schemas"]))
    assert "streams.app" not in graph["streams.agents"] | graph["streams.web"] | graph["streams.container"]


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/app.py", "def wire():\n    from pkg.agents import register\n")
    write(tmp_path, "pkg/agents.py", "from pkg.app import wire\n")
    write(tmp_path, "pkg/web.py", "from . import agents\n")
    assert cycles(import_graph(project_modules(tmp_path, ["pkg"]))) == [["pkg.agents", "pkg.app"]]


def test_relative_and_submodule_imports_are_edges(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/sub/__init__.py", "from ..web import view\n")
    write(tmp_path, "pkg/web.py", "from pkg import sub, VERSION\nimport json\n")
    graph = import_graph(project_modules(tmp_path, ["pkg"]))
    assert graph["pkg.sub"] == {"pkg.web"} and graph["pkg.web"] == {"pkg", "pkg.sub"}  # VERSION: from the package
    assert cycles(graph) == [["pkg.sub", "pkg.web"]]


def test_a_package_that_registers_its_submodule_lazily_is_no_cycle(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "def register():\n    from pkg.views import register\n")
    write(tmp_path, "pkg/views.py", "from pkg import tables\n")
    write(tmp_path, "pkg/tables.py", "")
    graph = import_graph(project_modules(tmp_path, ["pkg"]))
    assert graph["pkg.views"] == {"pkg.tables"} and cycles(graph) == []
