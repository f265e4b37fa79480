"""Pure domain logic: value types, identities, canonical JSON, event chains.

Nothing here touches SQL, HTTP, the filesystem or the clock; time is passed in.
"""
