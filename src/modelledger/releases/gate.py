"""The promotion gate: a per-environment policy and its evaluation, one row per criterion.

Lean by default: with no policy an environment asks only for one approver who is not the
registrant. The evidence is judged here; who approved is judged from signed approvals
(``requests``) and shown as rows built by ``approval_rows``.
Pure: callers resolve versions and eval results and hand them in as ``Subject`` and ``Scores``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from modelledger.core.canonical import digest
from modelledger.core.documents import Strict, parse_document
from modelledger.core.errors import InvalidInput
from modelledger.core.ids import is_id

_Name = Annotated[str, Field(min_length=1)]


class _Policy(Strict):
    # NaN/Infinity have no canonical JSON, and the policy hash must pin behaviour.
    model_config = ConfigDict(allow_inf_nan=False)


def _bad(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written (a ValueError would gain a "Value error, " prefix).
    return PydanticCustomError("gate_policy", message)


class MetricRule(_Policy):
    name: _Name
    min: float | None = None
    max: float | None = None
    max_drop_vs_live: float | None = Field(default=None, ge=0)
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _bounds_ordered(self) -> MetricRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _bad(f"min {self.min} is above max {self.max}")
        return self


class ProtectedSlices(_Policy):
    names: list[_Name] = Field(min_length=1)
    max_drop: float = Field(default=0.0, ge=0)
    min: float | None = None
    metrics: list[_Name] | None = None


class Requirements(_Policy):
    clean_code: bool = False
    lock: bool = False
    data_pinned: bool = False
    reproducible: bool = False


class ApproverRule(_Policy):
    """``approvers: {count: 2, from: [group:risk, user:carol]}``: who counts (anyone with the
    approver role for the environment when ``from`` is empty)."""

    model_config = ConfigDict(allow_inf_nan=False, populate_by_name=True)
    count: int = Field(ge=0)
    from_: list[str] = Field(default_factory=list, alias="from")

    @field_validator("from_")
    @classmethod
    def _who(cls, value: list[str]) -> list[str]:
        for entry in value:
            kind, _, name = entry.partition(":")
            if kind not in ("group", "user") or not name:
                raise _bad(f"{entry!r}: name group:NAME or user:NAME")
        return value


class GatePolicy(_Policy):
    # Field order matters: each validator below sees only the fields declared before it.
    eval_set: str | None = None
    metrics: list[MetricRule] = Field(default_factory=list)
    protected_slices: ProtectedSlices | None = None
    approvers: int | ApproverRule = 1
    four_eyes: bool = True
    require: Requirements = Requirements()
    allow_override: bool = False

    @field_validator("eval_set")
    @classmethod
    def _full_id(cls, value: str | None) -> str | None:
        if value is not None and not is_id(value, "ds"):
            raise _bad("must be a full ds-<64 hex> snapshot id, not a name or prefix")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[MetricRule], info: ValidationInfo) -> list[MetricRule]:
        names = [rule.name for rule in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _bad(f"metric {', '.join(dupes)} is listed more than once")
        if value and info.data.get("eval_set") is None:
            raise _bad("metrics need eval_set: the ds- id of the eval set they are measured on")
        return value

    @model_validator(mode="after")
    def _four_eyes_needs_an_approver(self) -> GatePolicy:
        if self.four_eyes and self.approvals_needed == 0:
            raise _bad(
                "approvers: 0 with four_eyes: true — four eyes needs at least one approver who is "
                "not the requester (set four_eyes: false to let a promotion go without approval)"
            )
        return self

    @field_validator("approvers", mode="before")
    @classmethod
    def _approvers(cls, value: Any) -> int | ApproverRule:
        if isinstance(value, dict):
            try:
                return ApproverRule.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise _bad(f"{where + ': ' if where else ''}{first['msg']}") from None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad("a whole number of approvers (0 or more), or {count: N, from: [group:NAME]}")
        return value

    @property
    def approvals_needed(self) -> int:
        a = self.approvers
        return a if isinstance(a, int) else a.count

    @property
    def approvers_from(self) -> tuple[str, ...]:
        a = self.approvers
        return () if isinstance(a, int) else tuple(a.from_)

    @field_validator("protected_slices")
    @classmethod
    def _slices(cls, value: ProtectedSlices | None, info: ValidationInfo) -> ProtectedSlices | None:
        if value is None:
            return value
        if info.data.get("eval_set") is None:
            raise _bad("protected_slices need eval_set: the ds- id of the eval set")
        rules = [rule.name for rule in info.data.get("metrics", [])]
        if not rules:
            raise _bad("protected_slices compare the metrics rules; add at least one to metrics")
        unknown = [m for m in value.metrics or [] if m not in rules]
        if unknown:
            raise _bad(f"metrics {', '.join(unknown)} have no rule in metrics")
        return value


DEFAULT_POLICY = GatePolicy()


def parse_policy(data: Any) -> GatePolicy:
    """The policy in a YAML/JSON mapping, or InvalidInput naming the offending key."""
    if data is None:
        raise InvalidInput("gate policy: the file is empty")
    return parse_document(GatePolicy, data, "gate policy")


def policy_json(policy: GatePolicy) -> dict[str, Any]:
    # Defaults included: the hash must change if a default ever does.
    return policy.model_dump(mode="json", by_alias=True)


def policy_sha256(policy: GatePolicy) -> str:
    return digest(policy_json(policy))


@dataclass(frozen=True)
class Subject:
    id: str
    label: str
    registered_by: str
    clean_code: bool
    has_lock: bool
    data_pinned: bool
    reproducible: bool
    reproducibility_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scores:
    result_id: str
    metrics: dict[str, float]
    slices: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Criterion:
    name: str
    value: Any
    bar: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateReport:
    criteria: tuple[Criterion, ...]
    candidate: str
    live: str | None
    eval_set: str | None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    def failures(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "candidate": self.candidate,
            "live": self.live,
            "eval_set": self.eval_set,
            "criteria": [c.to_json() for c in self.criteria],
        }


def _fmt(x: float) -> str:
    # Four decimals read well for rates and scores; tiny or huge values keep 4 significant digits.
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e15:
        return f"{x:.4f}".rstrip("0").rstrip(".")
    return f"{x:.4g}"


def _at_least(value: float, bar: float) -> bool:
    # live − drop can land a hair above an equal candidate through float rounding; that is no regression.
    return value >= bar or math.isclose(value, bar, rel_tol=1e-12, abs_tol=1e-12)


def _bounds_row(name: str, value: float, lo: float | None, hi: float | None) -> Criterion:
    bars, why = [], []
    if lo is not None:
        bars.append(f"≥ {_fmt(lo)}")
        if not _at_least(value, lo):
            why.append(f"{_fmt(value)} is below the floor {_fmt(lo)}")
    if hi is not None:
        bars.append(f"≤ {_fmt(hi)}")
        if not _at_least(hi, value):
            why.append(f"{_fmt(value)} is above the ceiling {_fmt(hi)}")
    label = "≥ floor" if hi is None else "≤ ceiling" if lo is None else "within bounds"
    return Criterion(f"{name} {label}", value, " and ".join(bars), not why, "; ".join(why))


def _vs_live_row(
    name: str, value: float, live_value: float, drop: float, higher: bool
) -> Criterion:
    # Direction only matters here: a floor or ceiling means the same for any metric.
    if higher:
        bar, ok, sign = live_value - drop, _at_least(value, live_value - drop), "−"
    else:
        bar, ok, sign = live_value + drop, _at_least(live_value + drop, value), "+"
    text = f"{'≥' if higher else '≤'} {_fmt(bar)} (live {_fmt(live_value)} {sign} {_fmt(drop)})"
    worse = f"{_fmt(abs(value - live_value))} worse than live ({_fmt(live_value)})"
    detail = "" if ok else f"{_fmt(value)} is {worse}; at most {_fmt(drop)} is allowed"
    return Criterion(f"{name} vs live", value, text, ok, detail)


def _missing(name: str, what: str, has: dict[str, Any]) -> Criterion:
    listed = ", ".join(sorted(has)) or "none"
    return Criterion(name, None, "present in result", False, f"{what} (it has: {listed})")


def _result_row(who: str, subject: Subject, scores: Scores | None, eval_set: str) -> Criterion:
    rid = scores.result_id if scores else None
    cmd = f"mledger eval record {subject.id} --eval-set {eval_set} --metrics FILE"
    detail = "" if scores else f"no result for {subject.label} on {eval_set}: run `{cmd}`"
    return Criterion(f"eval result ({who})", rid, f"a result on {eval_set}", bool(scores), detail)


def _requirement_rows(policy: GatePolicy, c: Subject) -> list[Criterion]:
    req = policy.require
    checks = [
        ("clean_code", req.clean_code, c.clean_code, "code ref, clean tree",
         f"{c.label} has no code reference or was registered from a dirty tree"),
        ("lock", req.lock, c.has_lock, "dependency lock pinned",
         f"{c.label} was registered without --lock"),
        ("data_pinned", req.data_pinned, c.data_pinned, "≥ 1 snapshot id",
         f"{c.label} was registered without --data ds-…"),
        ("reproducible", req.reproducible, c.reproducible, "reproducible",
         "; ".join(c.reproducibility_reasons) or f"{c.label} is not reproducible"),
    ]  # fmt: skip
    return [
        Criterion(f"require {key}", seen, bar, seen, "" if seen else why)
        for key, wanted, seen, bar, why in checks
        if wanted
    ]


def _metric_rows(policy: GatePolicy, cand: Scores, live: Scores | None) -> list[Criterion]:
    rows = []
    for rule in policy.metrics:
        name, value = f"metric {rule.name}", cand.metrics.get(rule.name)
        if value is None:
            what = f"candidate result {cand.result_id} has no metric {rule.name}"
            rows.append(_missing(name, what, cand.metrics))
            continue
        if rule.min is not None or rule.max is not None:
            rows.append(_bounds_row(name, value, rule.min, rule.max))
        if rule.max_drop_vs_live is None or live is None:
            continue
        live_value = live.metrics.get(rule.name)
        if live_value is None:
            what = f"live result {live.result_id} has no metric {rule.name}"
            rows.append(_missing(f"{name} vs live", what, live.metrics))
        else:
            drop = rule.max_drop_vs_live
            rows.append(_vs_live_row(name, value, live_value, drop, rule.higher_is_better))
    return rows


def _slice_rows(
    policy: GatePolicy, ps: ProtectedSlices, cand: Scores, live: Scores | None
) -> list[Criterion]:
    rules = {r.name: r for r in policy.metrics}
    metrics = ps.metrics if ps.metrics is not None else list(rules)
    rows = []
    for slice_name in ps.names:
        got = cand.slices.get(slice_name)
        if got is None:
            detail = (
                f"candidate result {cand.result_id} has no slice {slice_name}; results are "
                f"immutable, so score on a new eval set with --slice {slice_name}:{metrics[0]}=VALUE"
            )
            rows.append(Criterion(f"slice {slice_name}", None, "present in result", False, detail))
            continue
        for metric in metrics:
            name, value = f"slice {slice_name} {metric}", got.get(metric)
            if value is None:
                what = f"candidate result has no {metric} in slice {slice_name}"
                rows.append(_missing(name, what, got))
                continue
            if ps.min is not None:
                rows.append(_bounds_row(name, value, ps.min, None))
            if live is None:
                continue
            live_slice = live.slices.get(slice_name, {})
            live_value = live_slice.get(metric)
            if live_value is None:
                what = (
                    f"live result {live.result_id} has no {metric} in slice {slice_name}; "
                    f"results are immutable, so score both on a new eval set with "
                    f"--slice {slice_name}:{metric}=VALUE"
                )
                rows.append(_missing(f"{name} vs live", what, live_slice))
            else:
                higher = rules[metric].higher_is_better
                rows.append(_vs_live_row(name, value, live_value, ps.max_drop, higher))
    return rows


def approval_rows(
    policy: GatePolicy, counted: Sequence[str], requester: str, registrant: str
) -> list[Criterion]:
    """The approvals rows of a report. ``counted``: the authenticated approvers that count, who
    are never the requester or the registrant (``requests.tally`` leaves those out)."""
    need, got = policy.approvals_needed, len(counted)
    who = f" from {', '.join(policy.approvers_from)}" if policy.approvers_from else ""
    short = f"{need} approval{'s' if need != 1 else ''}{who} needed, {got} so far"
    ok = got >= need
    rows = [
        Criterion(
            "approvers",
            ", ".join(counted) or None,
            f"{need} distinct{who}",
            ok,
            "" if ok else short,
        )
    ]
    if policy.four_eyes:
        people = sorted({requester, registrant})
        rows.append(Criterion("four eyes", ", ".join(people), "approvers are other people", True))
    return rows


def named_approval_rows(
    policy: GatePolicy, c: Subject, approvers: Sequence[str]
) -> list[Criterion]:
    """Approvals by typed name, which only a traffic split still takes (``route set``): the
    count, and the registrant not among them. Names compare case-insensitively."""
    distinct: dict[str, str] = {}
    for raw in approvers:
        if raw.strip():
            distinct.setdefault(raw.strip().casefold(), raw.strip())
    need, got = policy.approvals_needed, len(distinct)
    short = f"{need} distinct --approver names needed, {got} given"
    rows = [
        Criterion("approvers", got, f"{need} distinct", got >= need, "" if got >= need else short)
    ]
    if policy.four_eyes:
        me = c.registered_by.strip()
        ok = me.casefold() not in distinct
        detail = "" if ok else f"{me} registered {c.label} and cannot approve its promotion"
        value = ", ".join(distinct.values()) or None
        rows.append(Criterion("four eyes", value, f"approver ≠ {me}", ok, detail))
    return rows


def evaluate_gate(
    policy: GatePolicy,
    candidate: Subject,
    candidate_scores: Scores | None,
    live: Subject | None,
    live_scores: Scores | None,
) -> GateReport:
    """Every criterion of ``policy`` for promoting ``candidate`` over ``live``, in a stable order."""
    rows = _requirement_rows(policy, candidate)
    ev, ps = policy.eval_set, policy.protected_slices
    compares = ps is not None or any(r.max_drop_vs_live is not None for r in policy.metrics)
    if ev is not None:
        rows.append(_result_row("candidate", candidate, candidate_scores, ev))
        # Nothing live yet (or nothing to compare): only the absolute floors apply.
        if live is not None and compares:
            rows.append(_result_row("live", live, live_scores, ev))
        against = live_scores if live is not None and compares else None
        # Without a candidate result its metric rows would only repeat the row above.
        if candidate_scores is not None:
            rows.extend(_metric_rows(policy, candidate_scores, against))
            if ps is not None:
                rows.extend(_slice_rows(policy, ps, candidate_scores, against))
    return GateReport(tuple(rows), candidate.id, live.id if live else None, ev)
