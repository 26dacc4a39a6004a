#!/usr/bin/python3
"""Renders the expected outputs of the jinja test fixtures with Python's jinja2, configured the
way Hugging Face transformers renders chat templates (apply_chat_template): an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension,
transformers' tojson filter (ensure_ascii=False, sort_keys=False) and the raise_exception /
strftime_now globals.

Writes fixtures/feature_cases.json (small templates exercising one feature each) and
fixtures/chat_cases.json (real chat templates over conversations). Run from anywhere:
    /usr/bin/python3 tests/jinja/gen_fixtures.py [--shared /work/shared]
"""
import argparse
import itertools
import json
import os
import random
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(template, context):
    """Returns {"expected": text} or {"error": message, "error_type": class name}."""
    try:
        compiled = ENV.from_string(template)
    except Exception as e:  # noqa: BLE001 - syntax errors, and Python's for break outside a loop
        return {"error": str(e), "error_type": type(e).__name__, "at_parse": True}
    try:
        return {"expected": compiled.render(**context)}
    except Exception as e:  # noqa: BLE001 - every failure kind is a fixture outcome
        return {"error": str(e), "error_type": type(e).__name__}


# ---------------------------------------------------------------------------------------------
# Feature cases: (template, context). Kept small: each pins down one piece of jinja2 semantics.
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi there \n"},
        {"role": "assistant", "content": "Hello!"}]
FEATURES = [
    # output and literals
    ("plain text only", {}),
    ("{{ 'a' }}{{ \"b\" }}{{ 'c' 'd' }}", {}),
    ("{{ 1 }} {{ -3 }} {{ 1.0 }} {{ 2.50 }} {{ 1e20 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }} {{ 1_000 }}", {}),
    ("{{ 1e16 }} {{ 123456789012345678.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.0 }}", {}),
    ("{{ none }} {{ None }} {{ true }} {{ False }} {{ undefined_name }}|", {}),
    ("{{ [1, 'a', none, true, 1.5, [2]] }} {{ (1, 2) }} {{ (1,) }} {{ () }}", {}),
    ("{{ {'a': 1, 'b': 'x'} }} {{ {} }} {{ {'q': \"it's\"} }} {{ ['a\\nb', 'é', 't\\tz'] }}", {}),
    ("{{ ['\\x01', '\\u200d', '\\xa0', 'a\\'b\"c', '\\\\'] }}", {}),
    ("{{ '\\u00e9\\U0001F600\\x41\\101\\d' }}", {}),
    ("{{ x }} {{ y }} {{ z }}", {"x": 3.0, "y": [1.25, None, False], "z": {"k": [True]}}),
    # whitespace control, trim_blocks, lstrip_blocks
    ("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n", {}),
    ("a\n  {%- if true -%}\n  b  \n  {%- endif %}\nc", {}),
    ("{%+ if true %}a{% endif +%}\nb", {}),
    ("  {%+ if true %}a{% endif %}\n", {}),
    ("x {# comment #}\ny\n  {# own line #}\nz {#- strip -#}  w", {}),
    ("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n", {}),
    ("{{- ' a ' -}}\n\n{{ 'b' }}  {{- 'c' }}", {}),
    ("line1\r\nline2\r\n{% if true %}\r\nx\r\n{% endif %}\r\n", {}),
    ("trailing newline kept once\n\n", {}),
    ("{% raw %}{{ not rendered }}{% endraw %}", {}),
    ("a  {%- raw -%}  {{ x }}  {%- endraw -%}  b", {}),
    ("\t{% if true %}tab{% endif %}", {}),
    ("x  {% if true %}y{% endif %}", {}),
    ("{% if true %}a{% endif %}   {% if true %}b{% endif %}", {}),
    # if / elif / else
    ("{% if x %}A{% elif y %}B{% else %}C{% endif %}", {"x": 0, "y": ""}),
    ("{% if x %}A{% elif y %}B{% else %}C{% endif %}", {"x": [], "y": [0]}),
    ("{% if x is defined and x %}A{% endif %}{% if not y %}B{% endif %}", {"y": {}}),
    # for loops
    ("{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/"
     "{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}",
     {"messages": MSGS}),
    ("{% for m in messages %}{{ loop.previtem is defined }}{{ (loop.nextitem or {}).role }}|{% endfor %}",
     {"messages": MSGS}),
    ("{% for m in messages %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {"messages": MSGS}),
    ("{% for x in [] %}no{% else %}empty{% endfor %}", {}),
    ("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{{ loop.last }} {% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for k in d %}{{ k }}{% endfor %}{% for c in 'héllo' %}[{{ c }}]{% endfor %}",
     {"d": {"z": 1, "y": 2}}),
    ("{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}", {}),
    ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}"
     "{% endif %}{{ i }}{% endfor %}", {}),
    ("{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}"
     "{% endfor %}", {}),
    ("{% for x in undefined_thing %}a{% else %}b{% endfor %}", {}),
    ("{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}[{{ x }}]", {}),
    ("{% set x = 5 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}[{{ x }}]{% endfor %}[{{ x }}]", {}),
    ("{% for m in messages[::-1] %}{{ m.role }} {% endfor %}", {"messages": MSGS}),
    ("{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}", {}),
    # set, namespace, with
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}", {}),
    ("{% set ns = namespace(found=false, n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
     "{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }}", {}),
    ("{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", {}),
    ("{% set block | upper %}shout{% endset %}{{ block }}", {}),
    ("{% if true %}{% set z = 3 %}{% endif %}{{ z }}", {}),
    ("{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}", {}),
    # macros and call
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
     "{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(name='Cy') }}", {}),
    ("{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}{% set y = 2 %}{{ m() }}", {}),
    ("{% macro list(items) %}{% for i in items %}<{{ caller(i) }}>{% endfor %}{% endmacro %}"
     "{% call(x) list([1, 2]) %}item {{ x }}{% endcall %}", {}),
    ("{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}", {}),
    ("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}", {}),
    ("{% filter upper %}abc {{ 'def' }}{% endfilter %}", {}),
    # operators
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 6 / 3 }} {{ 2 ** 10 }} "
     "{{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ 1 + 1.5 }} {{ true + 1 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ x ~ [1] }}", {}),
    ("{{ 'a' + 'b' }} {{ [1] + [2] }} {{ -x }} {{ +x }} {{ not x }}", {"x": 2}),
    ("{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
    ("{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 in x }}", {}),
    ("{{ x and y }} {{ x or y }} {{ y or 'dflt' }} {{ none or 0 }} {{ 1 and [] }}", {"x": 1, "y": ""}),
    ("{{ 'yes' if x else 'no' }} {{ 'a' if x }}|{{ 'b' if not x }}|", {"x": True}),
    ("{{ x if x is defined else 'undef' }}", {}),
    # attribute and item access
    ("{{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ m['missing'] }}|{{ m.missing is defined }}",
     {"m": MSGS[0]}),
    ("{{ l[0] }} {{ l[-1] }} {{ l[5] }}|{{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l.0 }}",
     {"l": [1, 2, 3, 4]}),
    ("{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[10:] }}|", {"s": "héllo"}),
    ("{{ none.x }}|{{ (none.x) is defined }}|{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }}",
     {"d": {"a": 1}}),
    ("{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d['items'] is callable }}",
     {"d": {"a": 1, "b": [2]}}),
    # string methods
    ("{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' \\n') }}|{{ 'xxaxx'.strip('x') }}",
     {"s": "  hi \n"}),
    ("{{ s.startswith('ab') }} {{ s.endswith('yz') }} {{ s.startswith(('x', 'a')) }} {{ s.endswith('q') }}",
     {"s": "abcxyz"}),
    ("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a-b-c'.rsplit('-', 1) }}", {}),
    ("{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}", {}),
    ("{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'x'.replace('', '-') }}", {}),
    ("{{ '{} and {}'.format('a', 1) }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{n}!'.format(n=3) }} {{ '{{x}}'.format() }}", {}),
    ("{{ ', '.join(['a', 'b']) }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.rfind('c') }} {{ 'abcabc'.count('bc') }}", {}),
    ("{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'Ab'.islower() }} {{ 'AB'.isupper() }}", {}),
    ("{{ '</think>' in s }} {{ s.split('</think>')[-1].lstrip('\\n') }}|{{ s.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
     {"s": "<think>\nreason\n</think>\n\nanswer"}),
    ("{{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'ÀÉÎ straße'.lower() }} {{ 'straße'.upper() }} {{ 'ΑΒΓ абв'.lower() }}", {}),
    ("{{ '%s is %d' % ('x', 3) }} {{ '%05.1f|%-4s|%r' % (3.14159, 'ab', 'q') }} {{ '%(a)s' % {'a': 1} }}", {}),
    # filters
    ("{{ s | trim }}|{{ s | length }}|{{ s | upper }}|{{ s | lower }}|{{ 'x y-z(w' | title }}|{{ s | capitalize }}",
     {"s": "  hÉllo wOrld  "}),
    ("{{ l | length }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | join }} {{ l | reverse | list }}",
     {"l": ["a", "b", "c"]}),
    ("{{ [] | first }}|{{ undefined_x | length }}|{{ undefined_x | default('dv') }}|{{ '' | default('e', true) }}|{{ 0 | d('z') }}", {}),
    ("{{ d | items | list }} {{ d | length }} {{ d | list }} {{ d | first }} {{ d | dictsort }}", {"d": {"b": 1, "a": 2}}),
    ("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(0, 16) }} "
     "{{ '3' | float }} {{ 'a' | float }} {{ 2 | float }} {{ ' 1_000 ' | int }}", {}),
    ("{{ 1 | string }}{{ none | string }}{{ [1] | string }} {{ 'a<b>&\"c\\'' | escape }} {{ '<x>' | e }} {{ '<x>' | safe }}", {}),
    ("{{ 'aXbX' | replace('X', '-') }} {{ 'aaa' | replace('a', 'b', 1) }} {{ 123 | replace('2', 'x') }}", {}),
    ("{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} {{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }}",
     {"msgs": MSGS}),
    ("{{ msgs | map(attribute='role') | list }} {{ [1, 2, 3] | select('odd') | list }} {{ [1, 0, 2] | select | list }} "
     "{{ ['a', 'B'] | map('upper') | list }} {{ msgs | selectattr('tool_calls') | list }} {{ msgs | map(attribute='x', default='?') | list }}",
     {"msgs": MSGS}),
    ("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A'] | sort(case_sensitive=true) }} {{ [1, 3, 2] | sort(reverse=true) }} "
     "{{ msgs | sort(attribute='role') | map(attribute='role') | join(' ') }}", {"msgs": MSGS}),
    ("{{ [1, 2, 1, 'a', 'A'] | unique | list }} {{ [1, 5, 3] | max }} {{ [4, 2] | min }} {{ [1, 2.5] | sum }} {{ [-3] | first | abs }}", {}),
    ("{{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 7 | round }}", {}),
    ("{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(width='>', blank=true) }}", {}),
    ("{{ '%s-%s' | format('a', 'b') }} {{ 'one two  three' | wordcount }} {{ 'abc' | center(9) }}|{{ [1, 2] | list | count }}", {}),
    ("{{ x | tojson }} {{ x | tojson(indent=2) }} {{ s | tojson }} {{ n | tojson }}",
     {"x": {"b": [1, 2.0, None, True], "a": "é\"\n\t\u0001", "c": {}, "d": []}, "s": "x/y", "n": None}),
    ("{{ x | tojson(indent=4, sort_keys=true) }}{{ x | tojson(separators=(',', ':')) }}{{ x | tojson(ensure_ascii=true) }}",
     {"x": {"z": "😀ü", "a": [1, {"k": "v"}]}}),
    ("{{ [1.5, 1e100, -0.0, 100.0, 3] | tojson }} {{ (1, 2) | tojson }} {{ {1: 'a', true: 'b'} | tojson }}", {}),
    ("{{ 'abc' | list }} {{ 'héllo' | reverse }} {{ none | list if false else 'skip' }}", {}),
    # tests
    ("{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ d is mapping }} {{ l is iterable }} "
     "{{ s is iterable }} {{ d is sequence }} {{ 1 is number }} {{ true is number }} {{ true is boolean }} {{ 1 is integer }} "
     "{{ true is integer }} {{ 1.0 is float }} {{ n is string }} {{ l is mapping }}",
     {"x": 1, "n": None, "s": "s", "d": {}, "l": []}),
    ("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 'a' is in 'cat' }} {{ 2 is in [1] }} "
     "{{ x is eq 1 }} {{ x is equalto 2 }} {{ x is ne 1 }} {{ x is gt 0 }} {{ x is lt 0 }} {{ x is ge 1 }} {{ x is le 0 }}",
     {"x": 1}),
    ("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ f is false }} {{ f is true }} {{ none is sameas none }} {{ x is not none }} "
     "{{ range is callable }}", {"f": False, "x": 0}),
    # globals
    ("{{ raise_exception is defined }} {{ range(3) | list }} {{ dict(a=1, b=2) }} {{ namespace(x=1).x }}", {}),
    ("{{ strftime_now('') }}|{{ strftime_now('%Y') | length }}", {}),
    ("{{ [1e-7, 5e-324, 1.7976931348623157e308, 123456.789, 1e15, 9.999e15, 0.1 * 3, 1/3] }}", {}),
    ("{{ ['\u2028', '\x7f', '\x1b'] | tojson }} {{ ['\u2028'] | tojson(ensure_ascii=true) }}", {}),
    ("{% set ns = namespace(items=[]) %}{% for m in msgs %}{% set ns.items = ns.items + [m.role] %}{% endfor %}"
     "{{ ns.items | join('>') }}", {"msgs": MSGS}),
    ("{% macro outer() %}[{{ caller() }}]{% endmacro %}{% macro inner(x) %}{% call outer() %}{{ x }}"
     "{% endcall %}{% endmacro %}{{ inner('q') }}", {}),
    ("{{ ('a' * -1) ~ '|' ~ ([1] * 0) | string }} {{ 'ÿ'.upper() }} {{ 'ǅ'.lower() }} {{ 'ΣΑΣ'.lower() }}", {}),
    ("{{ 'ǆemal σ ΣΑΣ ΟΔΟΣ.' | capitalize }} {{ 'ǆa ǉb' | title }} {{ 'ǆa ǉb'.title() }} {{ 'ΜΆΪΟΣ'.lower() }}", {}),
    ("{{ x | default([]) | length }} {{ (y | default({})).k | default('none') }}", {"y": {"k": 0}}),
    # errors: must fail the same way
    ("{{ raise_exception('Conversation roles must alternate') }}", {}),
    ("{% if x %}{{ raise_exception('bad ' ~ x) }}{% endif %}", {"x": "role"}),
    ("{{ x.y }}", {}),
    ("{{ x.y.z }}", {"x": {}}),
    ("{{ 'x' + undefined_v }}", {}),
    ("{{ 'x' + 1 }}", {}),
    ("{{ 1 + 'x' }}", {}),
    ("{{ 'a' < 1 }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 'abc'.nope() }}", {}),
    ("{{ [1, 2].append(3) }}", {}),
    ("{{ d.update({'a': 2}) }}", {"d": {}}),
    ("{% for x in none %}{% endfor %}", {}),
    ("{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("{{ undefined_v | tojson }}", {}),
    ("{{ 1 in 'abc' }}", {}),
    ("{% set x = 1 %}{% set x.attr = 2 %}", {}),
    ("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
    ("{{ 'a' | int(base=99) }}", {}),
    ("{{ undefined_fn() }}", {}),
    ("{{ undefined_v < 1 }}", {}),
    # parse errors
    ("{% if x %}unterminated", {}),
    ("{% for x in y %}{% endif %}", {}),
    ("{{ x | no_such_filter }}", {}),
    ("{{ x is no_such_test }}", {}),
    ("line one\n{% frobnicate %}", {}),
    ("{{ 'unterminated }}", {}),
    ("{{ 1 + }}", {}),
    ("{% break %}", {}),
    ("{# never closed", {}),
]




def whitespace_fuzz(count, seed):
    """Random well-formed templates mixing text, whitespace and every tag kind with '-'/'+'
    modifiers: trim_blocks/lstrip_blocks interplay is where renderers most often differ."""
    rng = random.Random(seed)
    ws = ["", " ", "  ", "\n", " \n", "\n  ", "\t", "\n\n", " \t \n ", "\n\t"]
    text = ["a", "b c", "x\n", "\ny", "é", "  z  "]

    def mod(plus=True):
        return rng.choice(["", "-", "+"] if plus else ["", "-"])

    def block(head, tail, depth):
        return ("{%" + mod() + " " + head + " " + mod() + "%}" + body(depth + 1) +
                "{%" + mod() + " " + tail + " " + mod() + "%}")

    def body(depth):
        parts = []
        for _ in range(rng.randint(1, 4)):
            parts.append(rng.choice(ws))
            r = rng.random()
            if r < 0.3:
                parts.append(rng.choice(text))
            elif r < 0.5:
                parts.append("{{" + mod(False) + " 'v' " + mod(False) + "}}")
            elif r < 0.6:
                parts.append("{#" + mod() + " c " + mod() + "#}")
            elif r < 0.75 and depth < 3:
                parts.append(block("if true", "endif", depth))
            elif r < 0.9 and depth < 3:
                parts.append(block("for i in [1, 2]", "endfor", depth))
            else:
                parts.append("{%" + mod() + " set q = 1 " + mod() + "%}")
            parts.append(rng.choice(ws))
        return "".join(parts)

    return [(body(0), {}) for _ in range(count)]


# Idioms lifted from chat templates in the wild.
PARTS = [{"role": "system", "content": "sys"},
         {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image"},
                                      {"type": "text", "text": " here"}]},
         {"role": "assistant", "content": "<think>r</think>  done", "reasoning_content": None,
          "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2], "b": "ü"}}}]},
         {"role": "user", "content": "again"}]
FEATURES += [
    ("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}{{ '\n' if not loop.last }}{% endfor %}",
     {"messages": PARTS}),
    ("{{ messages[1].content | selectattr('type', 'eq', 'text') | map(attribute='text') | join('') }}",
     {"messages": PARTS}),
    ("{%- set last_user = (messages | selectattr('role', 'eq', 'user') | list)[-1] %}{{ last_user.content }}",
     {"messages": PARTS}),
    ("{% for m in messages %}{% if m['role'] | lower == 'assistant' %}{{ m.content.split('</think>')[-1] | trim }}"
     "|{{ m.reasoning_content if m.reasoning_content is not none else 'none' }}"
     "|{{ m.tool_calls[0].function.arguments | tojson }}{% endif %}{% endfor %}", {"messages": PARTS}),
    ("{{ ('a' if x else 'b') | upper }}{{ '[' ~ ', '.join(names) ~ ']' }}{{ d.get('k', 'dflt') }}",
     {"x": 0, "names": ["p", "q"], "d": {}}),
    ("{%- if tools is iterable and tools | length > 0 %}T{{ tools | length }}{% endif %}"
     "{% for k, v in tools[0].parameters.properties | items %}{{ k }}={{ v.type }};{% endfor %}",
     {"tools": [{"parameters": {"properties": {"x": {"type": "int"}, "y": {"type": "str"}}}}]}),
    ("{% if not messages %}empty{% endif %}{% if messages is not defined %}undef{% endif %}", {"messages": []}),
    ("{{ messages | rejectattr('role', 'equalto', 'system') | map(attribute='role') | list }}", {"messages": PARTS}),
    ("{%- set ns = namespace(sys='') %}{%- for m in messages %}{%- if m.role == 'system' %}{%- set ns.sys = ns.sys ~ m.content ~ ';' %}"
     "{%- endif %}{%- endfor %}{{ ns.sys }}", {"messages": PARTS + PARTS}),
    ("{{ messages[0]['content'][0]['text'] if messages[0]['content'] is not string else messages[0]['content'] }}",
     {"messages": PARTS}),
    ("{{ 'x' if m.tool_calls is defined and m.tool_calls }}{{ (m.content or '') | length }}", {"m": PARTS[2]}),
]

FEATURES += whitespace_fuzz(400, seed=20261130)

# ---------------------------------------------------------------------------------------------
# Chat cases: templates over conversations, rendered as apply_chat_template does.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a timezone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "  Search the knowledge base.\n",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Free text"},
                "limit": {"type": "integer", "description": "Max hits"},
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"},
                "weights": {"type": "object", "additionalProperties": {"type": "number"},
                            "description": "Per-field weights"},
                "mode": {"type": ["string", "null"], "description": "Mode or null"},
                "strict": {"type": "boolean", "description": "Exact match only"},
            },
            "required": ["query"],
        },
        "return": {"type": "array", "items": {"type": "object"}, "description": "Matching documents"},
    },
}

DOCUMENTS = [{"title": "Doc A", "text": " alpha \n"}, {"text": "beta — β"}]

CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello!"}],
    "system_user": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "multi_turn": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "And of Germany?"},
        {"role": "assistant", "content": "Berlin"},
        {"role": "user", "content": "  Spain, with spaces  \n"},
    ],
    "no_system_multi": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en français. 日本語もOK。"},
        {"role": "user", "content": "Ça va? 👋🏽 👨‍👩‍👧 \u200b مرحبا"},
        {"role": "assistant", "content": "Très bien ! 😀"},
        {"role": "user", "content": "Merci\ttab\nnewline «quotes» \"dq\" 'sq' \\backslash"},
    ],
    "special_lookalikes": [
        {"role": "user", "content": "<|im_start|>user\n{{ not a template }} {% raw %} <s></s>"},
    ],
    "tool_call_flow": [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "Weather in Zürich?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call00001", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21.5 °C and clear."},
        {"role": "user", "content": "And the time there?"},
    ],
    "parallel_tool_calls": [
        {"role": "user", "content": "Weather and time in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call00002", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
            {"id": "call00003", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Oslo"}}}]},
        {"role": "tool", "tool_call_id": "call00002", "name": "get_weather", "content": "snow"},
        {"role": "tool", "tool_call_id": "call00003", "name": "get_time", "content": "12:00"},
    ],
    "tool_call_string_args": [
        {"role": "user", "content": "Weather in Lyon?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call00004", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Lyon\"}"}}]},
        {"role": "tool", "tool_call_id": "call00004", "content": "rain"},
    ],
    "thinking": [
        {"role": "user", "content": "Think first: 3*7?"},
        {"role": "assistant", "content": "<think>\n3*7 is 21.\n</think>\n\n21"},
        {"role": "user", "content": "Now 4*5?"},
    ],
    "multimodal_parts": [
        {"role": "system", "content": [{"type": "text", "text": "Describe images."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
    ],
    "alternation_error": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}

# Special tokens of the public templates written as fixtures (as their tokenizer_config.json
# files declare them; llama2 uses the serialized AddedToken form).
FIXTURE_TOKENS = {
    "chatml": {"eos_token": "<|im_end|>"},
    "deepseek-r1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "hermes2pro-tool-use": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "llama3.2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "gemma2": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
    "llama2": {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False,
                             "normalized": True, "rstrip": False, "single_word": False},
               "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": False,
                             "normalized": True, "rstrip": False, "single_word": False},
               "unk_token": "<unk>", "pad_token": None},
    "llama3.1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "macro_roles": {"eos_token": "<|end_of_text|>"},
    "mistral-v0.1": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "mistral-v0.3": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "qwen2.5": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
}


def write_fixture_configs():
    """Builds tokenizer_config.json-shaped files from fixtures/templates/*.jinja."""
    tdir = os.path.join(FIXTURES, "templates")
    cdir = os.path.join(FIXTURES, "configs")
    os.makedirs(cdir, exist_ok=True)
    sources = {}
    for name in sorted(os.listdir(tdir)):
        if name.endswith(".jinja"):
            with open(os.path.join(tdir, name), encoding="utf-8") as f:
                sources[name[:-len(".jinja")]] = f.read()
    configs = {}
    for name, source in sources.items():
        configs[name] = dict(FIXTURE_TOKENS[name], chat_template=source)
    # A named list, as models with a separate tool-use template ship it.
    configs["named_list"] = {"eos_token": "<|im_end|>", "chat_template": [
        {"name": "default", "template": sources["chatml"]},
        {"name": "tool_use", "template": sources["qwen2.5"]}]}
    for name, config in configs.items():
        with open(os.path.join(cdir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=2)
            f.write("\n")
    return configs


def template_cases(shared):
    cases = []
    # Real tokenizer_config.json files from ../shared (those that carry a chat template).
    for rel in ["tokenizers/gemma3/tokenizer_config.json", "tokenizers/llama3/tokenizer_config.json",
                "tokenizers/qwen3/tokenizer_config.json", "tokenizers/gpt4o/tokenizer_config.json",
                "tokenizers/mistral-7b/tokenizer_config.json", "models/stories260K/tokenizer_config.json"]:
        path = os.path.join(shared, rel)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        if not config.get("chat_template"):
            continue
        cases.append({"config": "shared:" + rel, "template_config": config})
    for name, config in sorted(write_fixture_configs().items()):
        cases.append({"config": "configs/" + name + ".json", "template_config": config})
    return cases


def special_tokens(config):
    out = {}
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            out[key] = v
    return out


def pick_template(config, tools):
    t = config["chat_template"]
    if isinstance(t, str):
        return t
    named = {e["name"]: e["template"] for e in t}
    if tools is not None and "tool_use" in named:
        return named["tool_use"]
    return named["default"]


def chat_cases(shared):
    out = []
    for tc in template_cases(shared):
        config = tc["template_config"]
        for conv_name, messages in CONVERSATIONS.items():
            uses_tools = any("tool_calls" in m or m["role"] == "tool" for m in messages)
            tool_options = ([[WEATHER_TOOL, TIME_TOOL]] if uses_tools
                            else [None, [WEATHER_TOOL, SEARCH_TOOL]])
            doc_options = [None, DOCUMENTS] if conv_name == "system_user" else [None]
            for tools, documents, agp in itertools.product(tool_options, doc_options, (False, True)):
                extras = [{}]
                if "enable_thinking" in pick_template(config, tools):
                    extras.append({"enable_thinking": False})
                if "date_string" in pick_template(config, tools):
                    extras = [dict(e, date_string="26 Jul 2024") for e in extras]
                for extra in extras:
                    context = dict(special_tokens(config))
                    context.update(messages=messages, tools=tools, documents=documents,
                                   add_generation_prompt=agp)
                    context.update(extra)
                    result = render(pick_template(config, tools), context)
                    out.append(dict({"config": tc["config"], "conversation": conv_name,
                                     "messages": messages, "tools": tools, "documents": documents,
                                     "add_generation_prompt": agp, "extra": extra}, **result))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared")))
    args = ap.parse_args()
    features = [dict({"template": t, "context": c}, **render(t, c)) for t, c in FEATURES]
    with open(os.path.join(FIXTURES, "feature_cases.json"), "w", encoding="utf-8") as f:
        json.dump(features, f, ensure_ascii=False, indent=1)
        f.write("\n")
    chats = chat_cases(args.shared)
    with open(os.path.join(FIXTURES, "chat_cases.json"), "w", encoding="utf-8") as f:
        json.dump(chats, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum(1 for c in chats if "error" in c)
    print(f"jinja2 {jinja2.__version__}: {len(features)} feature cases, {len(chats)} chat cases "
          f"({n_err} expected errors)")


if __name__ == "__main__":
    main()
