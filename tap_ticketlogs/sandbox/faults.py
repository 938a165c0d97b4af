"""Faults the sandbox serves instead of (or in the middle of) an API answer.

A fault spec is a profile name or a comma-separated list of fault kinds and options
(``--faults``, ``Sandbox(faults=...)``)::

    none | flaky | rate-limited | outage | mixed
    503,429,truncated,html,foreign,slow,reset[,rate=0.15][,expire=40][,slow=1.5]
        [,retry-after=1]
        [,in-a-row=2]

Kinds: ``503`` (service unavailable), ``429`` (with ``Retry-After``), ``truncated`` (a 200
whose JSON stops half way), ``html`` (an HTML page behind a 200), ``foreign`` (another
server's JSON behind a 200: a gateway's error object, not the endpoint's answer, as proxies
and API gateways send when an upstream times out), ``slow`` (the answer comes
after ``slow`` seconds: longer than the tap's ``request_timeout``), ``reset`` (the headers and
half the body, then the connection is reset). Options: ``rate`` is the share of requests that
fail; ``expire=N`` makes every credential the vendors issue stop working after N requests (a
401, as a real token revoked early: Akana sessions, Socialboards access tokens, Huawei IAM
tokens; the TIXNGO key is static and cannot be renewed, so it is left alone);
``in-a-row`` caps consecutive faults for one request, so a tap with that many retries always
gets through.

Whether a request fails is a hash of the seed, the request (method, path, query and body)
and how many times that same request came before: the same faults hit the same requests on
every run, whatever order concurrent threads send them in. The legacy profiles ``flaky``,
``rate-limited`` and ``outage`` keep their original, arrival-order behaviour.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tap_ticketlogs.sandbox.core import Request, Response

FAULT_PROFILES = ("none", "flaky", "rate-limited", "outage", "mixed")
FAULT_KINDS = ("503", "429", "truncated", "html", "foreign", "slow", "reset")
# What "mixed" means: every kind, about one request in six failing, credentials renewed
# mid-run. Slow answers are kept rare by the hash (each costs a request_timeout).
MIXED = "503,429,truncated,html,foreign,slow,reset,rate=0.18,expire=25"
FAULT_SPEC_HELP = (
    "a profile ("
    + ", ".join(FAULT_PROFILES)
    + ") or a comma list of kinds ("
    + ", ".join(FAULT_KINDS)
    + ") and options rate=SHARE, expire=REQUESTS, slow=SECONDS, retry-after=SECONDS, in-a-row=N"
)


@dataclass(frozen=True)
class Fault:
    """One fault to serve: a replacement response, possibly slow or cut short."""

    kind: str
    response: Response
    delay_s: float = 0.0


@dataclass
class FaultPlan:
    """A parsed fault spec (see the module docstring)."""

    kinds: tuple[str, ...] = ()
    rate: float = 0.0
    expire_after: int | None = None
    slow_s: float = 1.5
    retry_after_s: int = 1
    in_a_row: int = 2
    legacy: str | None = None

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        spec = (spec or "none").strip()
        if spec in ("none", "flaky", "rate-limited", "outage"):
            return cls(legacy=None if spec == "none" else spec)
        if spec == "mixed":
            spec = MIXED
        plan = cls()
        kinds: list[str] = []
        for raw in spec.split(","):
            item = raw.strip()
            name, sep, value = item.partition("=")
            try:
                if not sep and name in FAULT_KINDS:
                    kinds.append(name)
                elif not (sep and plan._set_option(name, value)):
                    raise ValueError(item)
            except ValueError:
                msg = f"unknown fault {item!r} in {spec!r}; use {FAULT_SPEC_HELP}"
                raise ValueError(msg) from None
            if name == "slow":
                kinds.append("slow")
        if not 0.0 <= plan.rate <= 1.0 or plan.in_a_row < 1 or plan.slow_s < 0:
            msg = f"fault options out of range in {spec!r}: rate 0..1, in-a-row >= 1, slow >= 0"
            raise ValueError(msg)
        plan.kinds = tuple(dict.fromkeys(kinds))
        if plan.kinds and not plan.rate:
            plan.rate = 1 / 6
        return plan

    def _set_option(self, name: str, value: str) -> bool:
        """Set option ``name``; False when there is no such option."""
        if name == "rate":
            self.rate = float(value)
        elif name == "expire":
            self.expire_after = int(value)
        elif name == "slow":
            self.slow_s = float(value)
        elif name == "retry-after":
            self.retry_after_s = int(value)
        elif name == "in-a-row":
            self.in_a_row = int(value)
        else:
            return False
        return True


@dataclass
class FaultInjector:
    """Decides, request by request, which fault (if any) to serve; thread-safe by its caller."""

    spec: str
    seed: int
    plan: FaultPlan = field(init=False)
    _count: int = field(default=0, init=False)
    _seen: Counter[str] = field(default_factory=Counter, init=False)
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.plan = FaultPlan.parse(self.spec)
        self._random = random.Random(self.seed)

    @property
    def profile(self) -> str:
        return self.spec

    def fault(self, request: Request) -> Fault | None:
        """The fault to serve instead of the answer to ``request``, if any."""
        self._count += 1
        if self.plan.legacy is not None:
            return self._legacy_fault()
        if not self.plan.kinds:
            return None
        key = request_key(request)
        attempt = self._seen[key]
        self._seen[key] += 1
        if attempt >= self.plan.in_a_row:
            return None
        digest = hashlib.sha256(f"{self.seed}\x1f{key}\x1f{attempt}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= self.plan.rate:
            return None
        kind = self.plan.kinds[digest[4] % len(self.plan.kinds)]
        return self._build(kind)

    def _build(self, kind: str) -> Fault:
        if kind == "429":
            headers = {"Retry-After": str(self.plan.retry_after_s)}
            return Fault(kind, Response.json(429, {"message": "slow down"}, headers))
        if kind == "slow":
            return Fault(kind, Response.json(503, {"message": "too late"}), self.plan.slow_s)
        if kind == "reset":
            body = b'{"result": [' + b'{"padding": "' + b"x" * 2048 + b'"}]}'
            return Fault(kind, Response(200, body, {"Content-Type": "application/json"}, 512))
        return Fault(kind, _FAULTS[kind]())

    def _legacy_fault(self) -> Fault | None:
        if self.plan.legacy == "outage":
            return Fault("503", _FAULTS["503"]())
        if self.plan.legacy == "rate-limited" and self._count % 3 == 0:
            headers = {"Retry-After": "1"}
            return Fault("429", Response.json(429, {"message": "too many requests"}, headers))
        if self.plan.legacy != "flaky" or self._random.random() > 1 / 6:
            return None
        kind = self._random.choice(sorted(_FAULTS))
        return Fault(kind, _FAULTS[kind]())


def request_key(request: Request) -> str:
    """What makes two requests "the same request" (a retry): method, path, query, body."""
    query = "&".join(f"{k}={v}" for k in sorted(request.query) for v in request.query[k])
    body = hashlib.sha256(request.body).hexdigest()[:16] if request.body else ""
    return f"{request.method} {request.path}?{query}#{body}"


_FAULTS: dict[str, Callable[[], Response]] = {
    "503": lambda: Response.json(503, {"message": "service unavailable"}),
    "429": lambda: Response.json(429, {"message": "slow down"}, {"Retry-After": "0"}),
    "truncated": lambda: Response(
        200, b'{"result": [{"ticketId": "T-', {"Content-Type": "application/json"}
    ),
    "html": lambda: Response(
        200, b"<html><body>Gateway timeout</body></html>", {"Content-Type": "text/html"}
    ),
    "foreign": lambda: Response.json(
        200, {"message": "upstream request timeout", "code": "GATEWAY_TIMEOUT"}
    ),
}
