"""``mledger server``: the registry's REST API (``/api/v1``) over the ledger, for a team.

Stateless: every answer is read from the ledger and every write goes through the same use cases
the CLI runs, so several replicas serve one PostgreSQL ledger. Callers authenticate with API
tokens (``identity.token`` events); what a person decides (a promotion request, an approval) is
signed by their own key on their machine, and the server checks that the key is the token's
principal's before recording it.
"""
