#!/usr/bin/env python3
"""The Jinja interpreter against jinja2 itself, as transformers configures it.

Each snippet of tests/data/jinja_snippets.json ([name, template, optional variables]) exercises
one part of the language (whitespace control, scoping, loops, Python's str() of values,
arithmetic, tests, filters, tojson, string methods, slicing, errors). transformers'
apply_chat_template renders it (the variables passed as template kwargs); `wick chat-template`
must print the same bytes, or fail where it fails.

Usage: jinja_oracle_test.py WICK_BINARY SNIPPETS_JSON --testdata DIR   (exit 77: skipped)
"""
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main():
    wick, snippets_path, _, testdata = sys.argv[1:5]
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        print("*** SKIPPED: transformers is not installed (scripts/setup.sh makes .venv): %s ***" % e)
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    tok_dir = os.path.join(testdata, "tokenizers", "qwen2")
    if not os.path.isdir(tok_dir):
        print("*** SKIPPED: test data missing (%s) ***" % tok_dir)
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    tok = AutoTokenizer.from_pretrained(tok_dir)
    snippets = json.load(open(snippets_path, encoding="utf-8"))
    messages = [{"role": "user", "content": "x"}]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in snippets:
            name, source = entry[0], entry[1]
            variables = entry[2] if len(entry) > 2 else {}
            try:
                want = tok.apply_chat_template(messages, chat_template=source, tokenize=False, **json.loads(json.dumps(variables)))
                err = None
            except Exception as e:  # noqa: BLE001
                want, err = None, e
            tpath, cpath = os.path.join(tmp, "t.jinja"), os.path.join(tmp, "c.json")
            open(tpath, "w", encoding="utf-8").write(source)
            ctx = {"messages": messages}
            ctx.update(variables)
            json.dump(ctx, open(cpath, "w", encoding="utf-8"), ensure_ascii=False)
            got = subprocess.run([wick, "chat-template", "--template", tpath, "--context", cpath], capture_output=True)
            out = got.stdout.decode("utf-8", "replace")
            if err is not None:
                if got.returncode != 1:
                    failures.append("%s: jinja2 raised %s (%s) but wick printed %r (exit %d)" % (name, type(err).__name__, err, out, got.returncode))
                continue
            if got.returncode != 0:
                failures.append("%s: wick failed: %s" % (name, got.stderr.decode("utf-8", "replace").strip()))
            elif out != want:
                failures.append("%s:\n  jinja2: %r\n  wick:   %r" % (name, want, out))
    print("%d snippets checked against jinja2" % len(snippets))
    if failures:
        print("\n".join(failures))
        print("%d FAILURES" % len(failures))
        return 1
    print("all identical to jinja2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
