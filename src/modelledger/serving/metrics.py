"""The prediction server's Prometheus metrics (``GET /metrics``).

Each :class:`ServingMetrics` owns its registry rather than using prometheus_client's global one,
so several servers in one process (the tests start many) neither clash on names nor count into
each other. Observing sits on the request path, so label children are bound once and kept: the
environment's when the object is made, the others in a dict the first time a label set is seen.

    mledger_requests_total{env,version,arm,status}   answered requests, by HTTP status
    mledger_request_seconds{env,version,arm}         time to answer, from body read to response
    mledger_journal_backlog{env}                     records answered but not yet in the ledger
    mledger_journal_fsync_seconds{env}               time one journal fsync took
    mledger_shadow_skipped_total{env,arm}            shadow scorings skipped (backlog or contract)
    mledger_predictions_logged_total{env}            records the journal drained into the ledger
    mledger_ledger_available{env}                    1 while the ledger takes writes, else 0
                                                     (0 until the server first reports it)

A request refused before it was routed has no version or arm: it is counted under ``-``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# What generate_latest writes: the classic text format (prometheus_client's own default answer).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_LABEL = "-"

# Answers usually take well under a second; the upper buckets catch a slow model or batch.
REQUEST_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# An fsync on a healthy disk is far quicker than a request; the top buckets flag a sick one.
FSYNC_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class ServingMetrics:
    """The metrics of one server, for one environment. Safe to observe from any thread."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "mledger_requests",
            "Requests answered by POST /predict, by version, arm and HTTP status.",
            ("env", "version", "arm", "status"),
            registry=r,
        )
        self._seconds = Histogram(
            "mledger_request_seconds",
            "Time to answer POST /predict, in seconds.",
            ("env", "version", "arm"),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self._backlog = Gauge(
            "mledger_journal_backlog",
            "Prediction records answered but not yet in the ledger.",
            ("env",),
            registry=r,
        ).labels(env)
        self._fsync = Histogram(
            "mledger_journal_fsync_seconds",
            "Time one serving-journal fsync took, in seconds.",
            ("env",),
            buckets=FSYNC_BUCKETS,
            registry=r,
        ).labels(env)
        self._shadow_skipped = Counter(
            "mledger_shadow_skipped",
            "Shadow scorings skipped: the shadow queue was full or the request did not fit the "
            "shadow's declared inputs.",
            ("env", "arm"),
            registry=r,
        )
        self._logged = Counter(
            "mledger_predictions_logged",
            "Prediction records drained from the journal into the ledger.",
            ("env",),
            registry=r,
        ).labels(env)
        self._ledger = Gauge(
            "mledger_ledger_available",
            "1 while the ledger accepts the journal's records, 0 while it does not.",
            ("env",),
            registry=r,
        ).labels(env)
        # (version, arm, status) -> (counter child, histogram child); (arm) -> counter child
        self._request_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._shadow_children: dict[str, Counter] = {}

    def request(self, version: str | None, arm: str | None, status: int, seconds: float) -> None:
        """One answered request: counted by status, its time observed."""
        key = (version or NO_LABEL, arm or NO_LABEL, str(status))
        children = self._request_children.get(key)
        if children is None:
            v, a, s = key
            children = self._request_children.setdefault(
                key,
                (
                    self._requests.labels(self.env, v, a, s),
                    self._seconds.labels(self.env, v, a),
                ),
            )
        children[0].inc()
        children[1].observe(seconds)

    def fsync(self, seconds: float) -> None:
        """One journal fsync took ``seconds``."""
        self._fsync.observe(seconds)

    def backlog(self, n: int) -> None:
        """``n`` records are answered but not yet in the ledger."""
        self._backlog.set(n)

    def shadow_skipped(self, arm: str, n: int = 1) -> None:
        """``n`` scorings of shadow ``arm`` were skipped."""
        child = self._shadow_children.get(arm)
        if child is None:
            child = self._shadow_children.setdefault(
                arm, self._shadow_skipped.labels(self.env, arm)
            )
        child.inc(n)

    def predictions_logged(self, n: int = 1) -> None:
        """``n`` more records reached the ledger."""
        self._logged.inc(n)

    def ledger_available(self, available: bool) -> None:
        """Whether the ledger takes the journal's records right now."""
        self._ledger.set(1 if available else 0)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE
