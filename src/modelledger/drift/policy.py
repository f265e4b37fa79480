"""The drift policy: thresholds for each signal, the quality floor, and how a protected slice is
recognised in served traffic. Read from YAML; every key has a default, so no file is needed.

    psi: {warn: 0.1, alert: 0.2}     # input/output drift on the reference's bins
    p_value: 0.01                    # KS (numeric) / chi-square (categorical) significance
    min_observations: 50             # fewer is "insufficient data", never "no drift"
    quality: {metric: accuracy, min: 0.8}   # overrides the gate policy's floor
    slices:                          # protected slices, by feature values in the traffic
      new_routes: {route_age: new}          # feature == value (a list means any of them)
      slice_min: 0.7                        # optional: the bar when the gate policy sets none
    bucket: 1h                       # quality-over-time resolution (default: window / 24)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from modelledger.core.canonical import digest
from modelledger.core.documents import Strict, parse_document
from modelledger.core.errors import InvalidInput
from modelledger.core.stats import parse_duration

Scalar = str | int | float | bool
_Name = Annotated[str, Field(min_length=1)]


class _Policy(Strict):
    model_config = ConfigDict(allow_inf_nan=False)


class PsiRule(_Policy):
    warn: float = Field(default=0.1, gt=0)
    alert: float = Field(default=0.2, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PsiRule:
        if self.warn > self.alert:
            raise PydanticCustomError(
                "drift_policy", f"psi.warn {self.warn} is above psi.alert {self.alert}"
            )
        return self


class QualityRule(_Policy):
    metric: _Name = "accuracy"
    min: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _accuracy_only(self) -> QualityRule:
        # Feedback gives right/wrong per request; other metrics need scores we do not log.
        if self.metric != "accuracy":
            raise PydanticCustomError(
                "drift_policy",
                f"quality.metric {self.metric!r}: only accuracy can be computed from feedback",
            )
        return self


class DriftPolicy(_Policy):
    psi: PsiRule = PsiRule()
    p_value: float = Field(default=0.01, gt=0, lt=1)
    min_observations: int = Field(default=50, ge=1)
    quality: QualityRule = QualityRule()
    slices: dict[_Name, dict[_Name, Scalar | list[Scalar]]] = Field(default_factory=dict)
    slice_min: float | None = Field(default=None, ge=0, le=1)
    bucket: str | None = None

    def summary(self) -> dict[str, Any]:
        """The thresholds flat, as the report and ``--json`` show them."""
        return {
            "psi_warn": self.psi.warn,
            "psi_alert": self.psi.alert,
            "p_value": self.p_value,
            "min_observations": self.min_observations,
            "sha256": policy_sha256(self),
        }


DEFAULT = DriftPolicy()


def parse_drift_policy(data: Any) -> DriftPolicy:
    if data is None:
        return DEFAULT
    policy = parse_document(DriftPolicy, data, "drift policy")
    for name, rule in policy.slices.items():
        if not rule:
            raise InvalidInput(f"drift policy: slice {name!r} names no feature to match")
    return policy


def policy_sha256(policy: DriftPolicy) -> str:
    return digest(policy.model_dump(mode="json"))


def slice_rule(policy: DriftPolicy, name: str) -> dict[str, list[Scalar]] | None:
    """How to recognise slice ``name`` in traffic: the policy's definition, else a name written
    ``feature=value`` read as just that; None when neither says."""
    rule = policy.slices.get(name)
    if rule is not None:
        return {k: v if isinstance(v, list) else [v] for k, v in rule.items()}
    feature, sep, value = name.partition("=")
    if sep and feature and value:
        return {feature: [value]}
    return None


def bucket_width(policy: DriftPolicy, window: timedelta) -> timedelta:
    """Quality-over-time resolution: the policy's, else a 24th of the window (at least a minute)."""
    if policy.bucket:
        return parse_duration(policy.bucket, "drift policy bucket")
    return max(window / 24, timedelta(minutes=1))
