"""Register mote's architecture with transformers as soon as its Auto classes (or sentence-transformers) load.

Why: a saved MoTE folder is a plain sentence-transformers folder whose ``config.json`` says
``model_type="mote"``. transformers finds a model type only in its own table or through remote code, and
sentence-transformers (6.x) imports a module class outside its own namespace only with
``trust_remote_code=True``. Neither has a plug-in entry point. So mote adds itself to the table, and
installs the encode hook that pairs a task's expert with its instruction (:mod:`mote.model.hf`), at the
moment the user's program imports those libraries:

* ``import mote`` calls :func:`install` (it costs nothing: no torch, no transformers);
* the ``mote-autoregister.pth`` file installed beside mote imports mote at interpreter start-up, so
  ``SentenceTransformer("path/to/mote-model")`` works where mote is installed but never imported.
  ``MOTE_AUTOREGISTER=0`` switches that off (then ``import mote`` first, as with any plug-in).

The hook is a meta-path finder that wraps the loaders of transformers' and sentence-transformers' modules:
once transformers' Auto-class configuration module has loaded and no transformers module is still executing
(registering imports its model classes, which fails while one is half-initialised), mote registers the Auto
classes; once sentence-transformers has loaded, the encode hook. ``import transformers`` alone (lazy, no torch)
triggers nothing, so programs that never load a model pay nothing. If those modules
are already imported, :func:`install` registers at once. A failure to register is logged, never raised:
importing transformers must not break because of mote.
"""

from __future__ import annotations

# This module is imported at every interpreter start-up (the .pth file), so it imports only what the interpreter
# has already loaded (no typing, logging or importlib.abc; annotations are never evaluated).
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

# transformers' Auto-class configuration module, not the package: ``import transformers`` alone is lazy and cheap,
# and must stay so for programs that never load a model; registering needs torch, which AutoConfig's users load
AUTO = "transformers.models.auto.configuration_auto"
LIBRARIES = ("transformers", "sentence_transformers")
_state = {"auto": False, "encode": False}
# modules of each library executing right now (through the hook): registering imports transformers' model
# classes, which fails while one of its modules is half-initialised, so it waits until none is
_depth = dict.fromkeys(LIBRARIES, 0)


def _library(fullname: str) -> str | None:
    return next((lib for lib in LIBRARIES if fullname == lib or fullname.startswith(lib + ".")), None)


def ready(name: str) -> bool:
    """``name`` is imported and has finished executing (not a module still being initialised)."""
    module = sys.modules.get(name)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def register_now() -> None:
    """Register what can be registered now: the Auto classes once transformers' Auto classes are, the encode hook
    once sentence-transformers is (importing it while it is half-initialised would fail). Idempotent: two
    threads importing transformers at once register twice, harmlessly."""
    if "mote.model.hf" in sys.modules and not ready("mote.model.hf"):
        return  # mote.model.hf is importing transformers itself; it registers when it is done
    if _depth["transformers"]:
        return  # a transformers module is still executing: the outermost one calls this again when done
    try:
        if not _state["auto"] and ready(AUTO):
            from mote.model import hf

            hf.register_auto_classes()
            _state["auto"] = True
        if not _state["encode"] and not _depth["sentence_transformers"] and ready("sentence_transformers") \
                and ready(AUTO):
            from mote.model import hf

            hf.install_encode_hook()
            _state["encode"] = True
    except Exception as e:  # never break the user's import of transformers
        import logging

        logging.getLogger("mote").warning(
            "mote could not register its model type with transformers (%s: %s); `import mote.model.hf` to see "
            "the full error.", type(e).__name__, e)


class _RegisterAfterExec:
    """Delegates to the real loader; registers mote once the module has executed."""

    def __init__(self, loader: Any, library: str) -> None:
        self._loader = loader
        self._library = library

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        _depth[self._library] += 1
        try:
            self._loader.exec_module(module)
        finally:
            _depth[self._library] -= 1
        # sys.modules may now hold a lazy module replacing ``module`` (transformers does this); either way the
        # import statement that got here has finished executing the package's __init__
        spec = getattr(sys.modules.get(module.__name__), "__spec__", None)
        if spec is not None:
            spec._initializing = False
        register_now()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, get_code, ...
        return getattr(self._loader, name)


class _Finder:
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        library = _library(fullname)
        if library is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisterAfterExec(spec.loader, library)  # type: ignore[assignment]
                return spec
        return None


def install() -> None:
    """Register now if the libraries are already imported, and again (once) whenever they get imported."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    register_now()
