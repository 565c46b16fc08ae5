"""The organisation file's grammar: load (JSON/YAML), validate with path-naming errors, dump."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .. import errors
from ..policy import SYSTEM_POLICIES
from ..policy.document import unique_keys
from ..policy.values import JsonNumber
from ..service.roles import check_session_duration
from ..service.rules import TEXT_LENGTH, check_alias, check_email, check_mobile_phone, check_name, check_text

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "MAX_FILE_CHARACTERS",
    "OrganisationFileError",
    "at_path",
    "dump_organisation",
    "load_organisation",
    "read_json",
    "validate_organisation",
]

MAX_FILE_CHARACTERS = 64 * 1024 * 1024
"""The longest organisation file read: far above what one apply can carry out (see the README's bound on
one store transaction), far below what would exhaust the memory of the machine reading it."""

ACCOUNT_PLACEHOLDER = "${AccountId}"
"""Written in documents instead of the account's own id, so a file moves between accounts."""


class OrganisationFileError(errors.InvalidParameter):
    """The file breaks the organisation grammar; ``path`` names the place (``Users[2].Groups[0]``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__("OrganisationFile", f"{path}: {problem}" if path else problem, detail={"path": path})


_ENTRY_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "": {"Description": (str,), "Account": (dict,), "Policies": (list,), "Groups": (list,), "Users": (list,),
         "Roles": (list,)},
    "Account": {"Alias": (str,)},
    "Policies": {"PolicyName": (str,), "Description": (str,), "PolicyDocument": (dict, str)},
    "Groups": {"GroupName": (str,), "Comments": (str,), "Policies": (list,)},
    "Users": {"UserName": (str,), "DisplayName": (str,), "Email": (str,), "MobilePhone": (str,),
              "Comments": (str,), "Groups": (list,), "Policies": (list,), "AccessKey": (bool,),
              "Console": (bool,), "MFABindRequired": (bool,)},
    "Roles": {"RoleName": (str,), "Description": (str,), "MaxSessionDuration": (int,),
              "AssumeRolePolicyDocument": (dict, str), "Policies": (list,)},
    "Attachment": {"PolicyType": (str,), "PolicyName": (str,)},
}  # fmt: skip
_REQUIRED = {
    "Policies": ("PolicyName", "PolicyDocument"), "Groups": ("GroupName",), "Users": ("UserName",),
    "Roles": ("RoleName", "AssumeRolePolicyDocument"), "Attachment": ("PolicyName",),
}  # fmt: skip


def _description_characters(value: str) -> str:
    """A policy's or role's Description: its characters (its length is a configurable Limit)."""
    return check_text("Description", value, len(value))


# The service's own rules for the fields whose limits are fixed (not the configurable Limits), so a value it
# would refuse is reported with its place in the file before anything is written.
_FIELD_RULES: dict[str, dict[str, Callable[[Any], object]]] = {
    "Account": {"Alias": check_alias},
    "Groups": {"Comments": lambda v: check_text("Comments", v, TEXT_LENGTH)},
    "Users": {
        "DisplayName": lambda v: check_text("DisplayName", v, TEXT_LENGTH),
        "Comments": lambda v: check_text("Comments", v, TEXT_LENGTH),
        "Email": check_email,
        "MobilePhone": check_mobile_phone,
    },
    "Policies": {"Description": _description_characters},
    "Roles": {
        "MaxSessionDuration": lambda v: check_session_duration("MaxSessionDuration", v),
        "Description": _description_characters,
    },
}
_NAME_FIELD = {"Policies": "PolicyName", "Groups": "GroupName", "Users": "UserName", "Roles": "RoleName"}
_MAX_KEY_SHOWN = 64  # a key longer than any field name is shown cut, not echoed whole
_TYPE_WORDS = {str: "text", dict: "an object", list: "a list", bool: "true or false", int: "a whole number"}


def at_path(path: str, key: str | int) -> str:
    """``Users`` + 2 → ``Users[2]``; ``Users[2]`` + ``Groups`` → ``Users[2].Groups``."""
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _check_entry(value: object, path: str, kind: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise OrganisationFileError(path or "(top level)", "must be an object")
    allowed = _ENTRY_FIELDS[kind]
    for key, item in value.items():
        expected = allowed.get(key)
        if expected is None:
            raise OrganisationFileError(
                at_path(path, _shown_key(key)), f"unknown field (expected one of {', '.join(allowed)})"
            )
        # bool is an int in Python; a MaxSessionDuration of true is still wrong.
        if not isinstance(item, expected) or (isinstance(item, bool) and bool not in expected):
            raise OrganisationFileError(
                at_path(path, key), f"must be {' or '.join(_TYPE_WORDS[t] for t in expected)}"
            )
    for key in _REQUIRED.get(kind, ()):
        if key not in value:
            raise OrganisationFileError(at_path(path, key), "is required")
    return value


def _shown_key(key: object) -> str:
    """``key`` for an error message: cut when longer than any field name could be."""
    text = str(key)
    return text if len(text) <= _MAX_KEY_SHOWN else text[:_MAX_KEY_SHOWN] + "..."


def _check_rule(rule: Callable[[Any], object], value: object, path: str) -> None:
    """``rule(value)``, its InvalidParameter reported at ``path`` in the file."""
    try:
        rule(value)
    except errors.InvalidParameter as exc:
        raise OrganisationFileError(path, exc.message) from None


def _check_fields(entry: Mapping[str, Any], path: str, kind: str) -> None:
    for key, rule in _FIELD_RULES.get(kind, {}).items():
        if key in entry:
            _check_rule(rule, entry[key], at_path(path, key))


def _check_attachments(entries: list[Any], path: str) -> None:
    for index, entry in enumerate(entries):
        where = at_path(path, index)
        _check_entry(entry, where, "Attachment")
        # A name no policy can have is refused as such, rather than looked for (and echoed whole) later.
        _check_rule(
            functools.partial(check_name, "PolicyName"), entry["PolicyName"], at_path(where, "PolicyName")
        )
        kind = entry.get("PolicyType", "Custom")
        if kind not in ("System", "Custom"):
            raise OrganisationFileError(at_path(where, "PolicyType"), "must be System or Custom")
        if kind == "System" and entry["PolicyName"] not in SYSTEM_POLICIES:
            raise OrganisationFileError(
                at_path(where, "PolicyName"), f"no System policy {entry['PolicyName']!r}"
            )


def validate_organisation(data: object) -> dict[str, Any]:
    """Check an organisation file's grammar; :class:`OrganisationFileError` names the offending path."""
    top = dict(_check_entry(data, "", ""))
    _check_fields(_check_entry(top.get("Account", {}), "Account", "Account"), "Account", "Account")
    for section, name_field in _NAME_FIELD.items():
        seen: dict[str, str] = {}
        for index, entry in enumerate(top.get(section, [])):
            where = at_path(section, index)
            _check_entry(entry, where, section)
            name = entry[name_field]
            _check_rule(functools.partial(check_name, name_field), name, at_path(where, name_field))
            _check_fields(entry, where, section)
            if name.lower() in seen:
                raise OrganisationFileError(
                    at_path(where, name_field), f"{name!r} is declared twice ({seen[name.lower()]})"
                )
            seen[name.lower()] = where
            _check_attachments(
                entry.get("Policies", []) if section != "Policies" else [], at_path(where, "Policies")
            )
            for g_index, group in enumerate(entry.get("Groups", [])):
                g_where = at_path(at_path(where, "Groups"), g_index)
                if not isinstance(group, str):
                    raise OrganisationFileError(g_where, "must be a group name")
                _check_rule(functools.partial(check_name, "GroupName"), group, g_where)
    return top


def _number(text: str) -> JsonNumber:
    return JsonNumber(text, Decimal(text))


class _NotANumber(ValueError):
    pass


class _DuplicateKey(ValueError):
    """A key given twice in one object: the parsers would keep the last silently (a second ``Groups`` that
    empties the first, a second ``Statement`` that turns a Deny into an Allow)."""

    def __init__(self, key: object, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"duplicate key {_shown_key(key)!r} in one object{where}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return unique_keys(pairs, _DuplicateKey)


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"{name} is not a JSON number")


def read_json(text: str) -> Any:
    """JSON text with its numbers read as policy documents read them (:class:`JsonNumber`: exact, written
    back as written), so a document's ``2.50`` or ``1e309`` survives export and apply unchanged."""
    return json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_no_constant)


def load_organisation(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read an organisation file (a path to JSON/YAML, or an already-parsed mapping) and validate it."""
    if isinstance(source, Mapping):
        return validate_organisation(dict(source))
    path = Path(source)
    try:
        with path.open(encoding="utf-8") as file:
            # Read no further than a file could sensibly go: a log or disk image given by mistake is
            # refused, not read whole into memory.
            text = file.read(MAX_FILE_CHARACTERS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise OrganisationFileError("", f"cannot read {path}: {exc.__class__.__name__}") from None
    if len(text) > MAX_FILE_CHARACTERS:
        raise OrganisationFileError(
            "",
            f"{path} has more than {MAX_FILE_CHARACTERS} characters: split it and apply the parts in turn.",
        )
    return validate_organisation(_parse_text(text, yaml_like=path.suffix.lower() in {".yaml", ".yml"}))


def _parse_text(text: str, *, yaml_like: bool) -> Any:
    # Both parsers recurse once per level of nesting: a file nested deeper than the interpreter allows
    # (no organisation is) is reported as a file error, not a traceback.
    if yaml_like:
        import yaml

        try:
            return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader: no arbitrary objects
        except _DuplicateKey as exc:
            raise OrganisationFileError("", f"not valid YAML: {exc}") from None
        except yaml.YAMLError as exc:
            raise OrganisationFileError("", f"not valid YAML: {_yaml_problem(exc)}") from None
        except RecursionError:
            raise OrganisationFileError("", "not valid YAML: nested too deeply") from None
        except (ValueError, TypeError, AttributeError) as exc:
            # A tagged or implicitly typed value its Python type refuses (Comments: 2024-13-45 is a date,
            # !!int abc, an integer of more digits than the interpreter converts).
            raise OrganisationFileError("", f"not valid YAML: a value cannot be read ({exc})") from None
    try:
        # Non-integral numbers as JsonNumber, as written (a float would turn a document's 2.50 into 2.5);
        # integers stay int, for MaxSessionDuration.
        return json.loads(
            text, parse_float=_number, parse_constant=_no_constant, object_pairs_hook=_no_duplicates
        )
    except json.JSONDecodeError as exc:
        raise OrganisationFileError("", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise OrganisationFileError("", "not valid JSON: nested too deeply") from None
    except (_NotANumber, _DuplicateKey) as exc:
        raise OrganisationFileError("", f"not valid JSON: {exc}") from None
    except ValueError:
        # An integer of more digits than the interpreter converts (no organisation needs one).
        raise OrganisationFileError("", "not valid JSON: a number has too many digits") from None


def _yaml_problem(exc: Any) -> str:
    """PyYAML's error in one line, its place as the file's line and column (its own message runs over
    several lines, quoting the text and placing it "in '<unicode string>'")."""
    problem, context, mark = (getattr(exc, name, None) for name in ("problem", "context", "problem_mark"))
    if problem is None:
        return " ".join(str(exc).split())
    text = f"{context}: {problem}" if context else str(problem)
    return text if mark is None else f"{text} (line {mark.line + 1}, column {mark.column + 1})"


def dump_organisation(org: Mapping[str, Any], *, yaml_format: bool = False) -> str:
    """The organisation as JSON (2-space indent) or YAML text."""
    if yaml_format:
        import yaml

        return str(
            yaml.dump(dict(org), Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True, width=110)
        )
    return _json_text(org, "") + "\n"


def _json_text(value: Any, indent: str) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, a :class:`JsonNumber` written as it was read."""
    if isinstance(value, JsonNumber):
        return value.text
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json_text(v, inner)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"{inner}{_json_text(v, inner)}" for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


@functools.cache
def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """safe_load's loader, refusing a key given twice in one mapping. A key of the mapping's own after a
        merge (``<<: *base``) still overrides the merged one, as YAML means it to."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader refuses it itself
                    continue
                if duplicate:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
            return dict(super().construct_mapping(node, deep=deep))

    return Loader


@functools.cache
def _yaml_dumper() -> type:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Writes a :class:`JsonNumber` as it was read (YAML reads 2.50 back as 2.5: JSON keeps it)."""

    def number(dumper: yaml.SafeDumper, value: JsonNumber) -> Any:
        integer = not any(c in value.text for c in ".eE")
        return dumper.represent_scalar(f"tag:yaml.org,2002:{'int' if integer else 'float'}", value.text)

    Dumper.add_representer(JsonNumber, number)
    return Dumper
