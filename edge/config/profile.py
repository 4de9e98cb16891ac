"""A device profile: one TOML file, one typed model, and the checks that span sections."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError

from ..capture.uri import parse_source_uri
from .base import Section
from .capture import CaptureConfig
from .dataset import DatasetConfig
from .detect import DetectConfig
from .dock import DockConfig
from .evidence import EvidenceConfig
from .link import LinkConfig
from .node import NodeConfig
from .rollout import RolloutConfig
from .rules import RuleConfig
from .speaker import SpeakerConfig
from .telemetry import TelemetryConfig
from .track import TrackConfig
from .upload import UploadConfig
from .zones import ZoneConfig

# The classes each rule kind looks at unless the rule lists its own.
KIND_CLASSES: dict[str, tuple[str, ...]] = {
    "fishing": ("person", "fishing_rod"),
    "boat_intrusion": ("boat",),
    "stall": ("stall", "cart"),
    "parking": ("vehicle",),
    "intrusion": ("person",),
    "camera_tamper": (),  # looks at the picture, not at objects
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    origin: str | None = None  # where the bad value came from when not the file: "--set KEY=VALUE"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """A profile that cannot be used; carries every problem found, each with its field path."""

    def __init__(self, file: str | Path, problems: list[Problem]):
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{p.origin or self.file}: {p}" for p in self.problems]


class Profile(Section):
    node: NodeConfig
    capture: CaptureConfig | None = None
    detect: DetectConfig = Field(default_factory=DetectConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    zones: tuple[ZoneConfig, ...] = ()
    rules: tuple[RuleConfig, ...] = ()
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig)
    link: LinkConfig = Field(default_factory=LinkConfig)
    upload: UploadConfig = Field(default_factory=UploadConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)  # fieldloop
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)  # fieldloop
    telemetry: TelemetryConfig | None = None
    dock: DockConfig | None = None

    _base_dir: Path = PrivateAttr(default=Path("."))

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def resolve(self, path: str | Path) -> Path:
        """Paths in a profile are relative to the profile's own folder."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else (self._base_dir / path)

    def source_uri(self) -> str | None:
        """The capture URI with file paths made absolute."""
        if self.capture is None:
            return None
        return resolve_source_uri(self.capture.source, self._base_dir)

    def speaker_library(self) -> Path:
        from .speaker import SHIPPED_LIBRARY

        return self.resolve(self.speaker.library) if self.speaker.library is not None else SHIPPED_LIBRARY

    def rule_classes(self, rule: RuleConfig) -> tuple[str, ...]:
        classes = rule.classes or KIND_CLASSES[rule.kind]
        return classes[:1] if rule.kind == "fishing" and rule.basis == "loitering" else classes


def resolve_source_uri(uri: str, base_dir: Path) -> str:
    spec = parse_source_uri(uri)
    if not spec.is_path or Path(spec.target).is_absolute():
        return uri
    _, q, query = uri.partition("?")
    return f"{spec.scheme}:{(base_dir / spec.target).as_posix()}{q}{query}"


def parse_override(text: str) -> tuple[str, Any]:
    """`section.key=value` from the command line; the value is TOML, or else a plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set {text!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


def _steps(dotted: str) -> list[str | int]:
    """`zones[0].polygon` -> ["zones", 0, "polygon"]: keys and list indices, as in error paths."""
    steps: list[str | int] = []
    for part in dotted.split("."):
        m = _STEP.match(part)
        if not m:
            raise ValueError(f"--set {dotted}: {part!r} is not a key (keys look like section.key or zones[0].key)")
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return steps


def apply_overrides(data: dict, overrides: list[tuple[str, Any]]) -> dict:
    for dotted, value in overrides:
        *parents, leaf = _steps(dotted)
        node: Any = data
        walked = ""
        for step, nxt in zip(parents, [*parents[1:], leaf][:len(parents)], strict=True):
            walked = f"{walked}[{step}]" if isinstance(step, int) else (f"{walked}.{step}" if walked else step)
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    size = len(node) if isinstance(node, list) else 0
                    raise ValueError(f"--set {dotted}: {walked} does not exist (the list has {size} entries)")
                node = node[step]
            else:
                if not isinstance(node, dict):
                    raise ValueError(f"--set {dotted}: {walked} is not a section")
                node = node.setdefault(step, [] if isinstance(nxt, int) else {})
        if isinstance(leaf, int):
            if not isinstance(node, list) or leaf >= len(node):
                raise ValueError(f"--set {dotted}: index {leaf} does not exist")
            node[leaf] = value
        elif isinstance(node, dict):
            node[leaf] = value
        else:
            raise ValueError(f"--set {dotted}: {walked or leaf} is not a section")
    return data


def _blame_overrides(problems: list[Problem], overrides: list[tuple[str, Any]]) -> list[Problem]:
    """A problem in a value given with --set names the flag, not the file."""
    out = []
    for problem in problems:
        origin = None
        for key, value in overrides:
            if problem.path == key or problem.path.startswith((key + ".", key + "[")):
                shown = value if isinstance(value, str) else json.dumps(value)
                origin = f"--set {key}={shown}"
        out.append(Problem(problem.path, problem.message, origin) if origin else problem)
    return out


def load_profile(file: str | Path, *, check_files: bool = True, overrides: list[tuple[str, Any]] = (),
                 text: str | None = None) -> Profile:
    """Read, validate and cross-check a profile; raise ConfigError listing every problem.

    `text` validates new contents for `file` without reading it (a config command); `overrides`
    are command-line `--set` values applied before validation.
    """
    file = Path(file)
    try:
        data = tomllib.loads(text if text is not None else file.read_text(encoding="utf-8"))
        apply_overrides(data, list(overrides))
    except FileNotFoundError:
        raise ConfigError(file, [Problem("file", "not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [Problem("file", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, [_toml_problem(exc)]) from None
    except ValueError as exc:
        message = str(exc)
        flag, _, rest = message.partition(": ")
        raise ConfigError(file, [Problem(flag.removeprefix("--set "), rest or message, "--set")]) from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, _blame_overrides([_pydantic_problem(e) for e in exc.errors()], list(overrides))) \
            from None
    profile._base_dir = file.resolve().parent
    problems = cross_check(profile, check_files=check_files)
    if problems:
        raise ConfigError(file, _blame_overrides(problems, list(overrides)))
    return profile


def cross_check(profile: Profile, *, check_files: bool = True) -> list[Problem]:
    """Checks that span sections: names that must refer to something, and files that must exist."""
    problems: list[Problem] = []
    known = set(profile.detect.classes)
    known_list = ", ".join(profile.detect.classes)

    if profile.node.kind in ("camera", "drone") and profile.capture is None:
        problems.append(Problem("capture", f"a {profile.node.kind} node needs a [capture] section"))
    if profile.node.kind == "dock" and profile.dock is None:
        problems.append(Problem("dock", "a dock node needs a [dock] section"))

    if any(z.geo_polygon is not None for z in profile.zones) and profile.telemetry is None:
        problems.append(Problem("telemetry", "geofences (geo_polygon) need a [telemetry] section: the camera's pose"))
    if profile.telemetry is not None and profile.detect.motion.enabled:
        problems.append(Problem("detect.motion.enabled", "a moving camera ([telemetry]) cannot use the motion gate: "
                                "set detect.motion = { enabled = false }"))
    zone_names: set[str] = set()
    for i, zone in enumerate(profile.zones):
        if zone.name in zone_names:
            problems.append(Problem(f"zones[{i}].name", f"zone '{zone.name}' is defined twice"))
        zone_names.add(zone.name)
        for j, cls in enumerate(zone.classes):
            if cls not in known:
                problems.append(Problem(f"zones[{i}].classes[{j}]", f"unknown class '{cls}' (known: {known_list})"))

    rule_names: set[str] = set()
    for i, rule in enumerate(profile.rules):
        if rule.name in rule_names:
            problems.append(Problem(f"rules[{i}].name", f"rule '{rule.name}' is defined twice"))
        rule_names.add(rule.name)
        for j, zone in enumerate(rule.zones):
            if zone not in zone_names:
                problems.append(Problem(f"rules[{i}].zones[{j}]", f"unknown zone '{zone}'"))
        if rule.kind == "camera_tamper" and profile.node.kind != "camera":
            problems.append(Problem(f"rules[{i}].kind", "camera_tamper needs a fixed camera (node.kind = \"camera\"): "
                                    "a moving camera's view changes all the time"))
        if rule.classes:
            for j, cls in enumerate(rule.classes):
                if cls not in known:
                    problems.append(
                        Problem(f"rules[{i}].classes[{j}]", f"unknown class '{cls}' (known: {known_list})")
                    )
        else:
            missing = [c for c in profile.rule_classes(rule) if c not in known]
            if missing:
                problems.append(Problem(
                    f"rules[{i}].classes",
                    f"a '{rule.kind}' rule looks for {', '.join(missing)}, which the detector does not know; "
                    "list the rule's classes",
                ))

    ev = profile.evidence
    if ev.enabled:
        for rule in profile.rules:
            reach = rule.dwell_s + rule.recheck_s + ev.preroll_s
            if reach > ev.buffer_s:
                problems.append(Problem(
                    "evidence.buffer_s",
                    f"{ev.buffer_s:g} s cannot reach back to the start of a '{rule.name}' violation when it becomes an "
                    f"alert ({rule.dwell_s:g} + {rule.recheck_s:g} + preroll {ev.preroll_s:g} = {reach:g} s)",
                ))
                break

    if check_files and profile.speaker.enabled and profile.speaker.sink != "none":
        problems.extend(_speaker_problems(profile))

    if check_files:
        missing = _missing_files(profile)
        problems.extend(missing)
        if profile.detect.model is not None and not any(p.path == "detect.model" for p in missing):
            problems.extend(_model_problems(profile))
    return problems


def _speaker_problems(profile: Profile) -> list[Problem]:
    """The clip library must load, and every rule's warning must be in it."""
    from ..speaker import ClipLibrary, SpeakError

    try:
        library = ClipLibrary(profile.speaker_library())
    except SpeakError as exc:
        return [Problem("speaker.library", str(exc))]
    problems = []
    for i, rule in enumerate(profile.rules):
        if rule.warning_clip is not None and rule.warning_clip not in library.clips:
            problems.append(Problem(f"rules[{i}].warning_clip", f"no clip {rule.warning_clip!r} in {library.folder}"))
    return problems


def _model_problems(profile: Profile) -> list[Problem]:
    """The model must be intact, and able to produce every class the rules look for."""
    from ..detect.model import ModelError, load_model_folder

    try:
        labels = load_model_folder(profile.resolve(profile.detect.model)).classes
    except ModelError as exc:
        return [Problem("detect.model", str(exc))]
    from .detect import resolve_class_map

    cmap = resolve_class_map(profile.detect.class_map, labels, profile.detect.classes)
    problems = [Problem(f"detect.class_map.{key}", f"not a label of the model (labels: {', '.join(labels)})")
                for key in cmap if key not in labels]
    producible = {cmap.get(label, label) for label in labels}
    for i, rule in enumerate(profile.rules):
        lacking = [c for c in profile.rule_classes(rule) if c not in producible]
        if lacking:
            problems.append(Problem(
                f"rules[{i}]",
                f"needs {', '.join(lacking)}, which the model cannot detect; map a model label onto it in "
                "detect.class_map" + (", or set basis = \"loitering\" on the rule" if rule.kind == "fishing" else ""),
            ))
    return problems


def _missing_files(profile: Profile) -> list[Problem]:
    refs: list[tuple[str, Path, str]] = []  # (field path, path, "file" | "dir")
    if profile.capture is not None:
        spec = parse_source_uri(profile.capture.source)
        if spec.is_path and "${" not in spec.target:
            refs.append(("capture.source", Path(spec.target), "any"))
    if profile.detect.model is not None:
        refs.append(("detect.model", profile.detect.model, "dir"))
    link = profile.link
    if link.password_file is not None:
        refs.append(("link.password_file", link.password_file, "file"))
    if link.tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(link.tls, name)
            if value is not None:
                refs.append((f"link.tls.{name}", value, "file"))
    problems = []
    for field_path, path, kind in refs:
        full = profile.resolve(path)
        if not full.exists():
            problems.append(Problem(field_path, f"not found: {path}" + (f" ({full})" if full != path else "")))
        elif kind == "file" and not full.is_file():
            problems.append(Problem(field_path, f"not a file: {path}"))
        elif kind == "dir" and not full.is_dir():
            problems.append(Problem(field_path, f"not a folder: {path}"))
    return problems


def _toml_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", text)
    where = f"line {match.group(1)}" if match else "toml"
    return Problem(where, f"invalid TOML: {message[:1].lower()}{message[1:]}")


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _pydantic_problem(error: dict[str, Any]) -> Problem:
    kind = error["type"]
    loc = format_loc(tuple(error["loc"]))
    if kind == "extra_forbidden":
        return Problem(loc, "unknown key")
    if kind == "missing":
        return Problem(loc, "required key is missing")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    elif kind != "inline_secret":
        message = message[:1].lower() + message[1:]
        value = error.get("input")
        if isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
            message += f" (got {value!r})"
    return Problem(loc, message)
