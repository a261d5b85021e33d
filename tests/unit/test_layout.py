"""The layout keeps its promises: small modules, thin actors and routes, one composition root,
fakes beside the ports. Read from the source text and its syntax tree; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "mailroute"
SANDBOX = ROOT / "mailroute_sandbox"
FAKES = ROOT / "tests" / "fakes.py"

MAX_MODULE_LINES = 300
MAX_ENTRY_POINT_LINES = 15
ROUTE_METHODS = {"get", "post", "put", "delete", "patch", "head", "options", "api_route"}
COMPOSITION_ROOT = "mailroute.bootstrap"
ADAPTERS = "mailroute.adapters"
# Third-party constructors that only the composition root (or an adapter) may call, and the
# packages they must be imported from to count.
THIRD_PARTY_CONSTRUCTORS = {"RabbitmqBroker": "dramatiq", "ConnectionPool": "psycopg_pool"}
ADAPTER_FACTORIES = ("make_pool", "build_broker")
PROTOCOL = {"typing.Protocol", "typing_extensions.Protocol"}


@dataclass(frozen=True)
class Module:
    path: Path
    name: str
    tree: ast.Module

    @property
    def where(self) -> str:
        return str(self.path.relative_to(ROOT))

    def is_in(self, package: str) -> bool:
        return self.name == package or self.name.startswith(package + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _parse(path: Path) -> Module:
    return Module(path, _module_name(path), ast.parse(path.read_text(), filename=str(path)))


def _modules(*packages: Path) -> Iterator[Module]:
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            yield _parse(path)


def _imported_names(module: Module) -> dict[str, str]:
    """Each name an import binds in the module, mapped to the dotted name it stands for."""
    is_package = module.path.name == "__init__.py"
    package = module.name if is_package else module.name.rpartition(".")[0]
    names: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    root = alias.name.partition(".")[0]
                    names[root] = root
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _dotted(expr: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return parts[::-1]


def _resolve(expr: ast.expr, imported: dict[str, str]) -> str | None:
    """The full dotted name `expr` refers to through the module's imports, if it is imported
    (`Port[T]` resolves as `Port`)."""
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    parts = _dotted(expr)
    if parts is None or parts[0] not in imported:
        return None
    return ".".join([imported[parts[0]], *parts[1:]])


def _functions(module: Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of the module, nested ones too, in line order."""
    functions = [
        node
        for node in ast.walk(module.tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    return sorted(functions, key=lambda function: function.lineno)


def _length_without_docstring(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from `def` to the function's last line, decorators and docstring left out."""
    assert function.end_lineno is not None
    length = function.end_lineno - function.lineno + 1
    first = function.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        assert first.end_lineno is not None
        length -= first.end_lineno - first.lineno + 1
    return length


def _too_long(module: Module, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    length = _length_without_docstring(function)
    if length <= MAX_ENTRY_POINT_LINES:
        return None
    return f"{module.where}:{function.lineno} {function.name} has {length} lines"


def _is_actor(function: ast.FunctionDef | ast.AsyncFunctionDef, imported: dict[str, str]) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _resolve(target, imported) == "dramatiq.actor":
            return True
    return False


def _app_and_router_names(module: Module, imported: dict[str, str]) -> set[str]:
    """`app` and `router`, and any other name the module binds to a FastAPI app or router."""
    names = {"app", "router"}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            made = _resolve(node.value.func, imported) or ""
            if made.rpartition(".")[2] in {"FastAPI", "APIRouter"}:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def _is_route(function: ast.FunctionDef | ast.AsyncFunctionDef, apps: set[str]) -> bool:
    for decorator in function.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr in ROUTE_METHODS
            and isinstance(decorator.func.value, ast.Name)
            and decorator.func.value.id in apps
        ):
            return True
    return False


def test_no_module_is_over_300_lines() -> None:
    too_long = [
        f"{module.where} has {lines} lines"
        for module in _modules(PRODUCT, SANDBOX)
        if (lines := len(module.path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not too_long, f"split these modules (at most {MAX_MODULE_LINES} lines each):\n" + (
        "\n".join(too_long)
    )


def test_every_actor_is_at_most_15_lines() -> None:
    actors = [
        (module, function)
        for module in _modules(PRODUCT)
        for function in _functions(module)
        if _is_actor(function, _imported_names(module))
    ]
    assert actors, "found no function decorated with dramatiq.actor under mailroute/"
    too_long = [offence for module, actor in actors if (offence := _too_long(module, actor))]
    assert not too_long, (
        f"actors parse, call one function and publish what it returns: at most "
        f"{MAX_ENTRY_POINT_LINES} lines from `def` to the end, docstring left out:\n"
        + "\n".join(too_long)
    )


def test_every_route_handler_is_at_most_15_lines() -> None:
    routes = []
    for module in _modules(PRODUCT):
        apps = _app_and_router_names(module, _imported_names(module))
        routes += [(module, handler) for handler in _functions(module) if _is_route(handler, apps)]
    assert routes, "found no FastAPI route handler (@router.get(...), @app.post(...)) in mailroute/"
    too_long = [offence for module, route in routes if (offence := _too_long(module, route))]
    assert not too_long, (
        f"route handlers only glue: at most {MAX_ENTRY_POINT_LINES} lines from `def` to the "
        "end, docstring left out:\n" + "\n".join(too_long)
    )


def _adapter_constructors() -> dict[str, set[str]]:
    """Each constructor name only adapters and the composition root may call, mapped to the
    modules or packages it must be imported from to count (so that a class of the same name
    defined elsewhere is not taken for it)."""
    homes: dict[str, set[str]] = {}
    for module in _modules(PRODUCT):
        for node in module.tree.body:
            if (isinstance(node, ast.ClassDef) and module.is_in(ADAPTERS)) or (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name in ADAPTER_FACTORIES
            ):
                homes.setdefault(node.name, {ADAPTERS}).add(module.name)
    for name, package in THIRD_PARTY_CONSTRUCTORS.items():
        homes.setdefault(name, {ADAPTERS}).add(package)
    return homes


def test_only_adapters_and_the_composition_root_construct_adapters() -> None:
    homes = _adapter_constructors()
    offences = []
    for module in _modules(PRODUCT):
        if module.is_in(ADAPTERS) or module.is_in(COMPOSITION_ROOT):
            continue
        imported = _imported_names(module)
        calls = sorted(
            (node for node in ast.walk(module.tree) if isinstance(node, ast.Call)),
            key=lambda call: (call.lineno, call.col_offset),
        )
        for call in calls:
            called = _resolve(call.func, imported)
            if called is None:
                continue
            name = called.rpartition(".")[2]
            if any(called.startswith(home + ".") for home in homes.get(name, ())):
                offences.append(f"{module.where}:{call.lineno} calls {name} ({called})")
    assert not offences, (
        "only mailroute/adapters/ and the composition root (mailroute/bootstrap/) construct "
        "adapters, pools and brokers; take them from mailroute.bootstrap instead:\n"
        + "\n".join(offences)
    )


def _core_ports() -> set[str]:
    """The names of the ports: the Protocol classes defined under mailroute/core/."""
    ports = set()
    for module in _modules(PRODUCT / "core"):
        imported = _imported_names(module)
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef) and any(
                _resolve(base, imported) in PROTOCOL for base in node.bases
            ):
                ports.add(node.name)
    return ports


def test_tests_have_fakes_that_subclass_the_core_ports() -> None:
    assert FAKES.is_file(), (
        "tests/fakes.py is missing: it holds the in-memory fakes (`Fake<Role>`, each subclassing "
        "a port of mailroute.core) that unit tests of core, services and actors use"
    )
    ports = _core_ports()
    module = _parse(FAKES)
    imported = _imported_names(module)
    fakes: dict[str, list[str]] = {}
    for node in module.tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Fake"):
            bases = [_resolve(base, imported) or "" for base in node.bases]
            fakes[node.name] = [
                base
                for base in bases
                if base.startswith("mailroute.core.") and base.rpartition(".")[2] in ports
            ]
    assert fakes, "tests/fakes.py defines no `Fake…` class"
    portless = [name for name, subclassed in fakes.items() if not subclassed]
    assert not portless, (
        f"each fake subclasses the port it stands in for (a Protocol of mailroute.core; "
        f"known ports: {', '.join(sorted(ports)) or 'none'}); these subclass none:\n"
        + "\n".join(portless)
    )
