"""Expressions and templates in a sandbox (Jinja2's ImmutableSandboxedEnvironment); nothing is ever `eval`ed.

Conditions are Jinja expressions (`'refund' in input.lower()`, `outputs.score > 0.5`); templates are Jinja
templates, and a template without Jinja syntax may use `{name}` placeholders. The sandbox refuses attribute
access to internals (`__class__`, ...), mutation, and large ranges or repetitions. A render runs on the event
loop, so it has a budget: every `{% for %}` iteration counts against MAX_LOOP_STEPS and the clock is read
every 1,024 of them (nested loops over small ranges multiply past any range limit).
"""

import contextvars
import functools
import operator
import re
import time

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RANGE = 10_000
MAX_OUTPUT = 1_000_000
MAX_LOOP_STEPS = 1_000_000
MAX_RENDER_SECONDS = 1.0
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ExpressionError(Exception):
    pass


class _Budget:
    __slots__ = ("steps", "deadline")

    def __init__(self):
        self.steps, self.deadline = 0, time.monotonic() + MAX_RENDER_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps & 1023:
            return
        if self.steps > MAX_LOOP_STEPS:
            raise ExpressionError(f"the template's loops ran more than {MAX_LOOP_STEPS:,} steps")
        if time.monotonic() > self.deadline:
            raise ExpressionError(f"the template ran longer than {MAX_RENDER_SECONDS:g} s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _counted(iterable):
    """What every `{% for %}` iterates (see _Sandbox._parse): the items, each one counted."""
    budget = _budget.get()
    if budget is None:  # rendered outside render(): a fresh budget
        budget = _Budget()
        _budget.set(budget)
    for item in iterable:
        budget.step()
        yield item


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name("_counted", "load"), [loop.iter], [], None, None, lineno=loop.lineno)
        return tree

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
    env.globals["_counted"] = _counted
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
    token = _budget.set(_Budget())
    try:
        text = compile_template(source).render(**variables)
    except ExpressionError:
        raise
    except RecursionError:  # a macro that calls itself
        raise ExpressionError("the template recurses too deeply") from None
    except TemplateError as exc:
        raise ExpressionError(str(exc)) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)
    if len(text) > MAX_OUTPUT:
        raise ExpressionError(f"rendered text larger than {MAX_OUTPUT} characters")
    return text
