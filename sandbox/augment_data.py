"""Synthetic Augment organisation: users, daily activity and the API objects built from it.

Every (date, identity) draws from its own seeded generator, so a date's data never depends on
request order or on which other dates were asked for.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import threading
import typing as t

from .seeding import DEFAULT_SEED, date_range, rand_int, rng_for

if t.TYPE_CHECKING:
    import random
    from collections.abc import Iterable, Mapping


#: Metric keys in the documented table order (section 2 of the reference).
AUGMENT_METRIC_KEYS: tuple[str, ...] = (
    "total_modified_lines_of_code",
    "total_messages",
    "total_tool_calls",
    "completions_count",
    "completions_accepted",
    "completions_lines_of_code",
    "completions_suggested_lines_of_code",
    "chat_messages",
    "remote_agent_messages",
    "remote_agent_lines_of_code",
    "ide_agent_messages",
    "ide_agent_lines_of_code",
    "cli_agent_interactive_messages",
    "cli_agent_interactive_lines_of_code",
    "cli_agent_non_interactive_messages",
    "cli_agent_non_interactive_lines_of_code",
)
#: ``completions_suggested_lines_of_code`` is omitted for dates before this one (added later).
SUGGESTED_LINES_SINCE = dt.date(2025, 6, 1)
#: Dates whose ordinal is divisible by this have no activity at all (about 1 in 15).
NO_ACTIVITY_MODULUS = 15
#: Share of (date, user) rows whose metrics omit ``total_tool_calls``.
OMIT_TOOL_CALLS_RATE = 0.04

AUGMENT_EDITORS: tuple[str, ...] = ("VSCode", "JetBrains", "CLI", "Unknown")
AUGMENT_LANGUAGES: tuple[str, ...] = ("Python", "TypeScript", "Go", "C#", "Unknown")
#: Service accounts with their (weekday, weekend) activity probabilities.
_SERVICE_ACCOUNT_PROFILES = (("ci-bot", 0.95, 0.6), ("release-bot", 0.35, 0.05))
AUGMENT_SERVICE_ACCOUNTS: tuple[str, ...] = tuple(p[0] for p in _SERVICE_ACCOUNT_PROFILES)

_IDE_EDITORS = ("VSCode", "JetBrains")
_CODE_LANGUAGES = ("Python", "TypeScript", "Go", "C#")
_EDITOR_RANK = {name: rank for rank, name in enumerate(AUGMENT_EDITORS)}
_LANGUAGE_RANK = {name: rank for rank, name in enumerate(AUGMENT_LANGUAGES)}

Metrics = dict[str, int]


@dataclasses.dataclass(frozen=True)
class AugmentModel:
    """A model Augment bills for, with its (synthetic) list prices in USD per million tokens."""

    name: str  # as ``credit-usage-by-user`` names it
    display_name: str  # as ``cost-analytics`` names the resource
    input_price: decimal.Decimal
    output_price: decimal.Decimal
    cache_read_price: decimal.Decimal
    cache_write_price: decimal.Decimal


def _model(name: str, display: str, *prices: str) -> AugmentModel:
    return AugmentModel(name, display, *(decimal.Decimal(price) for price in prices))


#: Models in the API's order; humans use 1-3 of them a day, service accounts the first cheap one.
AUGMENT_MODELS: tuple[AugmentModel, ...] = (
    _model("claude-sonnet-4-5", "Claude Sonnet 4.5", "3", "15", "0.30", "3.75"),
    _model("gpt-5", "GPT-5", "1.25", "10", "0.125", "1.25"),
    _model("claude-haiku-4-5", "Claude Haiku 4.5", "1", "5", "0.10", "1.25"),
    _model("claude-opus-4-1", "Claude Opus 4.1", "15", "75", "1.50", "18.75"),
)
#: The compute resource (remote and non-interactive agents), billed without tokens.
COMPUTE_DISPLAY_NAME = "Agent compute"
RESOURCE_TYPE_MODEL = "COST_ANALYTICS_RESOURCE_TYPE_MODEL"
RESOURCE_TYPE_COMPUTE = "COST_ANALYTICS_RESOURCE_TYPE_COMPUTE"
#: Credits per US dollar of estimated cost (credit-based contracts).
CREDITS_PER_USD = 1000
#: USD per credit of compute.
USD_PER_COMPUTE_CREDIT = decimal.Decimal("0.001")
#: Billed amount = estimated cost x this (the contract's discount), rounded to cents.
BILLED_SHARE = decimal.Decimal("0.85")
#: Base cost = estimated cost x this, to 4 decimal places (models only).
BASE_COST_SHARE = decimal.Decimal("0.55")
TOKEN_KEYS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)
_MILLION = decimal.Decimal(1_000_000)


@dataclasses.dataclass(frozen=True)
class _Spend:
    """One identity's consumption of one model (``model is None``: compute) on one date."""

    model: AugmentModel | None
    tokens: dict[str, int]
    cost_usd: decimal.Decimal  # exact, at list prices
    credits: int


@dataclasses.dataclass(frozen=True)
class _AugmentIdentity:
    """One Augment user or service account and its stable behaviour profile."""

    uid: str  # internal id, used as the cursor's ``last_id``
    field: str  # "user_email" or "service_account_name"
    login: str
    weekday_rate: float
    weekend_rate: float
    editor: str
    languages: tuple[str, ...]

    @property
    def is_service(self) -> bool:
        return self.field == "service_account_name"

    def render(self, *, identity_null: bool) -> dict[str, object]:
        """Return the identity fields as the API serves them."""
        if not identity_null:
            return {self.field: self.login}
        email = None if self.is_service else self.login
        name = self.login if self.is_service else None
        return {"user_email": email, "service_account_name": name}


@dataclasses.dataclass(frozen=True)
class _AugmentUserDay:
    """One identity's activity on one date."""

    identity: _AugmentIdentity
    records: tuple[tuple[str, str, Metrics], ...]  # (editor, language, metrics)
    totals: Metrics


def sum_metrics(items: Iterable[Mapping[str, int]]) -> Metrics:
    """Sum metrics objects key by key.

    A key is present in the result when it is present in at least one input (absent keys count
    as "not reported", not as zero), so sums over partially reported rows stay consistent.

    Args:
        items: Metrics objects.

    Returns:
        The summed metrics, keys in documented order.
    """
    totals: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            totals[key] = totals.get(key, 0) + value
    return {key: totals[key] for key in AUGMENT_METRIC_KEYS if key in totals}


class AugmentData:
    """Synthetic Augment organisation: humans ``userNNN@acme.example`` plus two service accounts.

    Args:
        n_users: Number of human users.
        seed: Seed of the dataset.
    """

    def __init__(self, n_users: int = 12, seed: str = DEFAULT_SEED) -> None:
        """Create the organisation."""
        if n_users < 0:
            msg = "n_users must be >= 0"
            raise ValueError(msg)
        self._seed = seed
        identities = [self._human(index) for index in range(1, n_users + 1)]
        identities.extend(
            _AugmentIdentity(
                f"s{index:04d}", "service_account_name", name, weekday, weekend, "CLI", ("Unknown",)
            )
            for index, (name, weekday, weekend) in enumerate(_SERVICE_ACCOUNT_PROFILES, start=1)
        )
        self._identities: tuple[_AugmentIdentity, ...] = tuple(identities)
        self._cache: collections.OrderedDict[dt.date, tuple[_AugmentUserDay, ...]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        #: Dates whose data was restated, and how many times.
        self._revisions: dict[dt.date, int] = {}

    def restate(self, day: dt.date) -> None:
        """Restate ``day``: its activity is drawn again, as if the vendor corrected it.

        The new data differs from the old (other users, other metrics) and stays
        deterministic: it depends only on the seed, the date and how often it was restated.

        Args:
            day: The date to restate.
        """
        with self._lock:
            self._revisions[day] = self._revisions.get(day, 0) + 1
            self._cache.pop(day, None)

    def _human(self, index: int) -> _AugmentIdentity:
        login = f"user{index:03d}@acme.example"
        rng = rng_for(self._seed, "augment", "profile", login)
        engagement = rng.uniform(0.45, 0.95)
        editor = rng.choices(_IDE_EDITORS, weights=(6, 4))[0]
        languages = tuple(rng.sample(_CODE_LANGUAGES, rand_int(rng, 1, 3)))
        return _AugmentIdentity(
            f"u{index:05d}", "user_email", login, engagement, engagement * 0.2, editor, languages
        )

    # -- public accessors --------------------------------------------------------------------

    @property
    def users(self) -> list[dict[str, str]]:
        """All identities in the API's stable order (humans first, then service accounts)."""
        return [{ident.field: ident.login} for ident in self._identities]

    def is_no_activity_date(self, day: dt.date) -> bool:
        """Return whether nobody at all was active on ``day`` (about 1 date in 15).

        Args:
            day: The date.

        Returns:
            ``True`` for the dates with no activity.
        """
        return day.toordinal() % NO_ACTIVITY_MODULUS == 0

    def no_activity_dates(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """List the dates without any activity in an inclusive range.

        Args:
            start: First date.
            end: Last date.

        Returns:
            The dates, ascending.
        """
        return [day for day in date_range(start, end) if not self._day(day)]

    def dau_count(self, day: dt.date) -> int:
        """Return the number of distinct active identities on ``day``."""
        return len(self._day(day))

    def dau_users(self, day: dt.date, *, identity_null: bool = False) -> list[dict[str, object]]:
        """Return ``/dau`` user objects for ``day`` in the API's order."""
        return [obj for _, obj in self.dau_items(day, identity_null=identity_null)]

    def daily_usage(self, day: dt.date) -> dict[str, object] | None:
        """Return the ``/daily-usage`` entry for ``day``, or ``None`` when nobody was active."""
        users = self._day(day)
        if not users:
            return None
        return {"date": day.isoformat(), "metrics": sum_metrics(u.totals for u in users)}

    def user_activity(
        self, day: dt.date, *, identity_null: bool = False
    ) -> list[dict[str, object]]:
        """Return ``/user-activity`` objects for the one-day range ``[day, day]``."""
        return self.user_activity_range(day, day, identity_null=identity_null)

    def user_activity_range(
        self, start: dt.date, end: dt.date, *, identity_null: bool = False
    ) -> list[dict[str, object]]:
        """Return ``/user-activity`` objects for an inclusive range (metrics summed)."""
        items = self.user_activity_items(start, end, identity_null=identity_null)
        return [obj for _, obj in items]

    def editor_language(
        self, day: dt.date, *, identity_null: bool = False
    ) -> list[dict[str, object]]:
        """Return ``/daily-user-activity-by-editor-language`` records for ``day``."""
        return [obj for _, obj in self.editor_language_items(day, identity_null=identity_null)]

    # -- keyed items (the cursor's ``last_id`` is the key) -----------------------------------

    def dau_items(self, day: dt.date, *, identity_null: bool = False) -> list[tuple[str, dict]]:
        """Return ``(key, user object)`` pairs for ``/dau``."""
        return [
            (u.identity.uid, u.identity.render(identity_null=identity_null)) for u in self._day(day)
        ]

    def user_activity_items(
        self, start: dt.date, end: dt.date, *, identity_null: bool = False
    ) -> list[tuple[str, dict]]:
        """Return ``(key, user object)`` pairs for ``/user-activity`` over a range."""
        per_identity: dict[str, list[Metrics]] = {}
        for day in date_range(start, end):
            for user_day in self._day(day):
                per_identity.setdefault(user_day.identity.uid, []).append(user_day.totals)
        items = []
        for identity in self._identities:
            days = per_identity.get(identity.uid)
            if not days:
                continue
            obj = identity.render(identity_null=identity_null)
            obj["active_days"] = len(days)
            obj["metrics"] = sum_metrics(days)
            items.append((identity.uid, obj))
        return items

    def editor_language_items(
        self, day: dt.date, *, identity_null: bool = False
    ) -> list[tuple[str, dict]]:
        """Return ``(key, record)`` pairs for ``/daily-user-activity-by-editor-language``."""
        items = []
        for user_day in self._day(day):
            for editor, language, metrics in user_day.records:
                obj = user_day.identity.render(identity_null=identity_null)
                obj["language"] = language
                obj["editor"] = editor
                obj["metrics"] = dict(metrics)
                items.append((f"{user_day.identity.uid}|{editor}|{language}", obj))
        return items

    # -- credits and cost (only identities active that day consume anything) -------------

    def credit_usage_items(
        self, start: dt.date, end: dt.date, *, identity_null: bool = False
    ) -> list[tuple[str, dict]]:
        """Return ``(key, record)`` pairs for ``/credit-usage-by-user`` (by date and model).

        ``credits_consumed`` is an integer, or its string for about one row in seven; compute
        credits have no ``model_name`` (absent, or ``""`` for service accounts).
        """
        items = []
        for day in date_range(start, end):
            for user_day in self._day(day):
                identity = user_day.identity
                for spend in self._spend(day, user_day):
                    obj = identity.render(identity_null=identity_null)
                    obj["date"] = day.isoformat()
                    if spend.model is not None:
                        obj["model_name"] = spend.model.name
                    elif identity.is_service:
                        obj["model_name"] = ""
                    as_text = rng_for(self._seed, "credit-text", day, identity.login).random()
                    obj["credits_consumed"] = (
                        str(spend.credits) if as_text < 1 / 7 else spend.credits
                    )
                    model = spend.model.name if spend.model else ""
                    items.append((f"{day.isoformat()}|{identity.uid}|{model}", obj))
        return items

    def cost_points(self, day: dt.date, logins: set[str] | None = None) -> list[dict[str, object]]:
        """Return the ``/cost-analytics`` data points of ``day`` grouped by resource.

        One per model used that day, then the compute resource. Money is a decimal string
        (estimated to 6 places, billed to cents, base to 4); ``credits_consumed`` and
        ``cache_read_tokens`` are strings, the other counts integers. Compute has no token
        counts and no base cost, and reports ``compute_seconds`` (a metric the docs do not
        name).

        Args:
            day: The date.
            logins: Only these users' consumption (``filters.user_emails``), if given.

        Returns:
            The data points, models first (in the API's order), then compute.
        """
        per_resource: dict[str, list[_Spend]] = {}
        for user_day in self._day(day):
            if logins is not None and user_day.identity.login not in logins:
                continue
            for spend in self._spend(day, user_day):
                name = spend.model.display_name if spend.model else COMPUTE_DISPLAY_NAME
                per_resource.setdefault(name, []).append(spend)
        order = [model.display_name for model in AUGMENT_MODELS] + [COMPUTE_DISPLAY_NAME]
        points: list[dict[str, object]] = []
        for name in order:
            spends = per_resource.get(name)
            if not spends:
                continue
            estimated = sum((s.cost_usd for s in spends), decimal.Decimal(0))
            credit_total = sum(s.credits for s in spends)
            metrics: dict[str, object] = {}
            if name == COMPUTE_DISPLAY_NAME:
                resource_type = RESOURCE_TYPE_COMPUTE
                metrics["compute_seconds"] = credit_total * 3
            else:
                resource_type = RESOURCE_TYPE_MODEL
                for key in TOKEN_KEYS:
                    total = sum(s.tokens[key] for s in spends)
                    metrics[key] = str(total) if key == "cache_read_tokens" else total
                metrics["base_cost_usd"] = _money(estimated * BASE_COST_SHARE, "0.0001")
            metrics["credits_consumed"] = str(credit_total)
            metrics["billed_amount_usd"] = _money(estimated * BILLED_SHARE, "0.01")
            metrics["estimated_customer_cost_usd"] = _money(estimated, "0.000001")
            points.append(
                {
                    "start_date": day.isoformat(),
                    "end_date": day.isoformat(),
                    "cost_metrics": metrics,
                    "group_by_values": {
                        "resource_display_name": name,
                        "resource_type": resource_type,
                    },
                }
            )
        return points

    def _spend(self, day: dt.date, user_day: _AugmentUserDay) -> list[_Spend]:
        """What one active identity consumed on ``day``: per model, then compute."""
        identity = user_day.identity
        rng = rng_for(self._seed, "augment", "spend", day.isoformat(), identity.login)
        if identity.is_service:
            models = [AUGMENT_MODELS[2]]
        else:
            models = rng.sample(AUGMENT_MODELS[:3], rand_int(rng, 1, 3))
            if rng.random() < 0.1:  # noqa: PLR2004 - the expensive model, now and then
                models.append(AUGMENT_MODELS[3])
        weight = 1 + user_day.totals.get("total_messages", 0)
        spends = []
        for model in sorted(models, key=AUGMENT_MODELS.index):
            inputs = weight * rand_int(rng, 2_000, 9_000)
            tokens = {
                "input_tokens": inputs,
                "output_tokens": int(inputs * rng.uniform(0.05, 0.25)),
                "cache_read_tokens": int(inputs * rng.uniform(2, 8)),
                "cache_write_tokens": int(inputs * rng.uniform(0.05, 0.4)),
            }
            cost = (
                tokens["input_tokens"] * model.input_price
                + tokens["output_tokens"] * model.output_price
                + tokens["cache_read_tokens"] * model.cache_read_price
                + tokens["cache_write_tokens"] * model.cache_write_price
            ) / _MILLION
            spends.append(_Spend(model, tokens, cost, int(cost * CREDITS_PER_USD)))
        agent_messages = user_day.totals.get("remote_agent_messages", 0) + user_day.totals.get(
            "cli_agent_non_interactive_messages", 0
        )
        if agent_messages:
            used = agent_messages * rand_int(rng, 20, 120)
            spends.append(_Spend(None, {}, used * USD_PER_COMPUTE_CREDIT, used))
        return spends

    # -- generation ------------------------------------------------------------------------

    def _day(self, day: dt.date) -> tuple[_AugmentUserDay, ...]:
        with self._lock:
            cached = self._cache.get(day)
            if cached is not None:
                self._cache.move_to_end(day)
                return cached
        users = self._generate_day(day)
        with self._lock:
            self._cache[day] = users
            while len(self._cache) > 1024:  # noqa: PLR2004 - bounded memo, ~3 years of dates
                self._cache.popitem(last=False)
        return users

    def _generate_day(self, day: dt.date) -> tuple[_AugmentUserDay, ...]:
        if self.is_no_activity_date(day) or not self._identities:
            return ()
        weekend = day.weekday() >= 5  # noqa: PLR2004 - Saturday and Sunday
        active: list[_AugmentUserDay] = []
        # A restated day draws anew; dates never restated keep their original data.
        revision = (self._revisions[day],) if day in self._revisions else ()
        for identity in self._identities:
            rng = rng_for(self._seed, "augment", day.isoformat(), identity.login, *revision)
            rate = identity.weekend_rate if weekend else identity.weekday_rate
            if rng.random() < rate:
                active.append(self._user_day(rng, identity, day))
        if not active:
            # Keep "no activity" confined to the documented dates: someone always works.
            identity = self._identities[0]
            active.append(
                self._user_day(rng_for(self._seed, "augment", day, "forced"), identity, day)
            )
        return tuple(active)

    def _user_day(
        self, rng: random.Random, identity: _AugmentIdentity, day: dt.date
    ) -> _AugmentUserDay:
        combos: list[tuple[str, str]] = []
        if identity.is_service:
            combos.append(("CLI", "Unknown"))
            if rng.random() < 0.3:  # noqa: PLR2004
                combos.append(("CLI", rng.choice(("Python", "Go"))))
            if rng.random() < 0.1:  # noqa: PLR2004
                combos.append(("Unknown", "Unknown"))
        else:
            count = rand_int(rng, 1, len(identity.languages))
            combos.extend((identity.editor, lang) for lang in identity.languages[:count])
            if rng.random() < 0.25:  # noqa: PLR2004
                combos.append(("CLI", "Unknown"))
            if rng.random() < 0.1:  # noqa: PLR2004
                other = "JetBrains" if identity.editor == "VSCode" else "VSCode"
                combos.append((other, rng.choice(_CODE_LANGUAGES)))
            if rng.random() < 0.05:  # noqa: PLR2004
                combos.append(("Unknown", "Unknown"))
        unique = sorted(set(combos), key=lambda c: (_EDITOR_RANK[c[0]], _LANGUAGE_RANK[c[1]]))
        omit_tools = rng.random() < OMIT_TOOL_CALLS_RATE
        records = []
        for editor, language in unique:
            metrics = _augment_metrics(rng, editor, is_service=identity.is_service, day=day)
            if omit_tools:
                del metrics["total_tool_calls"]
            records.append((editor, language, metrics))
        totals = sum_metrics(m for _, _, m in records)
        return _AugmentUserDay(identity, tuple(records), totals)


def _augment_metrics(rng: random.Random, editor: str, *, is_service: bool, day: dt.date) -> Metrics:
    m = dict.fromkeys(AUGMENT_METRIC_KEYS, 0)
    if editor in _IDE_EDITORS:
        m["completions_count"] = rand_int(rng, 5, 160)
        m["completions_accepted"] = int(m["completions_count"] * rng.uniform(0.35, 0.9))
        m["completions_lines_of_code"] = m["completions_accepted"] + rand_int(
            rng, 0, m["completions_accepted"]
        )
        m["completions_suggested_lines_of_code"] = m["completions_lines_of_code"] + rand_int(
            rng, m["completions_count"] // 2, m["completions_count"] * 2
        )
        m["chat_messages"] = rand_int(rng, 0, 12)
        m["ide_agent_messages"] = rng.choice((0, 0, rand_int(rng, 1, 25)))
        m["ide_agent_lines_of_code"] = m["ide_agent_messages"] * rand_int(rng, 0, 8)
        if rng.random() < 0.08:  # noqa: PLR2004 - Remote Agent is rare ("historical")
            m["remote_agent_messages"] = rand_int(rng, 1, 4)
            m["remote_agent_lines_of_code"] = m["remote_agent_messages"] * rand_int(rng, 0, 10)
    elif editor == "CLI" and is_service:
        m["cli_agent_non_interactive_messages"] = rand_int(rng, 3, 60)
        m["cli_agent_non_interactive_lines_of_code"] = m[
            "cli_agent_non_interactive_messages"
        ] * rand_int(rng, 0, 6)
    elif editor == "CLI":
        m["cli_agent_interactive_messages"] = rand_int(rng, 1, 20)
        m["cli_agent_interactive_lines_of_code"] = m["cli_agent_interactive_messages"] * rand_int(
            rng, 0, 7
        )
        if rng.random() < 0.2:  # noqa: PLR2004
            m["cli_agent_non_interactive_messages"] = rand_int(rng, 1, 5)
            m["cli_agent_non_interactive_lines_of_code"] = rand_int(rng, 0, 30)
    else:
        m["chat_messages"] = rand_int(rng, 1, 5)
    agent_messages = (
        m["remote_agent_messages"]
        + m["ide_agent_messages"]
        + m["cli_agent_interactive_messages"]
        + m["cli_agent_non_interactive_messages"]
    )
    m["total_messages"] = m["chat_messages"] + agent_messages
    m["total_tool_calls"] = agent_messages * rand_int(rng, 1, 4)
    m["total_modified_lines_of_code"] = (
        m["completions_lines_of_code"]
        + m["remote_agent_lines_of_code"]
        + m["ide_agent_lines_of_code"]
        + m["cli_agent_interactive_lines_of_code"]
        + m["cli_agent_non_interactive_lines_of_code"]
    )
    if day < SUGGESTED_LINES_SINCE:
        del m["completions_suggested_lines_of_code"]
    return m


def _money(amount: decimal.Decimal, quantum: str) -> str:
    """``amount`` rounded half-up to ``quantum``, as the API's decimal string."""
    return str(amount.quantize(decimal.Decimal(quantum), rounding=decimal.ROUND_HALF_UP))
