"""Generic codecs for the AWS wire protocols the sandbox speaks, driven by botocore's models.

The sandbox must look like AWS to an unmodified client, so every request is routed, decoded
and validated, and every response encoded, by walking the operation's input and output shapes
of botocore's own service models: there is no hand-written code per shape. Three protocols
are covered: ``rest-json`` (the member services), ``json`` 1.1 (Organizations) and
``query`` with XML responses (STS).

Handlers on the other side of this module see only *params dicts keyed by the model's member
names* (``{"AccountDetails": [{"AccountId": ..., "Email": ...}], "MaxResults": 50}``) and
return the same kind of dict for the output shape; the codec maps member names to wire names
(``locationName``), path, query and header locations, and timestamp formats.

botocore's client validates only ``required``, ``min`` and types; the services check ``max``,
``enum`` and ``pattern`` too. :func:`validate` checks all of them, so a 51-account batch reaches
the sandbox and is refused there, as it is by AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

Params = dict[str, Any]

# The status of every answer to a request the sandbox does not serve (an unknown service or
# operation): AWS's code for an unknown operation, but never its 400, which scripts read as
# "already exists", and not a status botocore retries.
NOT_SERVED = 501

_SCALAR_TEXT_TYPES = ("string", "integer", "long", "boolean", "float", "double", "timestamp")


class ApiError(Exception):
    """An error response, as the service would send it.

    ``code`` is the error code clients see (``BadRequestException``); ``status`` defaults to
    the model's ``httpStatusCode`` for that error shape (400 when unmodelled); ``fields`` fills
    other members of the error shape by member name (a ``Type``, Organizations'
    ``Reason``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        fields: Mapping[str, Any] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields: dict[str, Any] = dict(fields or {})
        # AWS's own message is often generic; the sandbox adds what exactly was wrong in an
        # extra ``x-sandbox-detail`` header, leaving the body as AWS would send it.
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Issue:
    """One violated constraint of a request, located by its wire path (``accountIds[3]``)."""

    kind: str  # required | type | min_length | max_length | min_value | max_value | enum | ...
    path: str
    value: Any = None
    limit: Any = None

    @property
    def field(self) -> str:
        """The last wire name of the path, without list indexes: ``accountDetails``."""
        last = self.path.rsplit(".", 1)[-1]
        return last.split("[", 1)[0]

    def describe(self) -> str:
        """The constraint text in the style AWS uses for its own validation messages."""
        if self.kind == "required":
            return (
                f"Value null at '{self.path}' failed to satisfy constraint: Member must not be null"
            )
        return (
            f"Value {_show(self.value)} at '{self.path}' failed to satisfy constraint: "
            f"{self._constraint()}"
        )

    def _constraint(self) -> str:
        limit = self.limit
        if self.kind == "type":
            return f"Member must be of type {limit}"
        if self.kind == "min_length":
            return f"Member must have length greater than or equal to {limit}"
        if self.kind == "max_length":
            return f"Member must have length less than or equal to {limit}"
        if self.kind == "min_value":
            return f"Member must have value greater than or equal to {limit}"
        if self.kind == "max_value":
            return f"Member must have value less than or equal to {limit}"
        if self.kind == "enum":
            return f"Member must satisfy enum value set: [{', '.join(map(str, limit))}]"
        if self.kind == "pattern":
            return f"Member must satisfy regular expression pattern: {limit}"
        if self.kind == "malformed":
            return f"Request body is not valid: {limit}"
        return self.kind


class InvalidRequest(Exception):
    """The request does not decode, or breaks a constraint of the model."""

    def __init__(self, issues: Sequence[Issue], shape: str | None = None) -> None:
        self.issues = list(issues)
        # The input shape the request broke (CreateMembersRequest), when validated against one.
        self.shape = shape
        super().__init__("; ".join(issue.describe() for issue in self.issues))

    def smithy_message(self) -> str:
        count = len(self.issues)
        noun = "error" if count == 1 else "errors"
        details = "; ".join(issue.describe() for issue in self.issues)
        return f"{count} validation {noun} detected: {details}"


class EncodingBug(Exception):
    """A handler returned a value that does not fit the output shape (a sandbox bug)."""


def _show(value: Any) -> str:
    if isinstance(value, list):
        text = f"[{len(value)} items]"
    elif isinstance(value, dict):
        text = "{...}"
    else:
        text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return text


def _members(shape: Shape) -> dict[str, Shape]:
    return cast(StructureShape, shape).members


def _item(shape: Shape) -> Shape:
    return cast(ListShape, shape).member


def _value(shape: Shape) -> Shape:
    return cast(MapShape, shape).value


@cache
def _wire_table(shape: Shape) -> dict[str, tuple[str, Shape]]:
    """Member name → (wire name, shape) of a structure, computed once per shape."""
    return {member: (wire_name(member, item), item) for member, item in _members(shape).items()}


def wire_name(member: str, shape: Shape) -> str:
    """The name a member takes on the wire (``locationName``), else the member name."""
    name = shape.serialization.get("name")
    return name if isinstance(name, str) else member


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --------------------------------------------------------------------------------------------
# Time formats
# --------------------------------------------------------------------------------------------


def iso8601(moment: datetime) -> str:
    """AWS's ISO-8601 form, UTC with milliseconds: ``2024-05-01T12:00:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: object) -> datetime | None:
    """A timestamp from an epoch number or an ISO-8601 string; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), tz=UTC)
            except ValueError:
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _timestamp_format(shape: Shape, default: str) -> str:
    fmt = shape.serialization.get("timestampFormat") or shape.metadata.get("timestampFormat")
    return fmt if isinstance(fmt, str) else default


def _format_time(moment: datetime, fmt: str) -> str | float:
    if fmt == "unixTimestamp":
        return round(moment.timestamp(), 3)
    if fmt == "rfc822":
        return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return iso8601(moment)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _type_issue(shape: Shape, value: Any, path: str) -> InvalidRequest:
    return InvalidRequest([Issue("type", path, value, shape.type_name)])


def from_text(shape: Shape, text: str, path: str) -> Any:
    """A scalar from its text form (a URI segment, a query value, a header, a form field)."""
    kind = shape.type_name
    if kind == "string":
        return text
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise _type_issue(shape, text, path) from None
    if kind == "boolean":
        folded = text.lower()
        if folded not in ("true", "false"):
            raise _type_issue(shape, text, path)
        return folded == "true"
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise _type_issue(shape, text, path) from None
    if kind == "timestamp":
        moment = parse_time(text)
        if moment is None:
            raise _type_issue(shape, text, path)
        return moment
    if kind == "blob":
        return text.encode()
    raise _type_issue(shape, text, path)


def from_json(shape: Shape, value: Any, path: str) -> Any:
    """A decoded JSON value checked against ``shape``; structure keys become member names."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_issue(shape, value, path)
        out: Params = {}
        for member, member_shape in _members(shape).items():
            key = wire_name(member, member_shape)
            if value.get(key) is not None:
                out[member] = from_json(member_shape, value[key], _join(path, key))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _type_issue(shape, value, path)
        return [from_json(_item(shape), item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _type_issue(shape, value, path)
        return {
            str(key): from_json(_value(shape), item, f"{path}.{key}") for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _type_issue(shape, value, path)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_issue(shape, value, path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_issue(shape, value, path)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_issue(shape, value, path)
        return float(value)
    if kind == "timestamp":
        moment = parse_time(value)
        if moment is None:
            raise _type_issue(shape, value, path)
        return moment
    if kind == "blob":
        if not isinstance(value, str):
            raise _type_issue(shape, value, path)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _type_issue(shape, value, path) from None
    # document and union-less exotic types: pass through untouched.
    return value


def parse_json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest([Issue("malformed", "", None, str(exc))]) from None


def from_query(shape: Shape, form: Mapping[str, list[str]], prefix: str) -> Any:
    """Decode the query protocol's flattened form (``Tags.member.1.Key=...``) by shape."""
    kind = shape.type_name
    if kind == "structure":
        out: Params = {}
        for member, member_shape in _members(shape).items():
            key = _join(prefix, wire_name(member, member_shape))
            value = from_query(member_shape, form, key)
            if value is not None:
                out[member] = value
        return out if out or not prefix else None
    if kind == "list":
        flattened = bool(shape.serialization.get("flattened"))
        item_name = _item(shape).serialization.get("name", "member")
        base = prefix if flattened else f"{prefix}.{item_name}"
        items: list[Any] = []
        index = 1
        while True:
            item = from_query(_item(shape), form, f"{base}.{index}")
            if item is None:
                break
            items.append(item)
            index += 1
        if not items and prefix in form:
            return []  # "Tags=" is how the query protocol sends an empty list
        return items or None
    if kind == "map":
        entries: dict[str, Any] = {}
        index = 1
        while True:
            keys = form.get(f"{prefix}.entry.{index}.key")
            if not keys:
                break
            entries[keys[0]] = from_query(_value(shape), form, f"{prefix}.entry.{index}.value")
            index += 1
        return entries or None
    values = form.get(prefix)
    if not values:
        return None
    return from_text(shape, values[0], prefix)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        # A Java-only construct (\p{...}) Python cannot compile: skip that one constraint
        # rather than reject valid input.
        return None


def validate(shape: Shape, params: Params) -> list[Issue]:
    """Every constraint of the model that ``params`` breaks (empty when it is valid)."""
    issues: list[Issue] = []
    _validate(shape, params, "", issues)
    return issues


def _validate(shape: Shape, value: Any, path: str, issues: list[Issue]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        members = _members(shape)
        for required in shape.required_members:
            if value.get(required) is None:
                issues.append(
                    Issue("required", _join(path, wire_name(required, members[required])))
                )
        for member, item in value.items():
            member_shape = members.get(member)
            if member_shape is not None and item is not None:
                _validate(member_shape, item, _join(path, wire_name(member, member_shape)), issues)
        return
    if kind in ("list", "map", "string", "blob"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            issues.append(Issue("min_length", path, value, meta["min"]))
        if "max" in meta and size > meta["max"]:
            issues.append(Issue("max_length", path, value, meta["max"]))
        if kind == "list":
            for i, item in enumerate(value):
                _validate(_item(shape), item, f"{path}[{i}]", issues)
        elif kind == "map":
            for key, item in value.items():
                _validate(_value(shape), item, f"{path}.{key}", issues)
        elif kind == "string":
            enum = meta.get("enum")
            if enum and value not in enum:
                issues.append(Issue("enum", path, value, tuple(enum)))
            pattern = meta.get("pattern")
            compiled = _pattern(pattern) if isinstance(pattern, str) else None
            if compiled is not None and compiled.search(value) is None:
                issues.append(Issue("pattern", path, value, pattern))
        return
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            issues.append(Issue("min_value", path, value, meta["min"]))
        if "max" in meta and value > meta["max"]:
            issues.append(Issue("max_value", path, value, meta["max"]))


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def to_json(shape: Shape, value: Any, path: str, default_ts: str) -> Any:
    """A JSON-ready value for ``shape`` from a handler's value (member names → wire names)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise EncodingBug(f"{path or 'output'}: expected a mapping, got {value!r}")
        out: dict[str, Any] = {}
        table = _wire_table(shape)
        for member, item in value.items():
            found = table.get(member)
            if found is None:
                raise EncodingBug(f"{path or 'output'}: {shape.name} has no member {member}")
            if item is not None:
                # The path is only for error messages: the member name is enough, and
                # cheaper than the full path on a 50-member page.
                out[found[0]] = to_json(found[1], item, member, default_ts)
        return out
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise EncodingBug(f"{path}: expected a list, got {value!r}")
        return [to_json(_item(shape), item, f"{path}[]", default_ts) for item in value]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise EncodingBug(f"{path}: expected a mapping, got {value!r}")
        return {
            str(k): to_json(_value(shape), v, f"{path}.{k}", default_ts) for k, v in value.items()
        }
    if kind == "string":
        # Some services model their timestamps as plain strings: render them as AWS does.
        if isinstance(value, datetime):
            return iso8601(value)
        if not isinstance(value, str):
            raise EncodingBug(f"{path}: expected a string, got {value!r}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodingBug(f"{path}: expected an integer, got {value!r}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise EncodingBug(f"{path}: expected a boolean, got {value!r}")
        return value
    if kind in ("float", "double"):
        return float(value)
    if kind == "timestamp":
        moment = parse_time(value)
        if moment is None:
            raise EncodingBug(f"{path}: expected a timestamp, got {value!r}")
        return _format_time(moment, _timestamp_format(shape, default_ts))
    if kind == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode()
    return value


def to_text(shape: Shape, value: Any) -> str:
    """A scalar as text, for headers and XML nodes."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        moment = parse_time(value)
        if moment is None:
            raise EncodingBug(f"expected a timestamp, got {value!r}")
        return str(_format_time(moment, _timestamp_format(shape, "iso8601")))
    if isinstance(value, datetime):
        return iso8601(value)
    if kind == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode()
    return str(value)


def to_xml(parent: ET.Element, shape: Shape, value: Any, name: str) -> None:
    """Append ``value`` under ``parent`` as the query protocol's XML for ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        node = ET.SubElement(parent, name)
        for member, item in value.items():
            member_shape = _members(shape).get(member)
            if member_shape is None:
                raise EncodingBug(f"{shape.name} has no member {member}")
            if item is not None:
                to_xml(node, member_shape, item, wire_name(member, member_shape))
        return
    if kind == "list":
        flattened = bool(shape.serialization.get("flattened"))
        container = parent if flattened else ET.SubElement(parent, name)
        item_name = name if flattened else _item(shape).serialization.get("name", "member")
        for item in value:
            to_xml(container, _item(shape), item, item_name)
        return
    if kind == "map":
        node = ET.SubElement(parent, name)
        for key, item in value.items():
            entry = ET.SubElement(node, "entry")
            ET.SubElement(entry, "key").text = str(key)
            to_xml(entry, _value(shape), item, "value")
        return
    ET.SubElement(parent, name).text = to_text(shape, value)


# --------------------------------------------------------------------------------------------
# Requests and responses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP request as received, before any protocol decides what it means."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


def split_target(raw_target: str) -> tuple[str, Mapping[str, list[str]]]:
    path, _, query = raw_target.partition("?")
    return path, parse_qs(query, keep_blank_values=True)


class Protocol:
    """Routes, decodes and encodes for one service model."""

    content_type = "application/json"

    def __init__(self, model: ServiceModel) -> None:
        self.model = model

    def resolve(self, request: RawRequest) -> tuple[OperationModel, Any]:
        """The operation a request calls, plus protocol state for :meth:`decode`."""
        raise NotImplementedError

    def decode(self, op: OperationModel, request: RawRequest, routed: Any) -> Params:
        raise NotImplementedError

    def encode(self, op: OperationModel, result: Params, request_id: str) -> RawResponse:
        raise NotImplementedError

    def encode_error(self, error: ApiError, request_id: str) -> RawResponse:
        raise NotImplementedError

    def error_status(self, error: ApiError) -> int:
        if error.status is not None:
            return error.status
        shape = self._error_shape(error.code)
        if shape is not None:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if isinstance(status, int):
                return status
        return 400

    def _error_shape(self, code: str) -> Shape | None:
        for shape in self.model.error_shapes:
            if shape.name == code:
                return shape
        return None

    def _error_headers(self, error: ApiError, request_id: str) -> dict[str, str]:
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": request_id}
        if error.detail:
            headers["x-sandbox-detail"] = " ".join(error.detail.split())[:500]
        return headers

    def _error_fields(self, error: ApiError) -> Params:
        fields: Params = {"Message": error.message, **error.fields}
        shape = self._error_shape(error.code)
        if shape is not None and "Code" in _members(shape) and "Code" not in fields:
            fields["Code"] = error.code
        return fields


class RestJsonProtocol(Protocol):
    """The member services: operation by method + URI template, JSON bodies."""

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self._routes: list[_Route] = []
        for name in model.operation_names:
            op = model.operation_model(name)
            self._routes.append(_Route.build(op))
        # Most specific first: more literal segments, then fewer greedy placeholders.
        self._routes.sort(key=lambda r: (-r.literals, r.greedy, -len(r.segments)))

    def resolve(self, request: RawRequest) -> tuple[OperationModel, Any]:
        segments = [unquote(s) for s in request.path.strip("/").split("/") if s]
        for route in self._routes:
            if route.method != request.method:
                continue
            captured = route.match(segments, request.query)
            if captured is not None:
                return route.op, captured
        raise ApiError(
            "UnknownOperationException",
            f"No operation of {self.model.service_name} matches {request.method} {request.path}",
            status=NOT_SERVED,
        )

    def decode(self, op: OperationModel, request: RawRequest, routed: Any) -> Params:
        shape = op.input_shape
        params: Params = {}
        if shape is None:
            return params
        captured: dict[str, str] = routed
        body_members: dict[str, Shape] = {}
        for member, member_shape in _members(shape).items():
            location = member_shape.serialization.get("location")
            name = wire_name(member, member_shape)
            if location == "uri":
                if name in captured:
                    params[member] = from_text(member_shape, captured[name], name)
            elif location == "querystring":
                values = request.query.get(name)
                if values:
                    if member_shape.type_name == "list":
                        params[member] = [from_text(_item(member_shape), v, name) for v in values]
                    elif member_shape.type_name in _SCALAR_TEXT_TYPES:
                        params[member] = from_text(member_shape, values[0], name)
            elif location == "header":
                header = request.headers.get(name.lower())
                if header is not None:
                    params[member] = from_text(member_shape, header, name)
            elif location is None:
                body_members[member] = member_shape
        payload = shape.serialization.get("payload")
        if payload:
            document = parse_json_body(request.body)
            if document:
                params[payload] = from_json(_members(shape)[payload], document, payload)
        elif body_members:
            document = parse_json_body(request.body)
            if not isinstance(document, dict):
                raise InvalidRequest([Issue("malformed", "", None, "a JSON object")])
            for member, member_shape in body_members.items():
                name = wire_name(member, member_shape)
                if document.get(name) is not None:
                    params[member] = from_json(member_shape, document[name], name)
        return params

    def encode(self, op: OperationModel, result: Params, request_id: str) -> RawResponse:
        shape = op.output_shape
        status = int(op.http.get("responseCode", 200))
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": request_id}
        body: Any = {}
        if shape is not None:
            body_values: Params = {}
            payload = shape.serialization.get("payload")
            for member, value in result.items():
                member_shape = _members(shape).get(member)
                if member_shape is None:
                    raise EncodingBug(f"{shape.name} has no member {member}")
                if value is None:
                    continue
                location = member_shape.serialization.get("location")
                if location == "header":
                    headers[wire_name(member, member_shape)] = to_text(member_shape, value)
                elif location == "statusCode":
                    status = int(value)
                elif member == payload:
                    body = to_json(member_shape, value, member, "unixTimestamp")
                else:
                    body_values[member] = value
            if not payload:
                body = to_json(shape, body_values, "", "unixTimestamp")
        return RawResponse(status, headers, json.dumps(body).encode())

    def encode_error(self, error: ApiError, request_id: str) -> RawResponse:
        fields = self._error_fields(error)
        shape = self._error_shape(error.code)
        if shape is not None:
            body = to_json(
                shape, {k: v for k, v in fields.items() if k in _members(shape)}, "", "iso8601"
            )
        else:
            # Unmodelled errors (throttling, authentication) carry a lower-case message.
            body = {"message": error.message}
        headers = self._error_headers(error, request_id)
        headers["x-amzn-ErrorType"] = error.code
        return RawResponse(self.error_status(error), headers, json.dumps(body).encode())


@dataclass(frozen=True, slots=True)
class _Route:
    op: OperationModel
    method: str
    segments: tuple[str, ...]
    fixed_query: tuple[tuple[str, str | None], ...]
    literals: int
    greedy: int

    @classmethod
    def build(cls, op: OperationModel) -> _Route:
        uri = str(op.http["requestUri"])
        path, _, query = uri.partition("?")
        segments = tuple(s for s in path.strip("/").split("/") if s)
        fixed: list[tuple[str, str | None]] = []
        for part in query.split("&") if query else []:
            key, sep, value = part.partition("=")
            fixed.append((key, value if sep else None))
        literals = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return cls(op, str(op.http["method"]), segments, tuple(fixed), literals, greedy)

    def match(self, parts: list[str], query: Mapping[str, list[str]]) -> dict[str, str] | None:
        captured: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest:
                    return None
                captured[segment[1:-2]] = "/".join(rest)
                return captured if self._query_ok(query) else None
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                captured[segment[1:-1]] = parts[index]
            elif segment != parts[index]:
                return None
        if len(parts) != len(self.segments):
            return None
        return captured if self._query_ok(query) else None

    def _query_ok(self, query: Mapping[str, list[str]]) -> bool:
        for key, value in self.fixed_query:
            if key not in query:
                return False
            if value is not None and value not in query[key]:
                return False
        return True


class JsonProtocol(Protocol):
    """Organizations: ``X-Amz-Target: Prefix.Operation``, JSON bodies both ways."""

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        version = model.metadata.get("jsonVersion", "1.1")
        self.content_type = f"application/x-amz-json-{version}"
        self._prefix = str(model.metadata.get("targetPrefix", ""))

    def resolve(self, request: RawRequest) -> tuple[OperationModel, Any]:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        if prefix != self._prefix or name not in self.model.operation_names:
            raise ApiError(
                "UnknownOperationException",
                f"{self.model.service_name} has no operation {target!r} that the sandbox serves",
                status=NOT_SERVED,
            )
        return self.model.operation_model(name), None

    def decode(self, op: OperationModel, request: RawRequest, routed: Any) -> Params:
        shape = op.input_shape
        if shape is None:
            return {}
        decoded: Params = from_json(shape, parse_json_body(request.body), "")
        return decoded

    def encode(self, op: OperationModel, result: Params, request_id: str) -> RawResponse:
        shape = op.output_shape
        body = to_json(shape, result, "", "unixTimestamp") if shape is not None else {}
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": request_id}
        return RawResponse(200, headers, json.dumps(body).encode())

    def encode_error(self, error: ApiError, request_id: str) -> RawResponse:
        body: Params = {"__type": error.code}
        shape = self._error_shape(error.code)
        for member, value in self._error_fields(error).items():
            if shape is None or member in _members(shape):
                body[member] = value
        headers = self._error_headers(error, request_id)
        return RawResponse(self.error_status(error), headers, json.dumps(body).encode())


class QueryProtocol(Protocol):
    """STS: form-encoded ``Action=...`` requests, XML responses and errors."""

    content_type = "text/xml"

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self._namespace = str(model.metadata.get("xmlNamespace", ""))

    def resolve(self, request: RawRequest) -> tuple[OperationModel, Any]:
        form = dict(request.query)
        if request.body:
            try:
                text = request.body.decode()
            except UnicodeDecodeError:
                raise ApiError("MalformedQueryString", "The request body is not UTF-8") from None
            form.update(parse_qs(text, keep_blank_values=True))
        action = (form.get("Action") or [""])[0]
        if action not in self.model.operation_names:
            raise ApiError(
                "InvalidAction",
                f"{self.model.service_name} has no action {action!r} that the sandbox serves",
                status=NOT_SERVED,
            )
        return self.model.operation_model(action), form

    def decode(self, op: OperationModel, request: RawRequest, routed: Any) -> Params:
        shape = op.input_shape
        if shape is None:
            return {}
        decoded = from_query(shape, routed, "")
        return decoded if isinstance(decoded, dict) else {}

    def encode(self, op: OperationModel, result: Params, request_id: str) -> RawResponse:
        root = ET.Element(f"{op.name}Response", {"xmlns": self._namespace})
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
            to_xml(root, shape, result, str(wrapper))
        metadata = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(metadata, "RequestId").text = request_id
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": request_id}
        return RawResponse(200, headers, ET.tostring(root, encoding="utf-8"))

    def encode_error(self, error: ApiError, request_id: str) -> RawResponse:
        status = self.error_status(error)
        root = ET.Element("ErrorResponse", {"xmlns": self._namespace})
        node = ET.SubElement(root, "Error")
        ET.SubElement(node, "Type").text = "Sender" if status < 500 else "Receiver"
        ET.SubElement(node, "Code").text = error.code
        ET.SubElement(node, "Message").text = error.message
        ET.SubElement(root, "RequestId").text = request_id
        headers = self._error_headers(error, request_id)
        return RawResponse(status, headers, ET.tostring(root, encoding="utf-8"))


def protocol_for(model: ServiceModel) -> Protocol:
    kind = model.protocol
    if kind == "rest-json":
        return RestJsonProtocol(model)
    if kind == "json":
        return JsonProtocol(model)
    if kind == "query":
        return QueryProtocol(model)
    raise ValueError(f"the sandbox does not speak the {kind} protocol")
