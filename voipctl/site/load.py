"""Read a site file into a frozen `Site`, or raise `SiteError` with every problem.

Reads files only; never writes. Problems are reported as FILE:LINE: path: message.
"""

from __future__ import annotations

from collections import Counter
from difflib import get_close_matches
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from voipctl.errors import Problem, SiteError
from voipctl.site.cluster import cluster_problems
from voipctl.site.database import db_problems
from voipctl.site.model import REQUIRED_ROLES, Site, model_hash
from voipctl.site.nodeaddrs import family_problems, host_problems
from voipctl.site.spec import SiteSpec, Subscriber, SubscribersFile
from voipctl.site.yamlsource import PathPart, SourceMap, parse_yaml, plain_load


def read_bytes(path: Path) -> bytes:
    """Read a file, turning OS errors into a located problem."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        reason = "is a directory, expected a YAML file"
    except FileNotFoundError:
        reason = "no such file"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise SiteError([Problem(str(path), 1, "", reason)])


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind.startswith("url_"):
        return f"{err.get('input')!r} is not a valid URL ({msg[0].lower()}{msg[1:]})"
    if kind == "string_pattern_mismatch":
        value = err.get("input")
        return f"{value!r} does not match the required form {err['ctx']['pattern']}"
    return msg


def _loc(err: Any) -> tuple[PathPart, ...]:
    """Drop pydantic's union branch tags (e.g. `ExternalDb`) from an error location."""
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))


def _allowed_keys(model: type[BaseModel], loc: tuple[PathPart, ...]) -> list[str]:
    """Field names of the model that holds the last key of `loc` (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return []
        current = next((t for t in _model_types(field.annotation)), None)
        if current is None:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [t for arg in get_args(annotation) for t in _model_types(arg)]


def problems_from(exc: ValidationError, source: SourceMap, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc, message = _loc(err), _message(err)
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            close = get_close_matches(loc[-1], _allowed_keys(model, loc), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        problems.append(source.problem(loc, message))
    return problems


def _parse_spec(doc: dict[str, Any], source: SourceMap) -> SiteSpec:
    try:
        return SiteSpec.model_validate(doc)
    except ValidationError as exc:
        raise SiteError(problems_from(exc, source, SiteSpec)) from None


def _site_spec(data: bytes, file: str) -> tuple[SiteSpec, SourceMap]:
    """The fast parser's document when it validates (lines parsed only if asked for), else the located path."""
    plain = plain_load(data)
    if isinstance(plain, dict):
        try:
            return SiteSpec.model_validate(plain), SourceMap(file, data=data)
        except ValidationError:
            pass  # located errors below
    doc, source = parse_yaml(data, file)
    return _parse_spec(doc, source), source


def _load_subscribers(spec: SiteSpec, site_path: Path, source: SourceMap) -> list[Subscriber]:
    if spec.subscribers_file is None:
        return list(spec.subscribers)
    path = site_path.parent / spec.subscribers_file
    if not path.is_file():
        raise SiteError([source.problem(("subscribers_file",), f"no such file: {path}")])
    data = read_bytes(path)
    plain = plain_load(data)  # thousands of subscribers: the fast path when the file is valid
    if isinstance(plain, dict):
        try:
            return list(spec.subscribers) + list(SubscribersFile.model_validate(plain).subscribers)
        except ValidationError:
            pass  # located errors below
    doc, sub_source = parse_yaml(data, str(path))
    try:
        parsed = SubscribersFile.model_validate(doc)
    except ValidationError as exc:
        raise SiteError(problems_from(exc, sub_source, SubscribersFile)) from None
    return list(spec.subscribers) + list(parsed.subscribers)


def _site_problems(spec: SiteSpec, subscribers: list[Subscriber], source: SourceMap) -> list[Problem]:
    """Rules that span several keys: unique names and addresses, usable addresses, roles covered."""
    out: list[Problem] = []
    names = Counter(n.name for n in spec.nodes)
    addrs: Counter[str] = Counter()
    for node in spec.nodes:
        addrs.update({str(a) for a in (node.private, node.public, node.nat) if a is not None})
    for i, node in enumerate(spec.nodes):
        if names[node.name] > 1:
            out.append(source.problem(("nodes", i, "name"), f"node name {node.name!r} is used twice"))
        for key in ("private", "public", "nat"):
            addr = getattr(node, key)
            if addr is not None and addrs[str(addr)] > 1:
                out.append(source.problem(("nodes", i, key), f"address {addr} is used by more than one node"))
    out += host_problems(spec, source) + family_problems(spec, source) + db_problems(spec, source)
    out += cluster_problems(spec, source)
    present = {r for n in spec.nodes for r in n.roles}
    for role in REQUIRED_ROLES:
        if role not in present:
            out.append(source.problem(("nodes",), f"no node has role {role!r} (required)"))
    if spec.openfire.enabled and "xmpp" not in present and "openfire" in spec.model_fields_set:
        out.append(source.problem(("openfire",), "openfire is configured but no node has role 'xmpp'"))
    users = Counter(s.user for s in subscribers)
    for i, sub in enumerate(spec.subscribers):
        if users[sub.user] > 1:
            out.append(source.problem(("subscribers", i, "user"), f"subscriber {sub.user!r} is listed twice"))
    if spec.subscribers_file and any(users[u] > 1 for u in users if u not in {s.user for s in spec.subscribers}):
        dup = sorted(u for u, c in users.items() if c > 1)
        out.append(source.problem(("subscribers_file",), f"subscribers listed twice: {', '.join(dup)}"))
    return out


def load_site(path: Path) -> Site:
    """Load and validate a site file; raises `SiteError` listing every problem found."""
    path = Path(path)
    spec, source = _site_spec(read_bytes(path), str(path))
    subscribers = _load_subscribers(spec, path, source)
    problems = _site_problems(spec, subscribers, source)
    if problems:
        raise SiteError(problems)
    return Site(
        spec=spec,
        path=path.resolve(),
        source=source,
        subscribers=tuple(subscribers),
        model_hash=model_hash(spec, subscribers),
    )
