"""The package's architecture, read from its source with `ast`.

Dependencies point one way, low to high (`LAYERS`): shared utilities ->
tokenizers -> layers -> models -> data -> generation -> training ->
evaluation, serving -> run-level packages (runs, tasks, checkpoints, ...)
-> the command line. A module may import its own layer and the layers
below, never one above; evaluation and serving, siblings on one layer, do
not import each other, and neither evaluation nor the checkpoint importers
import the trainer. Every `import`, at module level or inside a function,
counts (and `importlib.import_module("keras_lm...")` with a literal name);
only imports under `if TYPE_CHECKING:` do not. `keras_lm/__init__.py` is
exempt: it imports what registers Keras classes.

Also: no module uses another module's private (`_name`) names, library
errors do not name command-line flags (only the CLI knows them), and no
module is over `MAX_LINES` lines.

Each test lists every violation, one per line (`path:line: what`).
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_lm"
MAX_LINES = 400

#: Layer of each top-level module or subpackage of keras_lm (`cli_*.py`,
#: a `cli/` package and `__main__.py` count as "cli").
LAYERS = {
    # 0: shared utilities, importable from anywhere.
    "errors": 0, "io_utils": 0, "tf_import": 0, "registry": 0,
    "tokenizers": 1,
    "layers": 2,
    "models": 3,
    "data": 4,
    "generation": 5,
    "training": 6,
    "evaluation": 7, "serving": 7,
    # Run-level: whole jobs and run directories, using everything below.
    "checkpoints": 8, "presets": 8, "tasks": 8, "runs": 8, "pipelines": 8,
    "cli": 9,
}
#: Layers whose components may not import each other (only themselves).
SIBLINGS_INDEPENDENT = {7}
#: Components that may not import the trainer (`keras_lm.training.trainer`,
#: or a name the `keras_lm.training` package re-exports from it).
NO_TRAINER = {"evaluation", "checkpoints"}
EXEMPT = {"keras_lm"}  # keras_lm/__init__.py
#: `(importer, imported)` pairs allowed against the order, each a name kept
#: where it used to live: `from keras_lm.training import train` (now
#: `keras_lm.runs.train`, which creates and resumes run directories).
COMPATIBILITY_ALIASES = {("keras_lm.training", "keras_lm.runs")}
FLAG = re.compile(r"(^|[\s(`'\"])--[a-z]")


def _modules():
    """`{dotted module name: path}` of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(name):
    return name in MODULES and MODULES[name].name == "__init__.py"


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _component(name):
    """The `LAYERS` key of module `name` (None for the root package)."""
    parts = name.split(".")
    if len(parts) == 1:
        return None
    top = parts[1]
    if top == "cli" or top.startswith("cli_") or top == "__main__":
        return "cli"
    return top


def _is_type_checking(test):
    name = getattr(test, "id", getattr(test, "attr", None))
    return isinstance(test, (ast.Name, ast.Attribute)) and (
        name == "TYPE_CHECKING")


def _runtime_nodes(tree):
    """Every node of `tree` except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _absolute(module, node):
    """The absolute module an `ImportFrom` in `module` names."""
    if not node.level:
        return node.module
    base = module.split(".")
    if not _is_package(module):
        base.pop()
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, tree):
    """`(line, target module, imported name or None)` for every keras_lm
    import in `tree`: `from a import b` gives target `a.b` when that is a
    module, else `a` with name `b`."""
    found = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "keras_lm":
                    found.append((node.lineno, alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if not source or source.split(".")[0] != "keras_lm":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    found.append((node.lineno, submodule, None))
                else:
                    found.append((node.lineno, source, alias.name))
        elif (isinstance(node, ast.Call)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)
              and str(node.args[0].value).startswith("keras_lm")):
            found.append((node.lineno, node.args[0].value, None))
    return found


def _parsed():
    for name, path in MODULES.items():
        yield name, path, ast.parse(path.read_text(), str(path))


def _root_names():
    """Public names keras_lm/__init__.py itself assigns (`__version__`):
    importing them is fine; its lazy attributes come from other modules."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets
                         if isinstance(t, ast.Name) and not _is_private(t.id))
    return names


def _trainer_names():
    """Names `keras_lm.training`'s `__init__` takes from the trainer."""
    init = PACKAGE / "training" / "__init__.py"
    if not init.exists():
        return set()
    names = set()
    for node in ast.walk(ast.parse(init.read_text())):
        if (isinstance(node, ast.ImportFrom)
                and node.module == "keras_lm.training.trainer"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def test_dependencies_point_one_way():
    violations = []
    trainer_names = _trainer_names()
    root_names = _root_names()
    for name, path, tree in _parsed():
        if name in EXEMPT:
            continue
        component = _component(name)
        if component not in LAYERS:
            violations.append(f"{_rel(path)}:1: {component!r} is in no layer;"
                              f" add it to LAYERS in this test")
            continue
        layer = LAYERS[component]
        for line, target, imported in _imports(name, tree):
            where = f"{_rel(path)}:{line}: {component} (layer {layer})"
            what = target + (f".{imported}" if imported else "")
            if target in EXEMPT and imported in root_names:
                continue
            if (name, target) in COMPATIBILITY_ALIASES:
                continue
            if target in EXEMPT:
                violations.append(f"{where} imports {imported or target!r} "
                                  f"from keras_lm/__init__.py; import it "
                                  f"from the module that defines it")
                continue
            other = _component(target)
            if other not in LAYERS:
                violations.append(f"{where} imports {what}, which is in no "
                                  f"layer")
                continue
            if LAYERS[other] > layer:
                violations.append(f"{where} imports {what} ({other}, layer "
                                  f"{LAYERS[other]})")
            elif (LAYERS[other] == layer and other != component
                  and layer in SIBLINGS_INDEPENDENT):
                violations.append(f"{where} imports {what} ({other}, its "
                                  f"sibling on layer {layer})")
            if component in NO_TRAINER and (
                    target.startswith("keras_lm.training.trainer")
                    or (target == "keras_lm.training"
                        and imported in trainer_names)):
                violations.append(f"{where} imports the trainer ({what})")
    if violations:
        pytest.fail(_report("imports against the layer order", violations),
                    pytrace=False)


def _report(what, violations):
    """The assertion message: `what`, then the violations one per line in
    file and line order."""
    def key(violation):
        path, line, _ = (violation.split(":", 2) + ["0", ""])[:3]
        return path, int(line) if line.isdigit() else 0

    ordered = sorted(violations, key=key)
    return f"{len(ordered)} {what}:\n" + "\n".join(ordered)


def _is_private(attribute):
    return attribute.startswith("_") and not (attribute.startswith("__")
                                              and attribute.endswith("__"))


def _dotted(node):
    """`["a", "b", "c"]` for the expression `a.b.c`, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _module_aliases(module, tree):
    """`{local name: keras_lm module}` for the names `tree`'s imports bind
    to keras_lm modules (in any scope)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "keras_lm":
                    continue
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases["keras_lm"] = "keras_lm"
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if not source or source.split(".")[0] != "keras_lm":
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = (
                        f"{source}.{alias.name}")
    return aliases


def _private_uses(name, tree):
    """`(line, what)` for each private name of another keras_lm module that
    module `name` imports or uses as `module._name`."""
    found = []
    for line, target, imported in _imports(name, tree):
        if imported and _is_private(imported) and target != name:
            found.append((line, f"imports {imported} from {target}"))
    aliases = _module_aliases(name, tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        parts = _dotted(node)
        if not parts or parts[0] not in aliases:
            continue
        target, rest = aliases[parts[0]], parts[1:]
        while rest and f"{target}.{rest[0]}" in MODULES:
            target, rest = f"{target}.{rest[0]}", rest[1:]
        # Each chain once, at the attribute right after the module.
        if len(rest) == 1 and _is_private(rest[0]) and target != name:
            found.append((node.lineno, f"uses {target}.{rest[0]}"))
    return found


def test_no_module_uses_another_modules_private_names():
    violations = [f"{_rel(path)}:{line}: {what}"
                  for name, path, tree in _parsed()
                  for line, what in _private_uses(name, tree)]
    if violations:
        pytest.fail(_report("uses of another module's private names",
                            violations), pytrace=False)


def _leading_string(node):
    """The literal text an expression starts with ("" if none)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _leading_string(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _leading_string(node.left)
    return ""


def _call_name(call):
    return getattr(call.func, "attr", getattr(call.func, "id", None))


def test_library_errors_do_not_name_cli_flags():
    """Outside the CLI no `KerasLMError(...)` message and no `check_*(...)`
    argument of keras_lm.errors names a `--flag`: a library user passes
    arguments, not flags; the CLI maps one to the other."""
    violations = []
    for name, path, tree in _parsed():
        if _component(name) == "cli":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = _call_name(node)
            if called == "KerasLMError" or (called or "").startswith("check_"):
                arguments = [*node.args, *(k.value for k in node.keywords)]
                texts = [n.value for a in arguments for n in ast.walk(a)
                         if isinstance(n, ast.Constant)
                         and isinstance(n.value, str)]
                flagged = [t for t in texts if FLAG.search(t)]
                first = _leading_string(node.args[0]) if node.args else ""
                if first.startswith("--") and not flagged:  # "--" + name
                    flagged = [first + "..."]
                if flagged:
                    violations.append(f"{_rel(path)}:{node.lineno}: "
                                      f"{called}(...) names "
                                      f"{flagged[0].strip()!r}")
    if violations:
        pytest.fail(_report("library errors naming CLI flags", violations),
                    pytrace=False)


def test_no_module_is_over_the_line_limit():
    too_long = [f"{_rel(path)}: {n} lines" for path in MODULES.values()
                if (n := len(path.read_text().splitlines())) > MAX_LINES]
    if too_long:
        pytest.fail(f"{len(too_long)} modules over {MAX_LINES} lines:\n"
                    + "\n".join(too_long), pytrace=False)
