"""`edge-sim demo`, the product tour: a hub and two nodes on one machine, watched live.

- procs.py: the child processes (own sessions, logged, stopped in order) and reading product databases;
- hub.py:   mosquitto, the hub key, `edge-hub serve`, simulated officers, the hub's commands and dispatch;
- nodes.py: a node provisioned like a box, run on a looped simulated camera, watched from outside;
- view.py:  the live view (rich) in a terminal, plain lines elsewhere, the summary table;
- tour.py:  the steps and their checks.
"""

from .tour import run_tour

__all__ = ["run_tour"]
