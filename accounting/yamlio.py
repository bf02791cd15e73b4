"""YAML reading that remembers where each key was written, for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class LocatedDict(dict[str, Any]):
    """A mapping read from YAML, with the line of the mapping and of each key (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps decimals as text (money must stay exact) and tracks lines."""


# Numbers with a fraction stay strings ("7.5"), turned into Decimal by the reader: never a float.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    seen: set[object] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in seen:
                raise _DuplicateKey(None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
            seen.add(key_node.value)
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise _DuplicateKey(None, None, "a mapping key must be a plain value", key_node.start_mark)
        skey = str(key)
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlReadError(Exception):
    def __init__(self, reason: str, line: int | None) -> None:
        self.reason, self.line = reason, line
        super().__init__(reason)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; mappings come back as `LocatedDict`.

    Raises OSError when the file cannot be read, `YamlReadError` when it does not parse.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise YamlReadError(reason, line) from None
    except yaml.YAMLError as exc:
        raise YamlReadError(str(exc).splitlines()[0], None) from None
