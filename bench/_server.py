"""The server under benchmark: observer's ASGI app with the bare yardstick endpoint."""

from __future__ import annotations

import sys

import uvicorn

from observer.config import load_project
from observer.server import create_app
from observer.store import SQLiteStore


def main() -> None:
    config, db, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    project = load_project(config)
    store = SQLiteStore(db)
    app = create_app(project, store, bench=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
