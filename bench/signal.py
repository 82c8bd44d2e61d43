"""`.venv/bin/python bench/signal.py`: alerts on-call staff can trust, measured (the
measurement is bench/alerts_signal.py; its docstring says what it does).

This file shares its name with the standard library's `signal`, and every other script in
bench/ runs with this folder first on its path, so their `import signal` (through subprocess
or uvicorn) finds this file. Imported as a module it therefore stands aside: it loads the
standard library's module and puts it in its place. Run as a script it runs the benchmark.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import sysconfig
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("alerts_signal.py")), run_name="__main__")
else:
    _spec = importlib.util.spec_from_file_location(
        "signal", Path(sysconfig.get_paths()["stdlib"]) / "signal.py"
    )
    assert _spec is not None and _spec.loader is not None
    _real = importlib.util.module_from_spec(_spec)
    sys.modules["signal"] = _real
    _spec.loader.exec_module(_real)
    globals().update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
