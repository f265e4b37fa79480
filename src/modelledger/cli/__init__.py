"""The ``mledger`` command line: one module per command group; services are imported lazily so
that a command pays only for what it uses."""
