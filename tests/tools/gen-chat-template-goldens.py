#!/usr/bin/env python3
"""Writes tests/data/chat-templates/goldens.json: renderings by Python jinja2 of our chat
templates (tests/data/chat-templates/<family>.jinja) and of models' own templates over several
conversations, plus small
inline templates covering each construct the C++ interpreter supports.

jinja2 is set up the way Hugging Face renders chat templates: an immutable sandbox with
trim_blocks and lstrip_blocks, loop controls, a raise_exception() global and a tojson
filter that is plain json.dumps (no HTML escaping, keys unsorted).

Usage: python tests/tools/gen-chat-template-goldens.py   (needs jinja2)
"""
import json
import pathlib

from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "chat-templates"


class TemplateRaised(Exception):
    pass


def make_env():
    def raise_exception(message):
        raise TemplateRaised(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render(env, source, context):
    """Returns the golden fields: expected text, a raised message, or a generic error."""
    # The C++ test reads contexts with nlohmann::json, which orders keys; do the same here.
    context = json.loads(json.dumps(context, sort_keys=True))
    try:
        return {"expected": env.from_string(source).render(**context)}
    except TemplateRaised as e:
        return {"raised": str(e)}
    except Exception as e:  # noqa: BLE001 - any jinja2 failure is an expected error
        return {"error": f"{type(e).__name__}: {e}"}


def msg(role, content):
    return {"role": role, "content": content}


SYSTEM = msg("system", "You are a helpful assistant. ")
CONVERSATIONS = {
    "system_user": [SYSTEM, msg("user", "What is 2+2?")],
    "multi_turn": [SYSTEM, msg("user", "Hi!"), msg("assistant", " Hello, how can I help? "), msg("user", "Tell me a joke.")],
    "no_system": [msg("user", "Hi"), msg("assistant", "Hello"), msg("user", "Bye")],
    "single_user": [msg("user", "Hello")],
    "unicode": [msg("user", "Grüße, 世界! 🌍 — «ok»"), msg("assistant", "Привет 👋🏽"), msg("user", "ça va?\u00a0")],
    "empty_content": [msg("user", ""), msg("assistant", ""), msg("user", "")],
    "whitespace": [msg("system", "  \n spaced system \t\n"), msg("user", "\n\n  line one\n  line two  \n")],
    "bad_order_user_user": [msg("user", "one"), msg("user", "two")],
    "bad_order_assistant_first": [msg("assistant", "I start"), msg("user", "hi")],
}
# (template file stem, family it is detected as, bos, eos): our built-in family templates,
# then models' own templates as their GGUFs carry them (smollm2: SmolLM2-135M-Instruct).
TEMPLATES = [
    ("llama2", "llama2", "<s>", "</s>"),
    ("llama3", "llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("mistral", "mistral", "<s>", "</s>"),
    ("gemma", "gemma", "<bos>", "<eos>"),
    ("chatml", "chatml", "", "<|im_end|>"),
    ("smollm2", "chatml", "<|im_start|>", "<|im_end|>"),
]

D = {"a": 1, "b": [1, 2], "c": {"x": "<y>", "z": None}}
MSGS = [
    {"role": "system", "content": "sys", "ok": True},
    {"role": "user", "content": "u1", "ok": False},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "u2", "ok": True},
]

# (name, template, context) covering the interpreter's constructs one area at a time.
INLINE = [
    ("ws_lstrip_trim", "  {% if true %}\n  x\n  {% endif %}\ny\n", {}),
    ("ws_dash", "a  {{- ' b ' -}}  c\n  {%- if true -%}  d  {%- endif -%}  e", {}),
    ("ws_plus", "  {%+ if true %} x{% endif %}|{% if true +%}\nx{% endif %}", {}),
    ("ws_comments", "{# c #}\n  {#- c -#}  x\n  {# c #}\ny", {}),
    ("ws_for_lines", "line1\n    {% for i in [1, 2] %}\n    {{ i }}\n    {% endfor %}\nend\n", {}),
    ("ws_expr_newline", "{{ 'a' }}\n{{ 'b' }}\n  {{ 'c' }}", {}),
    ("ws_crlf", "{% if true %}\r\nx\r\n{% endif %}\r\n", {}),
    ("ws_after_block_line_start", "{% if true %}\n    {% if true %}\n  z\n    {% endif %}\n{% endif %}", {}),
    ("literals", "{{ 'a\\n\\t\\'' }}|{{ \"d\" 'x' }}|{{ 1_000 }}|{{ 1.5e3 }}|{{ [1, 'a', none, true, 2.5] }}|{{ {'k': 'v', 'n': [1]} }}|{{ True }}{{ None }}{{ false }}|{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\"] }}", {}),
    ("escapes_unicode", "{{ '\\u00e9\\x41\\U0001F600' }}|{{ 'héllo'[1] }}", {}),
    ("arith_int", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 10 / 4 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 - 4 }} {{ true + 1 }} {{ -2 ** 2 }} {{ 2 ** -1 }}", {}),
    ("arith_float", "{{ 2.5 * 2 }} {{ 0.1 + 0.2 }} {{ 1e20 * 10 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1.0 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 123.456 }} {{ -0.0 }} {{ 100 / 3 }} {{ 2 ** 0.5 }} {{ 3.0 * 2 }} {{ 0.0001 }}", {}),
    ("arith_seq", "{{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ 1 ~ 'a' ~ none ~ true ~ nothing }}", {}),
    ("compare_logic", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 'x' not in ['a'] }} {{ 'k' in {'k': 1} }} {{ none or 'd' }} {{ 0 and 1 }} {{ not 0 }} {{ [1, 2] < [1, 3] }} {{ 'b' >= 'a' }} {{ 1 != 2 }} {{ not 1 == 2 }} {{ [1, [2]] == [1, [2]] }} {{ {'a': 1} == {'a': 1} }}", {}),
    ("ternary", "{{ 'y' if x else 'n' }}{{ 'z' if false }}|{{ 'a' if x > 5 else 'b' if x > 1 else 'c' }}", {"x": 3}),
    ("precedence", "{{ 'a' ~ 'b' | upper }} {{ ('a' ~ 'b') | upper }} {{ -2 | abs }} {{ (1 + 2) | string }} {{ 1 ~ 2 | string }} {{ not true or true }}", {}),
    ("loop_vars", "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}", {"items": ["a", "b", "c"]}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}", {}),
    ("loop_filter_else", "{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in nothing %}x{% endfor %}", {}),
    ("loop_dict", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {"d": D}),
    ("loop_string", "{% for ch in 'héé' %}[{{ ch }}]{% endfor %}", {}),
    ("loop_nested", "{% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("scoping", "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }},{% endfor %}{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(total=0, names='') %}{% for m in msgs %}{% set ns.total = ns.total + loop.index %}{% set ns.names = ns.names ~ m.role[0] %}{% endfor %}{{ ns.total }} {{ ns.names }}", {"msgs": MSGS}),
    ("loop_controls", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("range", "{{ range(5) | list }} {{ range(2, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}", {}),
    ("slicing", "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3, 4][:-1] }} {{ [1, 2, 3, 4][::2] }} {{ [1, 2, 3][-1] }} [{{ 'abc'[5] }}] {{ 'héllo'[1:] }} {{ [1, 2, 3, 4][-1:0:-2] }} {{ [1, 2][5:] }}", {}),
    ("str_methods", "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a-b-c'.split('-', 1) }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}|{{ \"hello wORLD it's\".title() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ '-'.join(['a', 'b']) }}|{{ 'abc'.capitalize() }}", {}),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.items() | list }}", {"d": D}),
    ("filters_text", "{{ '  x  ' | trim }}|{{ 'xyx' | trim('x') }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}|{{ 'a-b' | replace('-', '+') }}|{{ none | trim }}|{{ nothing | trim }}|{{ 5 | string }}|{{ none | string }}", {}),
    ("filters_seq", "{{ [1, 2, 3] | length }}|{{ 'héllo' | length }}|{{ d | length }}|{{ nothing | length }}|{{ [1, 2] | join(', ') }}|{{ [1, 2] | first }}|{{ [1, 2] | last }}|{{ 'abc' | list }}|{{ [1, 2, 3] | reverse | list }}|{{ 'abc' | reverse }}|{{ [1, 1, 2] | unique | list }}|{{ [1, 2, 3] | sum }}|{{ d | items | list }}|{{ [] | first }}|{{ msgs | join(',', attribute='role') }}", {"d": D, "msgs": MSGS}),
    ("filters_default", "{{ nothing | default('dflt') }}|{{ '' | default('e') }}|{{ '' | default('e', true) }}|{{ none | d('n', true) }}|{{ nothing | default }}|{{ x | default(1) }}", {"x": 0}),
    ("filters_numbers", "{{ '42' | int + 1 }}|{{ 'x' | int }}|{{ 3.9 | int }}|{{ -3.9 | int }}|{{ ' 7 ' | int }}|{{ '2.5' | int }}|{{ 'x' | int(5) }}|{{ 'x' | float }}|{{ '2.5' | float }}|{{ 3 | float }}|{{ -3 | abs }}|{{ true | int }}", {}),
    ("filters_tojson", "{{ d | tojson }}|{{ [1, 'a\"b\\\\', none, true, 2.5, 'é\\n\\u0001'] | tojson }}|{{ d | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ 'x' | tojson }}", {"d": D}),
    ("filters_select", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}|{{ msgs | selectattr('ok') | list | length }}|{{ msgs | map(attribute='role') | list }}|{{ msgs | rejectattr('ok', 'defined') | map(attribute='content') | first }}|{{ ['a', 'b'] | map('upper') | join }}", {"msgs": MSGS}),
    ("tests", "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ true is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 'a' is in 'cat' }}{{ 1 is eq 1 }}{{ x is not none }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ true is true }}{{ 1 is true }}{{ 'x' is sequence }}{{ 3 is gt 2 }}{{ x is ne 1 }}", {"x": 1}),
    ("if_chain", "{% for x in [0, 1, 5, none] %}{% if x is none %}N{% elif x > 1 %}B{% elif x %}O{% else %}Z{% endif %}{% endfor %}", {}),
    ("tuples", "{{ (1, 'a') }} {{ (1,) }} {{ () }} {{ [(1, 2)] }} {% for a, b in [(1, 2), (3, 4)] %}{{ a * b }}{% endfor %}", {}),
    ("set_unpack_dict", "{% set a, b = [1, 2] %}{{ a }}{{ b }}|{% set cfg = {'a': {'b': [10, 20]}} %}{{ cfg.a.b[1] }} {{ cfg['a']['b'] | length }}", {}),
    ("messages_access", "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}[{{ messages[0].missing }}][{{ messages[0]['missing'] }}][{{ nothing }}]", {"messages": MSGS}),
    ("hf_style_system", "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if loop.index0 == 0 and system_message is defined %}\n        {{- '[SYS]' + system_message + '[/SYS]' }}\n    {%- endif %}\n    {{- message['role'] | upper + ': ' + message['content'] + '\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- 'ASSISTANT:' }}\n{%- endif %}\n", {"messages": MSGS, "bos_token": "<s>", "add_generation_prompt": True}),
    # Errors: the C++ interpreter must fail too (raised ones with the same message).
    ("err_div_zero", "{{ 1 / 0 }}", {}),
    ("err_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("err_undefined_attr", "{{ nothing.attr }}", {}),
    ("err_not_iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("err_order_types", "{{ [1] < 'a' }}", {}),
    ("err_set_attr_on_dict", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("raise", "{% if x > 2 %}{{ raise_exception('bad input: ' ~ x) }}{% endif %}ok", {"x": 3}),
]


def main():
    env = make_env()
    families = []
    for stem, family, bos, eos in TEMPLATES:
        source = (DATA / f"{stem}.jinja").read_text(encoding="utf-8")
        for name, messages in CONVERSATIONS.items():
            for add_gen in (True, False):
                if not add_gen and name not in ("multi_turn", "single_user"):
                    continue
                context = {"messages": messages, "bos_token": bos, "eos_token": eos, "add_generation_prompt": add_gen}
                case = {"template": stem, "family": family, "conversation": name, "context": context}
                case.update(render(env, source, context))
                families.append(case)
    inline = []
    for name, source, context in INLINE:
        case = {"name": name, "source": source, "context": context}
        case.update(render(env, source, context))
        inline.append(case)
    out = {"generator": "tests/tools/gen-chat-template-goldens.py", "families": families, "inline": inline}
    (DATA / "goldens.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(families)} family cases and {len(inline)} inline cases")


if __name__ == "__main__":
    main()
