#!/usr/bin/env python3
"""`wick serve` end to end over loopback, on the real TinyStories model, driven by OpenAI's own
Python client (`openai`, pinned in tools/requirements-test.txt) and by raw HTTP.

Checks: every endpoint; results equal the library's and the CLI's (`wick generate`, `wick score`,
`wick embed`, `wick candidates`, `wick chat-template`, `wick tokenize`) bit for bit; streaming and
non-streaming give the same tokens for a seed; n > 1 streams interleave and every choice gets a
finish_reason; OpenAI's error classes; a malformed-request corpus answered with 4xx only; the
Prometheus metrics. The slow-model tests (disconnect, keep-alive, queue, SIGTERM, model pool)
use a random-weight model big enough to be caught mid-request.

Usage: serve_test.py WICK WICK_MAKE_MODEL --testdata DIR   (exit 77: skipped)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, metric, metrics, post_json, request, run_json, sse_events  # noqa: E402

WICK = MAKE_MODEL = TESTDATA = None
TS_NAME = "tinystories-656k"


def ts_dir():
    return os.path.join(TESTDATA, "models", TS_NAME)


def template_file():
    return os.path.join(TESTDATA, "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")


def wick(*args):
    return run_json([WICK, *args])


class TinyStoriesServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import openai
        cls.openai = openai
        cls.server = Server(WICK, "-m", ts_dir(), "--chat-template", template_file())
        cls.client = openai.OpenAI(base_url=cls.server.url + "/v1", api_key="unused", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        assert rc == 0, "wick serve exited with %d on SIGTERM" % rc

    # ---- models, health -------------------------------------------------------------------
    def test_health_and_models(self):
        status, _, raw = request(self.server, "GET", "/health")
        self.assertEqual((status, json.loads(raw)), (200, {"status": "ok"}))
        models = self.client.models.list()
        self.assertEqual([m.id for m in models.data], [TS_NAME])
        self.assertEqual(models.data[0].object, "model")
        self.assertEqual(self.client.models.retrieve(TS_NAME).id, TS_NAME)

    # ---- completions ----------------------------------------------------------------------
    def test_completion_equals_wick_generate(self):
        for temperature, seed in ((0.0, 0), (1.0, 7)):
            r = self.client.completions.create(model=TS_NAME, prompt="Once upon a time", max_tokens=48,
                                               temperature=temperature, seed=seed)
            ref = wick("generate", "-m", ts_dir(), "-p", "Once upon a time", "-n", "48", "--temperature", str(temperature),
                       "--seed", str(seed), "--json")
            self.assertEqual(r.choices[0].text, ref["text"], "temperature %g seed %d" % (temperature, seed))
            self.assertEqual(r.choices[0].finish_reason, ref["finish_reason"])
            self.assertEqual(r.usage.prompt_tokens, len(ref["prompt_tokens"]))
            self.assertEqual(r.usage.completion_tokens, len(ref["tokens"]))
            self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
            self.assertTrue(r.id.startswith("cmpl-"))
            self.assertEqual(r.object, "text_completion")

    def test_stream_equals_nonstream_and_choices_interleave(self):
        body = {"model": TS_NAME, "prompt": "Lily and Ben", "max_tokens": 40, "temperature": 1.0, "seed": 11, "n": 3}
        status, full = post_json(self.server, "/v1/completions", body)
        self.assertEqual(status, 200)
        status, hdrs, raw = request(self.server, "POST", "/v1/completions",
                                    dict(body, stream=True, stream_options={"include_usage": True}))
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        events = [e for kind, e in sse_events(raw) if kind == "data"]
        self.assertEqual(events[-1], "[DONE]")
        usage = events[-2]
        self.assertEqual(usage["choices"], [])
        self.assertEqual(usage["usage"], full["usage"])
        texts, finishes, order = {}, {}, []
        for e in events[:-2]:
            for c in e["choices"]:
                texts[c["index"]] = texts.get(c["index"], "") + c["text"]
                order.append(c["index"])
                if c["finish_reason"]:
                    self.assertNotIn(c["index"], finishes, "one finish_reason per choice")
                    finishes[c["index"]] = c["finish_reason"]
        self.assertEqual(sorted(finishes), [0, 1, 2], "every choice gets a finish_reason")
        for c in full["choices"]:
            self.assertEqual(texts[c["index"]], c["text"], "stream and non-stream agree for the same seed")
            self.assertEqual(finishes[c["index"]], c["finish_reason"])
        self.assertNotEqual(order, sorted(order), "the choices' chunks interleave")
        # OpenAI's client reads the same stream.
        streamed = {}
        for chunk in self.client.completions.create(stream=True, **body):
            for c in chunk.choices:
                streamed[c.index] = streamed.get(c.index, "") + c.text
        self.assertEqual(streamed, texts)

    def test_prompt_lists_and_token_prompts(self):
        r = self.client.completions.create(model=TS_NAME, prompt=["Tom had", "The sun"], n=2, max_tokens=10, seed=3)
        self.assertEqual([c.index for c in r.choices], [0, 1, 2, 3])
        alone = self.client.completions.create(model=TS_NAME, prompt="The sun", n=2, max_tokens=10, seed=3)
        self.assertEqual(r.choices[2].text, alone.choices[0].text, "choice index = prompt index x n + i")
        self.assertEqual(r.choices[3].text, alone.choices[1].text)
        ids = wick("tokenize", "-m", ts_dir(), "--add-special", "--json", "The sun")["ids"]
        by_ids = self.client.completions.create(model=TS_NAME, prompt=ids, n=2, max_tokens=10, seed=3)
        self.assertEqual([c.text for c in by_ids.choices], [c.text for c in alone.choices])

    def test_logprobs_equal_wick_score(self):
        prompt, cont = "Once upon a time", " there was a little dog"
        score = wick("score", "-m", ts_dir(), "-p", prompt, "-c", cont, "--json")
        k = len(score["logprobs"])
        r = self.client.completions.create(model=TS_NAME, prompt=prompt + cont, max_tokens=0, echo=True, logprobs=0)
        lp = r.choices[0].logprobs
        self.assertIsNone(lp.token_logprobs[0], "the first prompt token has no log-prob")
        self.assertEqual(lp.token_logprobs[-k:], score["logprobs"], "echo log-probs == wick score, bit for bit")
        self.assertEqual(r.choices[0].text, prompt + cont)
        self.assertTrue("".join(lp.tokens).endswith(prompt + cont), "token strings concatenate to the text (after BOS)")
        status, s = post_json(self.server, "/v1/score", {"prompt": prompt, "continuation": cont})
        self.assertEqual(status, 200)
        self.assertEqual(s["logprobs"], score["logprobs"])
        self.assertEqual(s["logprob"], score["logprob"])
        self.assertEqual(s["tokens"], score["tokens"])
        # Generated tokens: their log-probs are the CLI's, and greedy tokens top their list.
        g = self.client.completions.create(model=TS_NAME, prompt=prompt, max_tokens=16, temperature=0, logprobs=2)
        ref = wick("generate", "-m", ts_dir(), "-p", prompt, "-n", "16", "--temperature", "0", "--json")
        glp = g.choices[0].logprobs
        self.assertEqual(glp.token_logprobs, ref["logprobs"])
        for tok, top, v in zip(glp.tokens, glp.top_logprobs, glp.token_logprobs):
            self.assertLessEqual(len(top), 3)
            self.assertEqual(max(top.values()), v, "greedy: the sampled token is the most likely")
        self.assertEqual(glp.text_offset[0], 0)

    # ---- chat -----------------------------------------------------------------------------
    def test_chat_equals_template_and_generate(self):
        messages = [{"role": "system", "content": "You tell short stories."}, {"role": "user", "content": "A story about a cat."}]
        status, applied = post_json(self.server, "/apply-template", {"messages": messages})
        self.assertEqual(status, 200)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"messages": messages, "add_generation_prompt": True, "bos_token": "<|start_story|>", "eos_token": "<|end_story|>"}, f)
        try:
            rendered = subprocess.run([WICK, "chat-template", "--template", template_file(), "--context", f.name],
                                      capture_output=True, text=True, check=True).stdout
        finally:
            os.unlink(f.name)
        self.assertEqual(applied["prompt"], rendered)
        r = self.client.chat.completions.create(model=TS_NAME, messages=messages, max_tokens=24, seed=5)
        ref = wick("generate", "-m", ts_dir(), "-p", rendered, "--no-bos", "-n", "24", "--seed", "5", "--json")
        self.assertEqual(r.choices[0].message.content, ref["text"])
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertEqual(r.usage.prompt_tokens, len(ref["prompt_tokens"]))
        self.assertEqual(r.object, "chat.completion")
        self.assertTrue(r.id.startswith("chatcmpl-"))

    def test_chat_streaming_helper_and_raw_stream(self):
        messages = [{"role": "user", "content": "Tell me about a red ball."}]
        # A stop string ends both choices with finish_reason "stop" (the helper refuses "length").
        full = self.client.chat.completions.create(model=TS_NAME, messages=messages, max_tokens=200, seed=9, n=2, stop=["."])
        self.assertEqual([c.finish_reason for c in full.choices], ["stop", "stop"])
        with self.client.chat.completions.stream(model=TS_NAME, messages=messages, max_tokens=200, seed=9, n=2, stop=["."]) as s:
            for _ in s:
                pass
            final = s.get_final_completion()
        self.assertEqual([c.message.content for c in final.choices], [c.message.content for c in full.choices])
        self.assertEqual([c.finish_reason for c in final.choices], [c.finish_reason for c in full.choices])
        status, _, raw = request(self.server, "POST", "/v1/chat/completions",
                                 {"messages": messages, "max_tokens": 20, "seed": 9, "n": 2, "stream": True})
        events = [e for kind, e in sse_events(raw) if kind == "data"]
        firsts = {}
        for e in events[:-1]:
            self.assertEqual(e["object"], "chat.completion.chunk")
            c = e["choices"][0]
            firsts.setdefault(c["index"], c["delta"])
        self.assertEqual(firsts, {0: {"role": "assistant", "content": ""}, 1: {"role": "assistant", "content": ""}})
        self.assertEqual(sum(1 for e in events[:-1] if e["choices"][0]["finish_reason"]), 2)

    def test_chat_logprobs(self):
        r = self.client.chat.completions.create(model=TS_NAME, messages=[{"role": "user", "content": "Hi"}], max_tokens=12,
                                                seed=1, logprobs=True, top_logprobs=3)
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        for e in content:
            self.assertEqual(len(e.top_logprobs), 3)
            self.assertEqual(bytes(e.bytes).decode("utf-8", "replace"), e.token)
            self.assertGreaterEqual(e.top_logprobs[0].logprob, e.logprob - 1e-6)
        self.assertTrue(r.choices[0].message.content.startswith("".join(e.token for e in content).split("<|")[0][:5]))

    # ---- embeddings, candidates, tokenize, execute ----------------------------------------
    def test_embeddings_equal_the_library(self):
        texts = ["Once upon a time", "The dog ran to the park.", "Lily had a red ball"]
        ref = wick("embed", "-m", ts_dir(), "--json", *texts)
        r = self.client.embeddings.create(model=TS_NAME, input=texts)  # base64 on the wire, as the client asks
        self.assertEqual([list(map(float, d.embedding)) for d in r.data], ref["embeddings"])
        self.assertEqual(r.usage.prompt_tokens, sum(ref["token_counts"]))
        status, last = post_json(self.server, "/v1/embeddings", {"input": texts, "pooling": "last", "normalize": True,
                                                                 "encoding_format": "float"})
        ref_last = wick("embed", "-m", ts_dir(), "--pooling", "last", "--normalize", "--json", *texts)
        self.assertEqual([d["embedding"] for d in last["data"]], ref_last["embeddings"])
        status, bad = post_json(self.server, "/v1/embeddings", {"input": "x", "dimensions": 3})
        self.assertEqual(status, 400)

    def test_candidates_equal_wick_candidates(self):
        status, r = post_json(self.server, "/v1/candidates", {"prompt": "Once upon a time", "n": 6, "max_tokens": 12, "seed": 4})
        self.assertEqual(status, 200)
        ref = wick("candidates", "-m", ts_dir(), "-p", "Once upon a time", "-k", "6", "-n", "12", "--seed", "4", "--json")
        strip = lambda cs: [(c["text"], c["tokens"], c["logprobs"], c["index"]) for c in cs]  # noqa: E731
        self.assertEqual(strip(r["candidates"]), strip(ref["candidates"]))
        self.assertEqual(r["duplicates_removed"], ref["duplicates_removed"])
        status, t = post_json(self.server, "/v1/candidates", {"state": "x", "template": "nope"})
        self.assertEqual(status, 400)

    def test_tokenize_and_detokenize(self):
        text = "Once upon a time, Lily saw a bird."
        status, t = post_json(self.server, "/tokenize", {"content": text, "add_special": True})
        self.assertEqual(t["tokens"], wick("tokenize", "-m", ts_dir(), "--add-special", "--json", text)["ids"])
        status, p = post_json(self.server, "/tokenize", {"content": text, "with_pieces": True})
        self.assertEqual("".join(x["piece"] for x in p["tokens"]), text)
        status, d = post_json(self.server, "/detokenize", {"tokens": [x["id"] for x in p["tokens"]]})
        self.assertEqual(d["content"], text)

    def test_execute_streams_tokens_then_end(self):
        status, _, raw = request(self.server, "POST", "/execute",
                                 {"job_id": "job-7", "prompt": "Once upon a time", "max_tokens": 20, "seed": 2, "temperature": 1.0})
        self.assertEqual(status, 200)
        events = [e for kind, e in sse_events(raw) if kind == "data"]
        tokens, end = events[:-1], events[-1]
        self.assertTrue(all(e["type"] == "token" for e in tokens))
        self.assertEqual(end["type"], "end")
        self.assertEqual(end["job_id"], "job-7")
        self.assertEqual(end["tokens_out"], len(tokens))
        ref = wick("generate", "-m", ts_dir(), "-p", "Once upon a time", "-n", "20", "--seed", "2", "--json")
        self.assertEqual("".join(e["t"] for e in tokens), ref["text"])
        self.assertEqual(end["tokens_out"], len(ref["tokens"]))
        self.assertEqual(end["finish_reason"], ref["finish_reason"])
        status, err = post_json(self.server, "/execute", {"prompt": "x"})
        self.assertEqual(status, 400, "no job_id: refused before the stream")

    # ---- errors ---------------------------------------------------------------------------
    def test_openai_error_classes(self):
        openai = self.openai
        with self.assertRaises(openai.NotFoundError) as e:
            self.client.completions.create(model="nope", prompt="x", max_tokens=1)
        self.assertIn("The model `nope` does not exist.", str(e.exception))
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.completions.create(model=TS_NAME, prompt="Once upon a time", max_tokens=600)
        self.assertIn("512", str(e.exception))
        self.assertIn("600", str(e.exception))
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model=TS_NAME, prompt="x", temperature=-1)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model=TS_NAME, messages=[], max_tokens=1)

    def test_malformed_requests_get_4xx_and_the_server_keeps_serving(self):
        # Malformed for every endpoint: not JSON, not an object, too deep, invalid UTF-8.
        everywhere = [b"", b"{", b"[]", b"null", b"42", b'"text"', b'{"prompt": "\xff\xfe"}', b'{"prompt": "x"' + b"]" * 10,
                      b'{"a":' * 200 + b"1" + b"}" * 200, b'{"prompt": ' + b"[" * 100000 + b"]" * 100000 + b"}",
                      b'{"prompt": 1e400}', b'{"model": 5}', b'{"model": "nope", "prompt": "x", "messages": [], "input": "x"}']
        # Wrong types, huge numbers and out-of-range values, per endpoint.
        specific = {
            "/v1/completions": [b'{"prompt": 5}', b'{"prompt": [[1, "a"]]}', b'{"prompt": "x", "max_tokens": "ten"}',
                                b'{"prompt": "x", "max_tokens": 1e400}', b'{"prompt": "x", "max_tokens": 99999999999999999999999}',
                                b'{"prompt": "x", "n": -1}', b'{"prompt": "x", "top_p": 0}', b'{"prompt": "x", "temperature": "hot"}',
                                b'{"prompt": "x", "stop": [1]}', b'{"prompt": "x", "stop": ""}', b'{"prompt": "x", "logprobs": 99}',
                                b'{"prompt": "x", "seed": 1.5}', b'{"prompt": [999999999]}', b'{"prompt": [-1]}',
                                b'{"prompt": "x", "logit_bias": {"1": 5}}', b'{"prompt": "x", "suffix": "y"}',
                                b'{"prompt": "x", "stream_options": {"include_usage": true}}', b'{"prompt": "x", "n": 100000}',
                                b'{"prompt": "x", "max_tokens": 9223372036854775807}', b'{"prompt": []}'],
            "/v1/chat/completions": [b'{"messages": "hi"}', b'{"messages": [{"content": "no role"}]}', b'{"messages": []}',
                                     b'{"messages": [{"role": "user", "content": 5}]}', b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
                                     b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
                                     b'{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3}',
                                     b'{"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}'],
            "/v1/embeddings": [b'{"input": []}', b'{"input": 5}', b'{"input": "x", "encoding_format": "hex"}', b'{"input": "x", "pooling": "max"}'],
            "/v1/candidates": [b'{}', b'{"prompt": "x", "state": "y"}', b'{"state": "x", "template": "nope"}', b'{"prompt": "x", "n": 0}'],
            "/v1/score": [b'{"prompt": "x"}', b'{"prompt": "x", "continuation": ""}', b'{"prompt": 1, "continuation": "y"}'],
            "/tokenize": [b'{}', b'{"content": 7}', b'{"content": "x", "add_special": "yes"}'],
            "/detokenize": [b'{"tokens": "abc"}', b'{"tokens": [1.5]}', b'{"tokens": [99999999]}', b'{}'],
            "/apply-template": [b'{}', b'{"messages": [1]}'],
            "/execute": [b'{"prompt": "x"}', b'{"job_id": [1], "prompt": "x"}', b'{"job_id": "j", "prompt": "x", "n": 2}'],
        }
        for path, own in specific.items():
            for raw in everywhere + own:
                status, hdrs, body = request(self.server, "POST", path, raw=raw)
                self.assertTrue(400 <= status < 500, "%s %r -> %d %s" % (path, raw[:60], status, body[:200]))
                err = json.loads(body)["error"]
                self.assertEqual(err["code"], status)
                self.assertTrue(err["message"])
        big = b'{"prompt": "' + b"a" * (17 << 20) + b'"}'
        status, _, body = request(self.server, "POST", "/v1/completions", raw=big)
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["error"]["code"], 413)
        self.assertEqual(request(self.server, "GET", "/health")[0], 200)
        self.assertEqual(self.client.completions.create(model=TS_NAME, prompt="Once", max_tokens=2).usage.completion_tokens, 2)

    # ---- metrics --------------------------------------------------------------------------
    def test_metrics(self):
        header = " ".join(["The little cat sat on the mat and looked at the moon."] * 12)
        for tail in (" Then it slept.", " Then a dog barked."):
            self.client.completions.create(model=TS_NAME, prompt=header + tail, max_tokens=4)
        m = metrics(self.server)
        for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                     "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:prefix_cache_queries_total",
                     "vllm:prefix_cache_hits_total"):
            self.assertIsNotNone(metric(m, name, model_name=TS_NAME), name)
        self.assertEqual(metric(m, "vllm:cache_config_info", block_size="16", num_gpu_blocks="256"), 1)
        self.assertGreater(metric(m, "vllm:prompt_tokens_total"), 0)
        self.assertGreater(metric(m, "vllm:generation_tokens_total"), 0)
        self.assertGreaterEqual(metric(m, "vllm:prefix_cache_hits_total"), 64, "the second request reused the shared header")
        self.assertGreater(metric(m, "vllm:request_success_total", finished_reason="length"), 0)
        for h in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds"):
            self.assertGreater(metric(m, h + "_count", model_name=TS_NAME), 0, h)
            self.assertEqual(metric(m, h + "_bucket", le="+Inf", model_name=TS_NAME), metric(m, h + "_count", model_name=TS_NAME))
        self.assertEqual(metric(m, "vllm:kv_cache_usage_perc"), 0.0, "nothing running holds blocks")


class SlowModelServer(unittest.TestCase):
    """A random-weight model large enough (~67M parameters) to be caught mid-request."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wick-serve-test-")
        cls.slow = os.path.join(cls.tmp, "slow")
        subprocess.run([MAKE_MODEL, "--preset", "tiny", "--testdata", TESTDATA, "-o", cls.slow, "--dtype", "bf16",
                        "--set", "hidden_size=1024", "--set", "intermediate_size=2816", "--set", "num_hidden_layers=6",
                        "--set", "num_attention_heads=16", "--set", "num_key_value_heads=4",
                        "--set", "max_position_embeddings=4096"], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def words(self, n):
        base = "the cat sat on a mat and then it ran to the big red ball in the park with her friend".split()
        return " ".join(base[i % len(base)] + ("" if i % 7 else "s") for i in range(n))

    def test_disconnect_cancels_the_request_and_frees_its_blocks(self):
        s = Server(WICK, "-m", self.slow)
        try:
            sock = socket.create_connection(("127.0.0.1", s.port))
            body = json.dumps({"prompt": "Once upon a time", "max_tokens": 1000, "ignore_eos": True, "stream": True}).encode()
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            got = b""
            while got.count(b"data: ") < 3:
                got += sock.recv(65536)
            self.assertGreater(metric(metrics(s), "vllm:kv_cache_usage_perc"), 0)
            sock.close()
            deadline = time.time() + 20
            while time.time() < deadline:
                m = metrics(s)
                if metric(m, "vllm:request_success_total", finished_reason="abort"):
                    break
                time.sleep(0.05)
            m = metrics(s)
            self.assertEqual(metric(m, "vllm:request_success_total", finished_reason="abort"), 1, "the request was cancelled")
            self.assertEqual(metric(m, "vllm:num_requests_running"), 0)
            self.assertEqual(metric(m, "vllm:kv_cache_usage_perc"), 0.0, "its KV blocks are free")
            self.assertLess(metric(m, "vllm:generation_tokens_total"), 900, "it stopped long before max_tokens")
        finally:
            self.assertEqual(s.stop(), 0)

    def test_keep_alive_comments_during_a_long_prefill(self):
        s = Server(WICK, "-m", self.slow, "--ctx", "4096", "--kv-tokens", "4096")
        try:
            status, _, raw = request(s, "POST", "/v1/completions", {"prompt": self.words(2600), "max_tokens": 2, "stream": True})
            self.assertEqual(status, 200)
            events = sse_events(raw)
            first_data = next(i for i, (kind, _) in enumerate(events) if kind == "data")
            self.assertGreater(first_data, 0, "': keep-alive' comments come before the first token of a long prefill")
            self.assertEqual(events[0], ("comment", "keep-alive"))
            self.assertEqual(events[-1], ("data", "[DONE]"))
        finally:
            self.assertEqual(s.stop(), 0)

    def test_full_queue_is_429_with_retry_after(self):
        s = Server(WICK, "-m", self.slow, "--max-seqs", "1", "--max-queue", "1")
        try:
            results = {}

            def long_request(key):
                results[key] = request(s, "POST", "/v1/completions", {"prompt": "Once", "max_tokens": 300, "ignore_eos": True})

            a = threading.Thread(target=long_request, args=("a",))
            a.start()
            deadline = time.time() + 20
            while metric(metrics(s), "vllm:num_requests_running") != 1 and time.time() < deadline:
                time.sleep(0.02)
            b = threading.Thread(target=long_request, args=("b",))
            b.start()
            while metric(metrics(s), "vllm:num_requests_waiting") != 1 and time.time() < deadline:
                time.sleep(0.02)
            status, hdrs, body = request(s, "POST", "/v1/completions", {"prompt": "Once", "max_tokens": 5})
            self.assertEqual(status, 429, body)
            self.assertEqual(hdrs.get("retry-after"), "1")
            self.assertEqual(json.loads(body)["error"]["code"], 429)
            a.join()
            b.join()
            self.assertEqual(results["a"][0], 200)
            self.assertEqual(results["b"][0], 200)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_sigterm_finishes_in_flight_requests_then_exits_0(self):
        s = Server(WICK, "-m", self.slow)
        result = {}

        def streaming():
            result["r"] = request(s, "POST", "/v1/completions", {"prompt": "Once", "max_tokens": 120, "ignore_eos": True, "stream": True})

        t = threading.Thread(target=streaming)
        t.start()
        deadline = time.time() + 20
        while metric(metrics(s), "vllm:num_requests_running") != 1 and time.time() < deadline:
            time.sleep(0.02)
        rc = s.stop()
        t.join()
        self.assertEqual(rc, 0)
        status, _, raw = result["r"]
        events = [e for kind, e in sse_events(raw) if kind == "data"]
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(events[-2]["choices"][0]["finish_reason"], "length", "the in-flight stream was finished, not cut")
        self.assertTrue(any("SIGTERM" in line for line in s.log))

    def test_503_while_loading_then_ready(self):
        s = Server(WICK, "-m", self.slow, "--dtype", "q4_k", wait=False)
        try:
            status, _, body = request(s, "GET", "/health")
            seen_loading = status == 503
            if seen_loading:
                self.assertEqual(json.loads(body), {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})
                status, _, body = request(s, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 1})
                self.assertEqual(status, 503)
            deadline = time.time() + 120
            while request(s, "GET", "/health")[0] != 200 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(request(s, "GET", "/health")[0], 200)
            self.assertTrue(seen_loading, "quantizing 67M parameters at load took long enough to be seen loading")
        finally:
            self.assertEqual(s.stop(), 0)

    def test_model_pool_loads_on_first_use_and_unloads_lru(self):
        s = Server(WICK, "--model", "ts=" + ts_dir(), "--model", "slow=" + self.slow, "--max-loaded", "1")
        try:
            status, _, raw = request(s, "GET", "/v1/models")
            listed = {m["id"]: m["loaded"] for m in json.loads(raw)["data"]}
            self.assertEqual(listed, {"ts": True, "slow": False})
            status, r = post_json(s, "/v1/completions", {"model": "slow", "prompt": "Once", "max_tokens": 3})
            self.assertEqual((status, r["model"]), (200, "slow"))
            listed = {m["id"]: m["loaded"] for m in json.loads(request(s, "GET", "/v1/models")[2])["data"]}
            self.assertEqual(listed, {"ts": False, "slow": True}, "at most one loaded: ts was unloaded")
            status, r = post_json(s, "/v1/completions", {"prompt": "Once", "max_tokens": 3})
            self.assertEqual((status, r["model"]), (200, "ts"), "no model: the default")
            status, r = post_json(s, "/v1/completions", {"model": "other", "prompt": "Once", "max_tokens": 3})
            self.assertEqual(status, 404)
            self.assertTrue(any("unloading ts" in line for line in s.log))
        finally:
            self.assertEqual(s.stop(), 0)

    def test_api_key(self):
        import openai
        s = Server(WICK, "-m", ts_dir(), "--api-key", "sekret")
        try:
            bad = openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0)
            with self.assertRaises(openai.AuthenticationError):
                bad.models.list()
            self.assertEqual(request(s, "POST", "/v1/completions", {"prompt": "x"})[0], 401)
            self.assertEqual(request(s, "GET", "/health")[0], 200, "/health needs no key")
            good = openai.OpenAI(base_url=s.url + "/v1", api_key="sekret", max_retries=0)
            self.assertEqual(good.completions.create(model=TS_NAME, prompt="Once", max_tokens=2).usage.completion_tokens, 2)
        finally:
            self.assertEqual(s.stop(), 0)


def main():
    global WICK, MAKE_MODEL, TESTDATA
    args = sys.argv[1:]
    TESTDATA = args[args.index("--testdata") + 1]
    WICK, MAKE_MODEL = args[0], args[1]
    try:
        import openai  # noqa: F401
    except ImportError as e:
        print("*** SKIPPED: the openai package is missing (scripts/setup.sh makes .venv): %s ***" % e)
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    if not os.path.isdir(ts_dir()):
        print("*** SKIPPED: TEST DATA MISSING (%s) ***" % ts_dir())
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    suite = unittest.TestLoader().loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
