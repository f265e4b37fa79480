"""The ``mledger`` root: ``root`` mounts every capability's commands (``data/cli.py``,
``models/cli/`` …) and turns our errors into one line and an exit code; ``app`` is the entry
point, ``fast`` answers a few commands without loading Typer, ``audit`` is ``mledger audit …``,
``demo/`` the story. Capabilities import their use cases lazily, so that a command pays only
for what it uses."""
