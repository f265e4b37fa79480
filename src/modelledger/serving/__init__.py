"""Serving: the prediction server (``mledger serve``) and the model loaders it uses.

``app`` holds the thin FastAPI handlers; ``handler`` the request path without HTTP (validate,
route by sticky key, score, log); ``hotswap`` polls the environment and swaps in a new
``runtime`` (models per arm, verified before loading) when a promotion or rollback lands;
``features`` checks requests against a version's declared inputs; ``loaders`` turns a declared
loader and a verified artifact into a predicting object, and ``load_check`` runs that load in a
child process for rehearsals.
"""
