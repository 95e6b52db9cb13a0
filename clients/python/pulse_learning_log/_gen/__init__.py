"""The generated protobuf and gRPC modules, under the client's own name.

``pulse_learning_log._gen.pulse.learninglog.v1.learning_log_pb2`` is protoc's
``pulse/learninglog/v1/learning_log_pb2.py`` from the repository's
``gen/python``, unchanged: in a source checkout ``_gen/pulse`` and
``_gen/google/rpc`` are links to ``gen/python``; an installed client carries
copies of the same files (setuptools copies them at build time). So the
client never installs or imports a top-level ``pulse`` package (Pulse's own
package has that name) and the two installs run the same bytes.

protoc writes absolute imports (``from pulse.trust.v1 import trust_pb2``),
which would reach for a top-level ``pulse``. The finder below loads every
module under this package itself and, in memory, makes the generated
imports of ``pulse`` and ``google.rpc`` relative to this package; nothing on
disk is changed and nothing else is touched. Its rewritten code is not
cached as bytecode: the same ``.py`` file may also be imported the ordinary
way (``gen/python`` on ``sys.path``), and that import's cache must stay its own.

``google.rpc`` (``Status``, ``BadRequest``) is also what googleapis-common-protos
ships, under the same proto file names but with more messages; protobuf's
default descriptor pool refuses a second, different file of one name. When
that package is importable its modules are used (the same messages on the
wire), so the client and anything else in the process that uses it can be
imported in either order; otherwise the copies here are.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import types
from typing import Optional, Sequence

__all__ = ["GENERATED_ROOTS"]

_PREFIX = __name__ + "."
_HERE = os.path.dirname(os.path.abspath(__file__))

#: The top-level packages protoc's imports name that live here.
GENERATED_ROOTS = ("pulse", "google.rpc")

# protoc and grpc_tools write `from pulse.trust.v1 import trust_pb2 as ...`
# (and `import pulse.x as y` would be the other absolute form).
_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)(?P<kind>from|import)[ \t]+(?P<root>" + "|".join(map(re.escape, GENERATED_ROOTS)) + r")(?P<rest>(\.\w+)*)[ \t]",
    re.M,
)


def _relocate(source: str, original_name: str) -> str:
    """The generated source with its imports of the generated roots under
    this package, and its classes' ``__module__`` this module's name (so
    that pickle and reprs find them)."""
    source = _IMPORT.sub(lambda m: f"{m['indent']}{m['kind']} {_PREFIX}{m['root']}{m['rest']} ", source)
    return source.replace(f"'{original_name}'", "__name__")


class _GeneratedLoader(importlib.abc.Loader):
    """Runs one generated module with its imports relocated under this package."""

    def __init__(self, path: Optional[str]):
        self._path = path  # None: a folder (package) without code

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        if self._path is None:
            return
        with open(self._path, encoding="utf-8") as f:
            source = _relocate(f.read(), module.__name__[len(_PREFIX) :])
        exec(compile(source, self._path, "exec", dont_inherit=True), module.__dict__)


class _AliasLoader(importlib.abc.Loader):
    """Makes a name here stand for a module imported under its own name."""

    def __init__(self, target: types.ModuleType):
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self._target

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _googleapis_module(relative: str) -> Optional[types.ModuleType]:
    """googleapis-common-protos' module of the same name, when installed."""
    if not relative.startswith("google.rpc.") or not relative.endswith("_pb2"):
        return None
    try:
        module = importlib.import_module(relative)
    except ImportError:
        return None
    # Our own copy reached through gen/python on sys.path is fine too: the same file.
    return module


class _GeneratedFinder(importlib.abc.MetaPathFinder):
    """Finds the modules under ``pulse_learning_log._gen`` (only those)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[types.ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith(_PREFIX):
            return None
        relative = fullname[len(_PREFIX) :]
        alias = _googleapis_module(relative)
        if alias is not None:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(alias), origin=getattr(alias, "__file__", None))
        location = os.path.join(_HERE, *relative.split("."))
        if os.path.isdir(location):
            spec = importlib.machinery.ModuleSpec(fullname, _GeneratedLoader(None), is_package=True)
            spec.submodule_search_locations = [location]
            return spec
        if os.path.isfile(location + ".py"):
            return importlib.util.spec_from_file_location(fullname, location + ".py", loader=_GeneratedLoader(location + ".py"))
        return None


def _install() -> None:
    # Ahead of the path finders, which would run the files with protoc's absolute imports.
    if not any(isinstance(finder, _GeneratedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _GeneratedFinder())


_install()
