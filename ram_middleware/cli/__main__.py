"""``python -m ram_middleware.cli …`` runs the ``ram`` command (useful where the script is not on PATH)."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main(prog_name="ram")
