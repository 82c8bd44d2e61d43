"""The probe file's models: every key, its type, its default, and what it means."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PrivateAttr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from .types import Confidence, Duration, NonEmpty, Percent, ProbeName, Size, validate_cron


class Strict(BaseModel):
    """A config section: unknown keys are errors, and we remember what was allowed."""

    # defer_build: the schemas are built once, for the whole file, when one is first loaded,
    # not class by class at import: `observer validate` starts noticeably faster.
    model_config = ConfigDict(extra="forbid", frozen=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _remember_allowed(cls, data: Any, info: ValidationInfo) -> Any:
        # The loader turns extra_forbidden errors into did-you-mean hints; it needs to know
        # which keys this section takes, and the error itself does not say.
        if isinstance(data, dict) and isinstance(info.context, dict):
            allowed = info.context.setdefault("allowed", {})
            allowed[id(data)] = sorted(f.alias or n for n, f in cls.model_fields.items())
        return data


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false; people mean the word.
    return "off" if value is False else value


class Shorthand(Strict):
    """A section that may also be written as one plain value: `goto: URL`."""

    shorthand: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {cls.shorthand: data}
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        full = handler(core_schema)
        return {"anyOf": [{"type": ["string", "number"]}, full]}


# ----------------------------------------------------------------------------- steps


class StepBase(Strict):
    """Keys every step may carry beside its action."""

    action: ClassVar[str]
    name: NonEmpty | None = Field(None, description="Name shown in reports and used by step:NAME")
    timeout: Duration | None = Field(
        None, description="This step's timeout (settings.step_timeout)"
    )
    # Set by the loader: the names of values captured earlier in the journey that this step
    # uses as ${name}. Such a step's strings are templates (a literal $ is $$ in them) that
    # config.expand.expand_step fills in when the journey reaches the step.
    _captures: frozenset[str] = PrivateAttr(default_factory=frozenset)
    # Set with _captures: the step as written (after load-time expansion, in template form),
    # which expand_step fills in and validates again; durations are still text in it.
    _template: Any = PrivateAttr(default=None)

    @property
    def captures(self) -> frozenset[str]:
        """Captured values this step uses (filled in at run time)."""
        return self._captures


class GotoArgs(Shorthand):
    shorthand = "url"
    url: NonEmpty = Field(description="Absolute URL to open")
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = Field(
        "load", description="When navigation counts as done"
    )
    expect_status: list[int] | None = Field(
        None, description="Acceptable HTTP statuses of the page (default: below 400)"
    )


NTH_HELP = (
    "Which of several matches to use, 0-based; -1 is the last. Without it the selector must "
    "match exactly one element (Playwright's strict mode)"
)


class SelectorArgs(Shorthand):
    shorthand = "selector"
    selector: NonEmpty = Field(description="Playwright selector: CSS, text=..., role=...")
    nth: int | None = Field(None, description=NTH_HELP)


class ClickArgs(SelectorArgs):
    button: Literal["left", "right", "middle"] = "left"
    click_count: int = Field(1, ge=1, le=3)


class FillArgs(Strict):
    selector: NonEmpty
    nth: int | None = Field(None, description=NTH_HELP)
    value: str = Field(description="Text to type into the field")
    secret: bool = Field(False, description="Never store or show the value; it reads as ***")


class PressArgs(Shorthand):
    shorthand = "key"
    key: NonEmpty = Field(description="Key or chord, e.g. Enter, Control+A")
    selector: NonEmpty | None = Field(None, description="Element to focus first")
    nth: int | None = Field(None, description=NTH_HELP)

    @model_validator(mode="after")
    def _nth_needs_selector(self) -> PressArgs:
        _nth_with_selector(self.nth, self.selector)
        return self


class SelectArgs(Strict):
    selector: NonEmpty
    nth: int | None = Field(None, description=NTH_HELP)
    value: str | list[str] | None = Field(None, description="Option value(s) to select")
    label: str | None = Field(None, description="Option label to select")

    @model_validator(mode="after")
    def _one_choice(self) -> SelectArgs:
        if (self.value is None) == (self.label is None):
            raise ValueError("give exactly one of value or label")
        return self


class WaitForArgs(Shorthand):
    shorthand = "selector"
    selector: NonEmpty | None = None
    nth: int | None = Field(None, description=NTH_HELP)
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"
    url: NonEmpty | None = Field(None, description="Glob the page URL must match, e.g. **/done")
    load_state: Literal["load", "domcontentloaded", "networkidle"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> WaitForArgs:
        given = [k for k in ("selector", "url", "load_state") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of selector, url or load_state")
        _nth_with_selector(self.nth, self.selector)
        return self


class ExpectTextArgs(Shorthand):
    shorthand = "text"
    text: NonEmpty = Field(description="Text that must be visible (substring)")
    selector: NonEmpty | None = Field(
        None, description="Look only inside this element, which must be visible"
    )
    nth: int | None = Field(None, description=NTH_HELP)

    @model_validator(mode="after")
    def _nth_needs_selector(self) -> ExpectTextArgs:
        _nth_with_selector(self.nth, self.selector)
        return self


def _nth_with_selector(nth: int | None, selector: str | None) -> None:
    if nth is not None and selector is None:
        raise ValueError("nth picks one of the elements a selector matches: give selector too")


def _compiles(value: str | None) -> str | None:
    """A regular expression that compiles, checked by a field validator so the problem points
    at the pattern, not at the section holding it."""
    if value is not None:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


CAPTURE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class CaptureArgs(Strict):
    name: str = Field(
        pattern=CAPTURE_NAME, description="Later steps of the journey use it as ${name}"
    )
    selector: NonEmpty | None = Field(
        None, description="Take a form control's value, or else the element's visible text"
    )
    nth: int | None = Field(None, description=NTH_HELP)
    attribute: NonEmpty | None = Field(None, description="Take this attribute of the element")
    url_regex: str | None = Field(
        None, description="Or take it from the page URL: group 1 if any, else the whole match"
    )
    regex: str | None = Field(
        None, description="Keep only what this matches: group 1 if any, else the whole match"
    )
    secret: bool = Field(False, description="Never store or show the value; it reads as ***")

    @field_validator("regex", "url_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        return _compiles(value)

    @model_validator(mode="after")
    def _one_source(self) -> CaptureArgs:
        if (self.selector is None) == (self.url_regex is None):
            raise ValueError("give exactly one of selector or url_regex")
        if self.url_regex is not None and (self.attribute is not None or self.regex is not None):
            raise ValueError("url_regex is the pattern itself: leave attribute and regex out")
        _nth_with_selector(self.nth, self.selector)
        return self


class ExpectUrlArgs(Shorthand):
    shorthand = "url"
    url: NonEmpty = Field(description="Glob: ** any characters, * any but /, e.g. **/orders/*")


class ExpectTitleArgs(Shorthand):
    shorthand = "title"
    title: NonEmpty
    exact: bool = Field(False, description="Whole title must equal; default: contains")


class ScreenshotArgs(Shorthand):
    shorthand = "name"
    name: NonEmpty = Field(description="File name stem of the screenshot")
    full_page: bool = False


Impact = Literal["minor", "moderate", "serious", "critical"]
WCAG_TAGS = ["wcag2a", "wcag2aa"]


def _empty_args(value: Any) -> Any:
    # `- expect_accessible:` with nothing after it: every default.
    return {} if value is None else value


class AxeArgs(Strict):
    """Which of axe-core's rules run, and where."""

    tags: list[NonEmpty] = Field(
        default_factory=lambda: list(WCAG_TAGS),
        description="axe-core rule tags to run, e.g. wcag2a, wcag2aa, wcag21aa, best-practice",
    )
    rules: dict[NonEmpty, bool] = Field(
        default_factory=dict,
        description="Rules by id turned on (true) or off (false), e.g. {color-contrast: false}",
    )
    exclude: list[NonEmpty] = Field(
        default_factory=list, description="CSS selectors of parts of the page not checked"
    )


class AccessibleArgs(AxeArgs):
    impact: Impact = Field(
        "serious",
        description="Fail on violations at or above this impact: minor, moderate, serious, "
        "critical",
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # `- expect_accessible:` with nothing after it is every default.
        return {"anyOf": [{"type": "null"}, handler(core_schema)]}


class Accessibility(AxeArgs):
    """Audit every page a journey visits with axe-core, without failing the journey."""

    mode: Literal["audit", "off"] = Field(
        "off", description="audit: check each page the journey visits; off: only steps check"
    )
    impact: Impact = Field(
        "serious",
        description="observer check --baseline: a new violation at or above this fails",
    )

    @model_validator(mode="before")
    @classmethod
    def _word(cls, data: Any) -> Any:
        # `accessibility: audit` or `accessibility: off` (YAML reads a bare off as false).
        if data is False:
            return {"mode": "off"}
        if isinstance(data, str):
            return {"mode": data}
        return data


class GotoStep(StepBase):
    action = "goto"
    goto: GotoArgs


class ClickStep(StepBase):
    action = "click"
    click: ClickArgs


class FillStep(StepBase):
    action = "fill"
    fill: FillArgs


class PressStep(StepBase):
    action = "press"
    press: PressArgs


class SelectStep(StepBase):
    action = "select"
    select: SelectArgs


class CheckStep(StepBase):
    action = "check"
    check: SelectorArgs


class UncheckStep(StepBase):
    action = "uncheck"
    uncheck: SelectorArgs


class HoverStep(StepBase):
    action = "hover"
    hover: SelectorArgs


class WaitForStep(StepBase):
    action = "wait_for"
    wait_for: WaitForArgs


class WaitStep(StepBase):
    action = "wait"
    wait: Duration = Field(description="Pause for this long (prefer wait_for)")


class ExpectTextStep(StepBase):
    action = "expect_text"
    expect_text: ExpectTextArgs


class CaptureStep(StepBase):
    action = "capture"
    capture: CaptureArgs


class ExpectVisibleStep(StepBase):
    action = "expect_visible"
    expect_visible: SelectorArgs


class ExpectUrlStep(StepBase):
    action = "expect_url"
    expect_url: ExpectUrlArgs


class ExpectTitleStep(StepBase):
    action = "expect_title"
    expect_title: ExpectTitleArgs


class ScreenshotStep(StepBase):
    action = "screenshot"
    screenshot: ScreenshotArgs


class MarkStep(StepBase):
    action = "mark"
    mark: NonEmpty = Field(
        description="A named milestone of the task; the last one reached is kept"
    )


class ExpectAccessibleStep(StepBase):
    action = "expect_accessible"
    expect_accessible: Annotated[AccessibleArgs, BeforeValidator(_empty_args)] = Field(
        description="Check the page with axe-core: fail on violations at or above `impact`"
    )


class UseStep(StepBase):
    action = "use"
    use: ProbeName = Field(description="Run another journey's steps here")


STEP_MODELS: tuple[type[StepBase], ...] = (
    GotoStep,
    ClickStep,
    FillStep,
    PressStep,
    SelectStep,
    CheckStep,
    UncheckStep,
    HoverStep,
    WaitForStep,
    WaitStep,
    ExpectTextStep,
    ExpectVisibleStep,
    ExpectUrlStep,
    ExpectTitleStep,
    ScreenshotStep,
    MarkStep,
    CaptureStep,
    ExpectAccessibleStep,
    UseStep,
)
ACTIONS: dict[str, type[StepBase]] = {m.action: m for m in STEP_MODELS}


def step_action(data: Any) -> str | None:
    """The action a raw or parsed step names; None when it names none or several."""
    if isinstance(data, StepBase):
        return data.action
    if isinstance(data, dict):
        found = [k for k in data if k in ACTIONS]
        return found[0] if len(found) == 1 else None
    return None


Step = Annotated[
    Annotated[GotoStep, Tag("goto")]
    | Annotated[ClickStep, Tag("click")]
    | Annotated[FillStep, Tag("fill")]
    | Annotated[PressStep, Tag("press")]
    | Annotated[SelectStep, Tag("select")]
    | Annotated[CheckStep, Tag("check")]
    | Annotated[UncheckStep, Tag("uncheck")]
    | Annotated[HoverStep, Tag("hover")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[ExpectTextStep, Tag("expect_text")]
    | Annotated[ExpectVisibleStep, Tag("expect_visible")]
    | Annotated[ExpectUrlStep, Tag("expect_url")]
    | Annotated[ExpectTitleStep, Tag("expect_title")]
    | Annotated[ScreenshotStep, Tag("screenshot")]
    | Annotated[MarkStep, Tag("mark")]
    | Annotated[CaptureStep, Tag("capture")]
    | Annotated[ExpectAccessibleStep, Tag("expect_accessible")]
    | Annotated[UseStep, Tag("use")],
    Discriminator(
        step_action,
        custom_error_type="step_action",
        custom_error_message="a step needs exactly one action",
    ),
]

# ----------------------------------------------------------------------------- probes


class Viewport(Strict):
    width: int = Field(ge=100, le=10000)
    height: int = Field(ge=100, le=10000)


NETWORK_PROFILES = ("slow-4g", "slow-3g", "offline")


class NetworkArgs(Strict):
    """Explicit network conditions (kbps are 1,024 bits a second, as Lighthouse counts)."""

    download_kbps: float = Field(gt=0, le=10_000_000, description="Download throughput")
    upload_kbps: float | None = Field(
        None, gt=0, le=10_000_000, description="Upload throughput (default: not throttled)"
    )
    latency: Duration = Field(0.0, description="Added to each request's round trip, e.g. 150ms")


def _word_or_mapping(value: Any) -> str | None:
    # Which member of a union of a word and a mapping the value means; the tags start with ~
    # so that the loader leaves them out of the paths it reports.
    if isinstance(value, str):
        return "~word"
    if isinstance(value, dict | BaseModel):
        return "~mapping"
    return None


NetworkSetting = Annotated[
    Annotated[
        Annotated[Literal["slow-4g", "slow-3g", "offline", "off"], Tag("~word")]
        | Annotated[NetworkArgs, Tag("~mapping")],
        Discriminator(
            _word_or_mapping,
            custom_error_type="network",
            custom_error_message="give a profile (slow-4g, slow-3g, offline, off) or "
            "{download_kbps, upload_kbps, latency}",
        ),
    ],
    BeforeValidator(_yaml_off),
]
CONDITION_PRESETS = ("mobile",)


class Condition(Strict):
    """What a journey runs on: a device, a network, a CPU."""

    device: NonEmpty | None = Field(None, description="Playwright device name, e.g. 'iPhone 13'")
    network: NetworkSetting | None = Field(
        None,
        description="slow-4g, slow-3g, offline, off, or {download_kbps, upload_kbps, latency}",
    )
    cpu_slowdown: float | None = Field(
        None, ge=1, le=20, description="CPU slowed this many times (1: not slowed)"
    )


# A matrix entry: a preset's name (`mobile`) or the conditions themselves.
ConditionEntry = Annotated[
    Annotated[Literal["mobile"], Tag("~word")] | Annotated[Condition, Tag("~mapping")],
    Discriminator(
        _word_or_mapping,
        custom_error_type="condition",
        custom_error_message="give a preset (mobile) or {device, network, cpu_slowdown}",
    ),
]


class HttpExpect(Strict):
    """What an HTTP probe's response must look like."""

    status: int | list[int] | None = Field(
        None, description="Acceptable status code(s); default: any 2xx or 3xx"
    )
    body_contains: str | list[str] | None = Field(None, description="Text the body must contain")
    body_not_contains: str | list[str] | None = Field(None, description="Text it must not contain")
    body_matches: str | None = Field(None, description="Regular expression the body must match")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Response headers that must contain these values"
    )
    max_time: Duration | None = Field(None, description="Slowest acceptable response")

    @field_validator("body_matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        return _compiles(value)


class Budget(Strict):
    """How good an experience must be: a metric, over probes' runs, against a threshold."""

    name: NonEmpty = Field(description="Shown in reports and alerts; unique")
    description: str | None = None
    probe: ProbeName | None = Field(None, description="The probe whose runs count")
    probes: list[NonEmpty] | None = Field(None, description="Probe names or globs ('*' for all)")
    metric: NonEmpty = Field(
        description="duration, step:NAME, ttfb, fcp, lcp, cls, inp, load, dcl, errors, "
        "completion; for http checks also status and time"
    )
    threshold: NonEmpty = Field(description="AGGREGATE OP VALUE, e.g. 'p95 < 4s', 'rate >= 99%'")
    warn: NonEmpty | None = Field(
        None, description="A stricter threshold: past it but within threshold is degraded"
    )
    min_samples: int = Field(1, ge=1, description="Fewer samples than this is inconclusive")
    regression: Percent | None = Field(
        None,
        description="Fail when the median is worse than the baseline by more than this, e.g. "
        "30%: observer check's --baseline, and in serve the trailing `baseline:` window",
    )
    baseline: Duration | None = Field(
        None,
        description="observer serve: compare the window with this much history before it "
        "(e.g. 7d), for `regression:`",
    )
    confidence: Confidence | None = Field(
        None,
        description="How sure a breach or a pass must be in serve and budgets (settings."
        "confidence, 0.95); off judges the point estimate",
    )
    window: Duration | None = Field(
        None, description="Time window for observer budgets and serve (settings.window)"
    )
    source: Literal["synthetic", "rum", "both"] = Field(
        "synthetic", description="Judge probes' runs, real users' beacons, or both side by side"
    )
    page: NonEmpty | None = Field(None, description="Real users: page glob, e.g. /checkout*")
    device: Literal["mobile", "tablet", "desktop"] | None = Field(
        None, description="Real users: only this device class"
    )
    task: NonEmpty | None = Field(
        None,
        description="Real users: only the sessions of this task (begun with observer.begin, "
        "or answered feedback about it)",
    )
    location: NonEmpty | None = Field(
        None, description="Probes: only runs from this location (default: every location)"
    )
    condition: ConditionEntry | None = Field(
        None,
        description="Probes: only runs under these conditions, e.g. {network: slow-4g}, or a "
        "preset (mobile) (default: every entry of a probe's conditions)",
    )
    impact: Impact | None = Field(
        None, description="a11y_violations: count violations at or above this impact only"
    )

    @field_validator("metric")
    @classmethod
    def _metric_parses(cls, value: str) -> str:
        from ..budgets import parse_metric

        parse_metric(value)
        return value


class Probe(Strict):
    """One probe: an HTTP check (`http:`) or a browser journey (`journey:`)."""

    name: ProbeName
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    timeout: Duration | None = Field(None, description="Whole-probe limit (settings.timeout)")
    enabled: bool = True
    # HTTP checks
    http: NonEmpty | None = Field(None, description="URL of an HTTP check")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers")
    body: str | None = Field(None, description="Request body of an HTTP check")
    expect: HttpExpect | None = None
    # Journeys
    journey: list[Step] | None = Field(None, description="Browser steps, in order")
    device: NonEmpty | None = Field(None, description="Playwright device name, e.g. 'iPhone 13'")
    network: NetworkSetting | None = Field(
        None,
        description="Throttle the network: slow-4g, slow-3g, offline, off, or {download_kbps, "
        "upload_kbps, latency} (settings.network)",
    )
    cpu_slowdown: float | None = Field(
        None, ge=1, le=20, description="Slow the CPU this many times (settings.cpu_slowdown)"
    )
    conditions: list[ConditionEntry] | None = Field(
        None,
        description="Run once per entry: a preset (mobile) or {device, network, cpu_slowdown}",
    )
    accessibility: Accessibility | None = Field(
        None, description="audit: check every page with axe-core (settings.accessibility)"
    )
    viewport: Viewport | None = None
    locale: NonEmpty | None = Field(None, description="e.g. en-GB")
    timezone: NonEmpty | None = Field(None, description="IANA zone, e.g. Europe/Berlin")
    step_timeout: Duration | None = Field(None, description="Default step timeout for this journey")
    fail_on_page_error: bool | None = Field(
        None, description="An uncaught page error fails the journey (settings default: false)"
    )
    settle: SettleMode | None = Field(
        None, description="Wait for the last page to settle before reading it (settings.settle)"
    )
    retries: int | None = Field(None, ge=0, le=5, description="Retries of a failed run")
    every: Duration | None = Field(None, description="observer serve runs it this often")
    depends_on: list[ProbeName] = Field(
        default_factory=list, description="Probes this one needs: its alerts wait while they fail"
    )
    locations: list[NonEmpty] | None = Field(
        None,
        description="observer serve runs it only at these locations (default: every location "
        "with a runner)",
    )
    cron: NonEmpty | None = Field(
        None, description="Or on this cron schedule (UTC), e.g. */5 * * * *"
    )
    budgets: list[Budget] = Field(
        default_factory=list, description="Budgets of this probe (probe: is implied)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Probe:
        if (self.http is None) == (self.journey is None):
            raise ValueError("a probe needs exactly one of http (a URL) or journey (steps)")
        if self.every is not None and self.cron is not None:
            raise ValueError("give every or cron, not both")
        if self.http is not None:
            wrong = [k for k in _JOURNEY_ONLY if getattr(self, k) is not None]
            if wrong:
                verb = "applies" if len(wrong) == 1 else "apply"
                raise ValueError(f"{', '.join(wrong)} only {verb} to journeys, not http checks")
        else:
            wrong = [k for k in _HTTP_ONLY if k in self.model_fields_set]
            if wrong:
                verb = "applies" if len(wrong) == 1 else "apply"
                raise ValueError(f"{', '.join(wrong)} only {verb} to http checks, not journeys")
            if self.journey == []:
                raise ValueError("journey has no steps")
            if self.conditions == []:
                raise ValueError("conditions needs at least one entry (or leave it out)")
        return self

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            problem = validate_cron(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("every")
    @classmethod
    def _every_positive(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value

    @property
    def kind(self) -> Literal["http", "journey"]:
        """http or journey."""
        return "http" if self.http is not None else "journey"


_JOURNEY_ONLY = (
    "device",
    "network",
    "cpu_slowdown",
    "conditions",
    "accessibility",
    "viewport",
    "locale",
    "timezone",
    "step_timeout",
    "fail_on_page_error",
    "settle",
)
_HTTP_ONLY = ("method", "headers", "body", "expect")

# ----------------------------------------------------------------------------- settings


class Retention(Strict):
    runs: Duration = Field(90 * 86400.0, description="Runs (with steps, errors) older than this go")
    artifacts: Duration = Field(
        14 * 86400.0, description="Screenshots and traces older than this go"
    )


OnOff = Annotated[
    Literal["on_failure", "always", "off"],
    BeforeValidator(_yaml_off),
]
TraceMode = Annotated[
    Literal["on_retry", "on_failure", "always", "off"],
    BeforeValidator(_yaml_off),
]


class Settle(Strict):
    """How long the last page of a journey may keep changing before its figures are read."""

    quiet: Duration = Field(
        0.5, description="Settled after this long with no new request, LCP candidate or shift"
    )
    max: Duration = Field(10.0, description="Read the figures after this long in any case")

    @field_validator("quiet", "max")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than zero")
        return value


SettleMode = Annotated[Settle | Literal["off"], BeforeValidator(_yaml_off)]


class BasicAuth(Strict):
    user: NonEmpty
    password: NonEmpty


class Dashboard(Strict):
    token: NonEmpty | None = Field(
        None, description="Pages and /api need ?token=, a Bearer header or its cookie"
    )
    basic_auth: BasicAuth | None = Field(None, description="Or HTTP basic credentials")


class BrowserSettings(Strict):
    executable: NonEmpty | None = Field(
        None, description="Chromium or Chrome binary (else OBSERVER_CHROMIUM, Playwright's, PATH)"
    )
    headless: bool = True
    args: list[str] = Field(default_factory=list, description="Extra Chromium flags")


class Settings(Strict):
    database: NonEmpty = Field("observer.db", description="SQLite file, relative to this file")
    artifacts: NonEmpty = Field(
        "artifacts", description="Screenshots and traces directory, relative to this file"
    )
    timeout: Duration = Field(30.0, description="Whole-probe limit")
    step_timeout: Duration = Field(10.0, description="Default limit of one journey step")
    concurrency: int = Field(4, ge=1, le=64, description="Probes run at once")
    screenshots: OnOff = Field(
        "on_failure", description="When to save a screenshot at the end of a journey"
    )
    trace: TraceMode = Field(
        "on_failure",
        description="When to keep a Playwright trace of a journey. on_failure: runs are not "
        "traced (tracing slows the page being measured); a failed run is replayed once with "
        "tracing and the replay's trace is kept when it fails too. on_retry: the attempts "
        "after a failure are traced. always: every run is traced (and measured traced)",
    )
    settle: SettleMode = Field(
        default_factory=lambda: Settle(),
        description="Before a journey's last page is read, wait for a quiet window after its "
        "load event (no new request, LCP candidate or layout shift); off to read it at once",
    )
    fail_on_page_error: bool = Field(False, description="Uncaught page errors fail journeys")
    network: NetworkSetting = Field(
        "off",
        description="Throttle journeys' network: slow-4g, slow-3g, offline, off, or "
        "{download_kbps, upload_kbps, latency}",
    )
    cpu_slowdown: float = Field(1.0, ge=1, le=20, description="Slow journeys' CPU this many times")
    accessibility: Accessibility = Field(
        default_factory=lambda: Accessibility(),
        description="audit: check every page journeys visit with axe-core, without failing them",
    )
    user_agent: NonEmpty | None = Field(None, description="User-Agent for journeys and checks")
    verify_tls: bool = Field(True, description="Check TLS certificates")
    location: NonEmpty | None = Field(None, description="Where this observer runs; on every run")
    retries: int = Field(0, ge=0, le=5, description="Retries of a failed or errored run")
    window: Duration = Field(3600.0, description="Default time window of budgets")
    confidence: Confidence = Field(
        0.95,
        description="How sure a budget's breach or pass must be in serve and budgets (a "
        "percentile's or a rate's one-sided bound); off judges the point estimate",
    )
    every: Duration = Field(60.0, description="observer serve: how often probes run by default")
    evaluate_every: Duration = Field(
        30.0, description="observer serve: how often budgets are judged over their windows"
    )
    shutdown_grace: Duration = Field(
        10.0, description="observer serve: how long in-flight runs may finish on SIGTERM"
    )
    retention: Retention = Field(
        default_factory=lambda: Retention(), description="How long runs and artifacts are kept"
    )
    public_url: NonEmpty | None = Field(
        None, description="Where people reach this observer (links in alerts)"
    )
    dashboard: Dashboard = Field(
        default_factory=lambda: Dashboard(), description="Access control of the dashboard"
    )
    browser: BrowserSettings = Field(default_factory=lambda: BrowserSettings())


class RateLimit(Strict):
    per_second: float = Field(50.0, gt=0, description="Requests a client may send per second")
    burst: int = Field(100, ge=1, description="Requests a client may send at once")


class Survey(Strict):
    """One small question, asked once a session completes a task."""

    after: NonEmpty = Field(description="The task whose completion (observer.complete) asks it")
    ask: Literal["csat", "ces", "nps"] = Field("csat", description="What is asked")
    sample: float = Field(0.1, gt=0, le=1, description="Share of sessions asked (never one twice)")
    question: NonEmpty | None = Field(
        None, max_length=200, description="The question (a sensible one for `ask` by default)"
    )
    respect_gpc: bool = Field(
        True, description="Ask nobody whose browser sends Global Privacy Control"
    )


class Rum(Strict):
    """The real-user beacon endpoint of `observer serve`."""

    path: NonEmpty = Field("/beacon", description="Where beacons are posted")
    app: NonEmpty | None = Field(None, description="App name for beacons that carry none")
    sample_rate: float = Field(1.0, ge=0, le=1, description="Share of sessions /rum.js reports")
    allowed_origins: list[NonEmpty] = Field(
        default_factory=lambda: ["*"], description="Origins allowed by CORS; * for any"
    )
    max_body: Size = Field(65536, description="Largest body, also once decompressed (<= 1MiB)")
    rate_limit: RateLimit | None = Field(
        default_factory=lambda: RateLimit(), description="Per client address; off to disable"
    )
    api_key: NonEmpty | None = Field(
        None, description="When set, every beacon must carry it (X-API-Key or Bearer)"
    )
    retention: Duration = Field(30 * 86400.0, description="How long beacons are kept")
    keep_query: bool = Field(False, description="Keep query strings in page names")
    pages: list[NonEmpty] = Field(
        default_factory=list, description="Page grouping patterns, e.g. /products/*"
    )
    trust_forwarded: bool = Field(
        False, description="Take the client address from X-Forwarded-For (behind a proxy)"
    )

    survey: Survey | None = Field(
        None,
        description="A one-question survey the snippet shows once a session completes a task",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as false.
        return None if value is False or value == "off" else value


class Flapping(Strict):
    """When an alert fires and resolves too often to be worth a message each time."""

    fires: int = Field(3, ge=2, le=100, description="Fired this many times ...")
    within: Duration = Field(1800.0, description="... within this period: flapping")


class AlertRule(Strict):
    """When to tell whom: which budgets or probes, how persistent a breach must be, where to."""

    name: NonEmpty = Field(description="Shown in notifications; unique")
    budgets: list[NonEmpty] = Field(default_factory=list, description="Budget names or globs")
    probes: list[NonEmpty] = Field(
        default_factory=list, description="Probe names or globs: alert when their runs fail"
    )
    notify: list[NonEmpty] = Field(description="Channel names from alerts.channels")
    severity: Literal["critical", "warning", "info"] = "critical"
    after: int = Field(3, ge=1, le=1000, description="Consecutive breached evaluations to fire")
    resolve_after: int = Field(2, ge=1, le=1000, description="Consecutive healthy ones to resolve")
    for_: Duration | None = Field(
        None,
        alias="for",
        description="Fire once the breach has held this long with no healthy or inconclusive "
        "evaluation between (budgets: half the budget's window, at most 5m; probes: 0s)",
    )
    resolve_for: Duration | None = Field(
        None, description="Resolve once healthy this long with no breach or inconclusive between"
    )
    flapping: Flapping | None = Field(
        default_factory=lambda: Flapping(),
        description="Fired this many times within this period: one flapping message, then "
        "quiet until stable as long (off: every transition is sent)",
    )
    repeat: Duration | None = Field(None, description="Remind this often while still firing")
    send_resolved: bool = Field(True, description="Tell the channels when it is over")
    on_degraded: bool = Field(False, description="A degraded budget counts as breached")
    on_error: bool = Field(
        True, description="A probe run that ended in error (observer's trouble) counts as breached"
    )
    min_locations: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Probes: breached only while at least this many locations fail at once",
    )

    @field_validator("flapping", mode="before")
    @classmethod
    def _flapping_off(cls, value: Any) -> Any:
        # `flapping: off` (YAML reads a bare off as false): every transition is sent.
        return None if value is False or value == "off" else value

    @model_validator(mode="after")
    def _selects(self) -> AlertRule:
        if not self.budgets and not self.probes:
            raise ValueError("give budgets: [...] or probes: [...] (names or globs)")
        if not self.notify:
            raise ValueError("notify needs at least one channel")
        return self


class Alerts(Strict):
    """Notifications through apprise: channels by name, and rules that use them."""

    channels: dict[str, NonEmpty] = Field(
        default_factory=dict, description="name: apprise URL (secret: never logged or stored)"
    )
    rules: list[AlertRule] = Field(default_factory=list)
    timeout: Duration = Field(10.0, description="Limit of one delivery attempt")
    retries: int = Field(3, ge=0, le=10, description="Further attempts after a failed delivery")
    backoff: Duration = Field(1.0, description="Wait before the first retry; doubles each time")

    @field_validator("channels")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if "://" not in url:
                raise ValueError(f"channel '{name}' is not an apprise URL (scheme://...)")
        return value


class Config(Strict):
    """A whole probe file."""

    settings: Settings = Field(default_factory=lambda: Settings())
    vars: Annotated[
        dict[str, str],
        WithJsonSchema(
            {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
        ),
    ] = Field(default_factory=dict, description="Values for ${name}; may use ${ENV_VAR:-default}")
    include: list[NonEmpty] = Field(
        default_factory=list, description="Other probe files (globs, relative to this file)"
    )
    probes: list[Probe] = Field(default_factory=list)
    budgets: list[Budget] = Field(default_factory=list, description="Experience budgets")
    rum: Rum = Field(default_factory=lambda: Rum(), description="Real-user beacons (serve)")
    alerts: Alerts = Field(default_factory=lambda: Alerts(), description="Notifications")
