#!/usr/bin/env python3
"""Validates Kubernetes manifests offline against the API's own types, as the official Python client models them.

Debian's python3-kubernetes is generated from the Kubernetes OpenAPI spec: one model class per API type, with
`openapi_types` (python field -> type string: 'V1ObjectMeta', 'list[V1Container]', 'dict(str, str)', 'int', 'str',
'bool', 'object', ...) and `attribute_map` (python field -> JSON key); each setter raises ValueError for a required
field given None (and for a value outside an enum, where the spec has one). This walks every document and checks:
  - every key is a JSON key of its model (a misspelling is an error, where the API server would drop it silently);
  - every value has the declared type (int-or-string fields, typed 'object' by the client, take an int or a string);
  - every required field is present (found by asking each setter, so the client's own rules decide);
and names the path of each problem: `StatefulSet/ftd: spec.replica: unknown field`.

The model is picked from apiVersion and kind: `apps/v1` StatefulSet -> V1StatefulSet, `v1` Service -> V1Service,
`policy/v1` PodDisruptionBudget -> V1PodDisruptionBudget. Custom resources are not in the client: the kinds in
CUSTOM_SCHEMAS are checked against small schemas written here, covering only the fields ftd's manifests use (a
field outside them is reported as unknown, on purpose: extend the schema when a manifest needs one).

Input: YAML files, or `-` for stdin (what `kubectl kustomize DIR` prints). The YAML reader is the client's own
dependency (python3-yaml), so this needs nothing beyond python3-kubernetes. Exit 0: valid; 1: problems (one per
line on stderr); 2: bad usage or unreadable input.
"""

import argparse
import re
import sys

import kubernetes.client
import yaml
from kubernetes.client import Configuration

# Quantities (resource amounts, sizes) are typed 'str' by the client, but the API server also takes a YAML number:
# `cpu: 2`. Fields whose values are quantities, by JSON key.
QUANTITY_KEYS = {"limits", "requests", "sizeLimit", "storage", "capacity", "hard", "allocatable"}


class Struct:
    """A hand-written schema for a custom resource's object: JSON key -> type (a client type string or a Struct)."""

    def __init__(self, fields, required=()):
        self.fields = fields
        self.required = set(required)


class ListOf:
    def __init__(self, item):
        self.item = item


# ServiceMonitor (monitoring.coreos.com/v1, the Prometheus Operator's CRD): only the fields deploy/k8s uses, with
# the types the operator's CRD gives them.
SERVICE_MONITOR = Struct(
    {
        "apiVersion": "str",
        "kind": "str",
        "metadata": "V1ObjectMeta",
        "spec": Struct(
            {
                "selector": "V1LabelSelector",
                "namespaceSelector": Struct({"any": "bool", "matchNames": "list[str]"}),
                "jobLabel": "str",
                "endpoints": ListOf(
                    Struct(
                        {
                            "port": "str",
                            "targetPort": "object",
                            "path": "str",
                            "scheme": "str",
                            "interval": "str",
                            "scrapeTimeout": "str",
                            "honorLabels": "bool",
                        }
                    )
                ),
            },
            required=("selector", "endpoints"),
        ),
    },
    required=("apiVersion", "kind", "metadata", "spec"),
)

CUSTOM_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR}

LIST_RE = re.compile(r"^list\[(.+)\]$")
DICT_RE = re.compile(r"^dict\(([^,]+), (.+)\)$")


def model_class(api_version, kind):
    """The client's model for apiVersion + kind, or None. Core (`v1`) -> V1<Kind>; `group/v1beta1` ->
    V1beta1<Kind>; a kind that several groups define under one version is checked against its group's module."""
    version = api_version.split("/")[-1]
    name = version[0].upper() + version[1:] + kind
    cls = getattr(kubernetes.client, name, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        return None
    return cls


_required_cache = {}


def required_fields(cls):
    """The JSON keys the client requires for cls: those whose setter refuses None."""
    if cls not in _required_cache:
        probe = object.__new__(cls)
        config = Configuration()
        config.client_side_validation = True
        probe.local_vars_configuration = config
        required = set()
        for attr in cls.openapi_types:
            try:
                setattr(probe, attr, None)
            except ValueError:
                required.add(cls.attribute_map[attr])
        _required_cache[cls] = required
    return _required_cache[cls]


def setter_problem(cls, attr, value):
    """The client's own check of a scalar (enums, patterns, where the spec has them): its message, or None."""
    probe = object.__new__(cls)
    config = Configuration()
    config.client_side_validation = True
    probe.local_vars_configuration = config
    try:
        setattr(probe, attr, value)
    except ValueError as error:
        return str(error)
    return None


def type_name(value):
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )


class Validator:
    def __init__(self):
        self.problems = []

    def report(self, where, path, message):
        self.problems.append(f"{where}: {path or '<root>'}: {message}")

    def check(self, where, path, value, declared, key=""):
        """Checks value against declared (a client type string, Struct or ListOf) at path."""
        if value is None:
            return  # The API server treats null as absent; required fields are checked by the parent.
        if isinstance(declared, Struct):
            self.check_struct(where, path, value, declared)
            return
        if isinstance(declared, ListOf):
            if not isinstance(value, list):
                self.report(where, path, f"want a list, got {type_name(value)}")
                return
            for i, item in enumerate(value):
                self.check(where, f"{path}[{i}]", item, declared.item)
            return
        match = LIST_RE.match(declared)
        if match:
            if not isinstance(value, list):
                self.report(where, path, f"want a list ({declared}), got {type_name(value)}")
                return
            for i, item in enumerate(value):
                self.check(where, f"{path}[{i}]", item, match.group(1))
            return
        match = DICT_RE.match(declared)
        if match:
            if not isinstance(value, dict):
                self.report(where, path, f"want a map ({declared}), got {type_name(value)}")
                return
            for k, item in value.items():
                if not isinstance(k, str):
                    self.report(where, f"{path}.{k}", f"want a string key, got {type_name(k)}")
                self.check(where, f"{path}.{k}", item, match.group(2), key=key)
            return
        if declared == "object":
            # Int-or-string (ports, targetPort, maxUnavailable, minAvailable) or free-form JSON: any JSON value but
            # a bool, which no int-or-string field takes.
            if isinstance(value, bool):
                self.report(where, path, "want an int or a string, got bool")
            return
        if declared == "str":
            if isinstance(value, str):
                return
            if key in QUANTITY_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
                return
            self.report(where, path, f"want a string, got {type_name(value)} {value!r}")
            return
        if declared == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                self.report(where, path, f"want an int, got {type_name(value)} {value!r}")
            return
        if declared == "float":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                self.report(where, path, f"want a number, got {type_name(value)} {value!r}")
            return
        if declared == "bool":
            if not isinstance(value, bool):
                self.report(where, path, f"want a bool, got {type_name(value)} {value!r}")
            return
        if declared in ("datetime", "date"):
            if not isinstance(value, str):
                self.report(where, path, f"want a timestamp string, got {type_name(value)}")
            return
        cls = getattr(kubernetes.client, declared, None)
        if cls is None or not hasattr(cls, "openapi_types"):
            self.report(where, path, f"the client has no type {declared!r} (validator bug)")
            return
        self.check_model(where, path, value, cls)

    def check_model(self, where, path, value, cls):
        if not isinstance(value, dict):
            self.report(where, path, f"want an object ({cls.__name__}), got {type_name(value)}")
            return
        by_json_key = {json_key: attr for attr, json_key in cls.attribute_map.items()}
        for json_key, item in value.items():
            child = f"{path}.{json_key}" if path else str(json_key)
            attr = by_json_key.get(json_key)
            if attr is None:
                self.report(where, child, f"unknown field (not in {cls.__name__})")
                continue
            declared = cls.openapi_types[attr]
            self.check(where, child, item, declared, key=json_key)
            if item is not None and declared in ("str", "int", "bool") and type_name(item) == declared:
                problem = setter_problem(cls, attr, item)
                if problem:
                    self.report(where, child, problem)
        for json_key in sorted(required_fields(cls)):
            if value.get(json_key) is None:
                child = f"{path}.{json_key}" if path else json_key
                self.report(where, child, f"required field missing (in {cls.__name__})")

    def check_struct(self, where, path, value, struct):
        if not isinstance(value, dict):
            self.report(where, path, f"want an object, got {type_name(value)}")
            return
        for json_key, item in value.items():
            child = f"{path}.{json_key}" if path else str(json_key)
            if json_key not in struct.fields:
                self.report(where, child, "unknown field (not in this validator's schema for the custom resource)")
                continue
            self.check(where, child, item, struct.fields[json_key], key=json_key)
        for json_key in sorted(struct.required):
            if value.get(json_key) is None:
                child = f"{path}.{json_key}" if path else json_key
                self.report(where, child, "required field missing")

    def check_document(self, index, doc):
        if not isinstance(doc, dict):
            self.report(f"document {index}", "", f"want an object, got {type_name(doc)}")
            return
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc.get("metadata"), dict) else "?"
        where = f"{kind}/{name}"
        if not isinstance(api_version, str) or not isinstance(kind, str):
            self.report(f"document {index}", "", "apiVersion and kind must be strings")
            return
        schema = CUSTOM_SCHEMAS.get((api_version, kind))
        if schema is not None:
            self.check_struct(where, "", doc, schema)
            return
        cls = model_class(api_version, kind)
        if cls is None:
            self.report(where, "", f"no schema for {api_version} {kind} (not in the client, not a known custom kind)")
            return
        self.check_model(where, "", doc, cls)


def validate_text(text):
    """Problems in a YAML stream of manifests, as 'Kind/name: path: message' strings (empty: valid)."""
    validator = Validator()
    for index, doc in enumerate(yaml.safe_load_all(text)):
        if doc is None:
            continue  # An empty document between `---` separators.
        validator.check_document(index, doc)
    return validator.problems


def client_versions():
    """(package version, Kubernetes OpenAPI release) of the client these checks use."""
    release = "unknown"
    match = re.search(r"OpenAPI document: (release-[\d.]+)", kubernetes.client.__doc__ or "")
    if match:
        release = match.group(1)
    return kubernetes.__version__, release


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="YAML files, or - for stdin")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    args = parser.parse_args(argv)
    problems = []
    count = 0
    for path in args.files:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except (OSError, yaml.YAMLError) as error:
            print(f"validate_k8s: {path}: {error}", file=sys.stderr)
            return 2
        count += len(docs)
        problems += [f"{path}: {p}" for p in validate_text(text)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if not args.quiet:
        version, release = client_versions()
        print(f"validate_k8s: {count} documents valid (python3-kubernetes {version}, Kubernetes API {release})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
