#!/usr/bin/env python3
"""Chat templates: `wick chat-template` against Hugging Face transformers' own apply_chat_template.

Every template in the test data (chat-templates/*.jinja, and the chat_template of every
tokenizers/*/tokenizer_config.json) renders every conversation of tests/data/chat_conversations.json
(system prompts, multi-turn, Unicode, add_generation_prompt on and off, tool definitions, tool
calls, reasoning, extra variables). The two must agree byte for byte, and must agree on failing:
where transformers raises (a template's raise_exception, or a type error such as iterating
tools=None), wick must exit with status 1, with the template's own message for raise_exception.

Usage: chat_template_oracle_test.py WICK_BINARY CONVERSATIONS_JSON --testdata DIR
Exit status 77 (ctest: skipped) when transformers is missing or the test data is absent.
"""
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def skip(why):
    print("*** SKIPPED: " + why + " ***")
    sys.exit(int(os.environ.get("WICK_MISSING_STATUS", "77")))


def main():
    wick, conversations_path, _, testdata = sys.argv[1:5]
    if not os.path.isdir(testdata):
        skip("test data missing: set WICK_TESTDATA or put ../shared/testdata beside the checkout")
    try:
        import jinja2  # noqa: F401
        from transformers import AutoTokenizer
    except ImportError as e:
        skip("transformers is not installed (scripts/setup.sh makes .venv): %s" % e)
    conversations = json.load(open(conversations_path, encoding="utf-8"))

    # (label, template source or None for the tokenizer's own, tokenizer dir, wick arguments, special tokens)
    cases = []
    host = AutoTokenizer.from_pretrained(os.path.join(testdata, "tokenizers", "qwen2"))
    tdir = os.path.join(testdata, "chat-templates")
    for name in sorted(os.listdir(tdir)):
        if name.endswith(".jinja"):
            path = os.path.join(tdir, name)
            cases.append((name, open(path, encoding="utf-8").read(), host, ["--template", path],
                          {"bos_token": "<s>", "eos_token": "</s>"}))
    for name in sorted(os.listdir(os.path.join(testdata, "tokenizers"))):
        d = os.path.join(testdata, "tokenizers", name)
        cfg = os.path.join(d, "tokenizer_config.json")
        if not os.path.isfile(cfg) or not json.load(open(cfg, encoding="utf-8")).get("chat_template"):
            continue
        cases.append(("tokenizers/" + name, None, AutoTokenizer.from_pretrained(d), ["-m", d], {}))

    failures, renders, raised = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, source, tok, wick_args, special in cases:
            for conv in conversations:
                extras = {k: v for k, v in conv.items() if k not in ("name", "messages", "tools", "add_generation_prompt")}
                context = dict(special)
                context.update({"messages": conv["messages"], "add_generation_prompt": conv["add_generation_prompt"]})
                if "tools" in conv:
                    context["tools"] = conv["tools"]
                context.update(extras)
                ctx_file = os.path.join(tmp, "context.json")
                with open(ctx_file, "w", encoding="utf-8") as f:
                    json.dump(context, f, ensure_ascii=False)
                try:
                    want = tok.apply_chat_template(
                        json.loads(json.dumps(conv["messages"])), tools=conv.get("tools"), chat_template=source,
                        add_generation_prompt=conv["add_generation_prompt"], tokenize=False, **special, **extras)
                    want_error = None
                except Exception as e:  # noqa: BLE001 - any template failure must be a wick failure too
                    want, want_error = None, e
                got = subprocess.run([wick, "chat-template", *wick_args, "--context", ctx_file], capture_output=True)
                where = "%s / %s" % (label, conv["name"])
                if want_error is not None:
                    raised += 1
                    if got.returncode != 1:
                        failures.append("%s: transformers raised %s: %s; wick exited %d" % (where, type(want_error).__name__, want_error, got.returncode))
                    elif type(want_error).__name__ == "TemplateError" and str(want_error) not in got.stderr.decode("utf-8", "replace"):
                        failures.append("%s: raise_exception message %r not in wick's %r" % (where, str(want_error), got.stderr.decode()))
                    continue
                renders += 1
                text = got.stdout.decode("utf-8", "replace")
                if got.returncode != 0:
                    failures.append("%s: wick failed (%d): %s" % (where, got.returncode, got.stderr.decode("utf-8", "replace").strip()))
                elif text != want:
                    at = next((i for i in range(min(len(text), len(want))) if text[i] != want[i]), min(len(text), len(want)))
                    failures.append("%s: differs at character %d\n  transformers: %r\n  wick:         %r" % (where, at, want[max(0, at - 40):at + 60], text[max(0, at - 40):at + 60]))

    print("%d templates x %d conversations: %d rendered identically checked, %d raised in both" % (len(cases), len(conversations), renders, raised))
    if failures:
        print("\n".join(failures))
        print("%d FAILURES" % len(failures))
        return 1
    print("all identical to transformers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
