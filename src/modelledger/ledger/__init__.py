"""The shared house: opening and creating a ledger, the engine and schema, migrations, triggers,
the event chain and its verification, card revisions and the environment pointer read."""
