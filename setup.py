"""Installs ``mote-autoregister.pth`` beside the package (wheel and editable installs alike).

The one line in that file imports :mod:`mote._autoload` at interpreter start-up (no torch, no transformers:
a few milliseconds), which registers mote's model type when the user's program imports transformers, so a
saved MoTE folder loads with plain ``SentenceTransformer(path)``. Why a start-up hook: docs/design.md,
"Loading without `import mote`". Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "mote-autoregister.pth"
SOURCE = os.path.join("src", PTH)


class BuildPyWithPth(build_py):  # type: ignore[misc]
    """A wheel gets the .pth at its root (installed into site-packages)."""

    def run(self) -> None:
        super().run()
        self.copy_file(SOURCE, os.path.join(self.build_lib, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


class EditableWheelWithPth(editable_wheel):  # type: ignore[misc]
    """An editable install (``pip install -e .``) gets the same file: setuptools writes only its own path
    file into an editable wheel, so the strategy that writes it is wrapped to add ours."""

    def _select_strategy(self, *args: Any, **kwargs: Any) -> Any:
        strategy = super()._select_strategy(*args, **kwargs)
        with open(SOURCE, encoding="utf-8") as f:
            line = f.read()

        class WithPth:
            def __enter__(self) -> Any:
                strategy.__enter__()
                return self

            def __exit__(self, *exc: Any) -> Any:
                return strategy.__exit__(*exc)

            def __call__(self, wheel: Any, files: Any, mapping: Any) -> Any:
                wheel.writestr(PTH, line.encode("utf-8"))
                return strategy(wheel, files, mapping)

        return WithPth()


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
