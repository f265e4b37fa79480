"""Serving: routing an environment's traffic and the prediction server (``mledger serve``).

``routing`` sets canaries, A/B arms and shadows (``route_policy`` is the pure rule); ``app``
holds the thin FastAPI handlers; ``handler`` the request path without HTTP (validate, route by
sticky key, score, log); ``hotswap`` polls the environment and swaps in a new ``runtime``
(models per arm, verified before loading) when a promotion or rollback lands; ``features``
checks requests against a version's declared inputs; ``limits`` bounds a request body (size,
depth, values with no JSON form); ``metrics`` the Prometheus counters of ``/metrics``;
``openapi`` describes the live version's API (``/openapi.json``, ``/docs``). Loading a model is
the models capability's (``models.loaders``).
"""
