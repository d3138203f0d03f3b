"""Powertools Tracer when tracing is on; decorators that do nothing when it is off (no X-Ray SDK import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from certrotate.config import tracing_enabled

F = TypeVar("F", bound=Callable[..., Any])


class TracerLike(Protocol):
    """The slice of Powertools' Tracer that the handlers use."""

    def capture_lambda_handler(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...
    def capture_method(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...


class _Untraced:
    def capture_lambda_handler(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return _identity

    def capture_method(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return _identity


def _identity(function: F) -> F:
    return function


def make_tracer() -> TracerLike:
    """Tracer patches botocore and requests, so every AWS and ACME call becomes an X-Ray subsegment."""
    if not tracing_enabled():
        return _Untraced()
    from aws_lambda_powertools import Tracer

    return cast(TracerLike, Tracer())
