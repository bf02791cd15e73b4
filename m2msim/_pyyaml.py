"""PyYAML's safe loader as `m2msim.yamlio` uses it: lines and raw text kept, duplicate keys refused.

Imported by `yamlio.parse_yaml` when a YAML text is first parsed (PyYAML is not imported before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from m2msim.yamlio import LocatedDict, LocatedList


class _Refused(yaml.MarkedYAMLError):
    pass


# libyaml's parser when PyYAML was built with it (the wheels are): ten times the pure-Python one's
# speed on a 10,000-line inventory; the constructors below are the same either way.
if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader that tracks lines and refuses duplicate keys."""


class _TextDecimalLoader(_Loader):
    """The same, keeping numbers with a fraction as text (never a float)."""


_TextDecimalLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in seen:
                raise _Refused(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first at line {seen[key_node.value]})",
                    key_node.start_mark,
                )
            seen[key_node.value] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise _Refused(None, None, "a mapping key must be a plain value", key_node.start_mark)
        skey = str(key)
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            result.raw_text[skey] = value_node.value
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    result.raw_text = [child.value if isinstance(child, yaml.ScalarNode) else None for child in node.value]
    return result


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A date or date-time; one that looks like a date but is not one (2026-13-45) is refused
    with its line instead of PyYAML's bare ValueError."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise _Refused(None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark) from None


for _cls in (_Loader, _TextDecimalLoader):
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
    _cls.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load(text: str, *, decimals_as_text: bool = False) -> Any:
    """The document of `text` (PyYAML's errors as they are raised; `yamlio.parse_yaml` maps them)."""
    return yaml.load(
        text, Loader=_TextDecimalLoader if decimals_as_text else _Loader
    )  # a SafeLoader subclass
