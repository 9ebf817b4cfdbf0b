"""Expressions and templates in a sandbox (Jinja2's ImmutableSandboxedEnvironment); nothing is ever `eval`ed.

Conditions are Jinja expressions (`'refund' in input.lower()`, `outputs.score > 0.5`); templates are Jinja
templates, and a template without Jinja syntax may use `{name}` placeholders. The sandbox refuses attribute
access to internals (`__class__`, ...), mutation, and large ranges or repetitions.
"""

import functools
import operator
import re

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RANGE = 10_000
MAX_OUTPUT = 1_000_000
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ExpressionError(Exception):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise ExpressionError("exponent too large")
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
                    raise ExpressionError("repetition too large")
            return operator.mul(left, right)
        return operator.pow(left, right)


def _bounded_range(*args):
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise ExpressionError(f"range larger than {MAX_RANGE}")
    return result


def _env(undefined) -> _Sandbox:
    env = _Sandbox(undefined=undefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


_STRICT = _env(StrictUndefined)
_LENIENT = _env(Undefined)


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str):
    """Parse once (at compile time, so a syntax error is a parameter error before the run starts)."""
    try:
        return _STRICT.compile_expression(source, undefined_to_none=False)
    except TemplateError as exc:
        raise ExpressionError(f"invalid expression: {exc}") from None


def evaluate(source: str, variables: dict):
    try:
        result = compile_expression(source)(**variables)
        if isinstance(result, Undefined):  # a refused or missing attribute: raise its error here, not later
            result._fail_with_undefined_error()
        return result
    except ExpressionError:
        raise
    except TemplateError as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def _as_jinja(source: str) -> str:
    if "{{" in source or "{%" in source:
        return source
    return _PLACEHOLDER.sub(r"{{ \1 }}", source)


@functools.lru_cache(maxsize=1024)
def compile_template(source: str):
    try:
        return _LENIENT.from_string(_as_jinja(source))
    except TemplateError as exc:
        raise ExpressionError(f"invalid template: {exc}") from None


def render(source: str, variables: dict) -> str:
    try:
        text = compile_template(source).render(**variables)
    except ExpressionError:
        raise
    except TemplateError as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if len(text) > MAX_OUTPUT:
        raise ExpressionError(f"rendered text larger than {MAX_OUTPUT} characters")
    return text
