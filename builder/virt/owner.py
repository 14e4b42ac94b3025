"""Which golden process made a domain or volume: things of dead processes get reaped."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:           # alive, owned by someone else
        return True
