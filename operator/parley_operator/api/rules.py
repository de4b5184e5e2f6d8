"""Validation rules written once: a CEL rule for the apiserver and the same check in Python.

The CRD rejects a bad spec at the door (x-kubernetes-validations); the operator parses specs with the
same models, so a spec stored before a rule existed still fails with the same message instead of
half-rendering. Rules that compare with the previous object (`oldSelf`) have no Python twin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class Rule:
    cel: str
    message: str
    check: Callable[[Any], bool] | None = None
    """The Python twin of `cel`, given the model (or the value, for field rules); None: apiserver only."""

    def schema(self) -> dict[str, JsonValue]:
        return {"rule": self.cel, "message": self.message}


class SpecModel(BaseModel):
    """Base of every API type: camelCase on the wire, unknown fields refused, rules enforced."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra=lambda schema, cls: _add_rules(schema, cls),
    )
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        for rule in type(self).rules:
            if rule.check is not None and not rule.check(self):
                raise ValueError(rule.message)
        return self


def _add_rules(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: tuple[Rule, ...] = getattr(cls, "rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.schema() for rule in rules]


def field_rule(rule: Rule) -> tuple[Any, ...]:
    """Annotated metadata putting `rule` on a single field (CEL `self` is the field's value)."""

    def check(value: Any) -> Any:
        if rule.check is not None and not rule.check(value):
            raise ValueError(rule.message)
        return value

    return (Field(json_schema_extra={"x-kubernetes-validations": [rule.schema()]}), AfterValidator(check))


def regex_rule(pattern: str, message: str) -> Rule:
    """A `matches` rule; CEL (RE2) and Python agree on the anchored subset used here."""
    # A backslash would need escaping once for CEL's string literal; patterns use [.] instead.
    if "\\" in pattern or "'" in pattern:
        raise ValueError(f"pattern must not contain a backslash or a quote: {pattern}")
    compiled = re.compile(pattern)
    return Rule(
        cel=f"self.matches('{pattern}')",
        message=message,
        check=lambda value: compiled.fullmatch(value) is not None,
    )


def nested(model: type[SpecModel], **values: Any) -> Any:
    """A sub-object that is always there: the CRD defaults it (so the apiserver fills its fields)
    and so does Python."""
    default = {to_camel(k): v for k, v in values.items()}
    return Field(default_factory=lambda: model(**values), json_schema_extra={"default": default})
