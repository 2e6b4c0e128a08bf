#!/usr/bin/env python3
"""`wick prove` and `wick energy` end to end, with the stand-in REPL (tests/search/fake_repl.py)
and the real TinyStories model as the policy: probe tactics alone, the model's own text as
tactics (FAKE_REPL_ANY_TEXT makes free text a step), determinism for a seed across --jobs, the
remote policy (`wick serve`) giving the same search as the local model, shards, the TOML
settings and flags, faults, trajectories, and the energy head's CLI against the PyTorch
reference.

Usage: prove_test.py WICK WICK_MAKE_HEAD --testdata DIR   (exit 77: skipped)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
from serve_util import Server  # noqa: E402

WICK = MAKE_HEAD = TESTDATA = None
THEOREMS = os.path.join(HERE, "data", "toy_theorems.jsonl")
FAKE = "python3 " + os.path.join(HERE, "fake_repl.py")


def ts():
    return os.path.join(TESTDATA, "models", "tinystories-656k")


def prove(*args, repl=FAKE, env_any_text=False, check=True):
    tmp = tempfile.mkdtemp(prefix="wick-prove-")
    out, traj = os.path.join(tmp, "results.jsonl"), os.path.join(tmp, "traj.jsonl")
    cmd = [WICK, "prove", "--theorems", THEOREMS, "--repl", ("FAKE_REPL_ANY_TEXT=1 " if env_any_text else "") + repl,
           "--out", out, "--trajectories", traj, "--json", "--threads", "2", *args]
    if "--policy-url" not in args:
        cmd += ["-m", ts()]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("wick prove failed (%d): %s" % (p.returncode, p.stderr))
    results = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
    trajectory = [json.loads(line) for line in open(traj)] if os.path.exists(traj) else []
    summary = json.loads(p.stdout) if p.stdout.strip() else None
    return {"rc": p.returncode, "stderr": p.stderr, "summary": summary, "results": results, "trajectory": trajectory}


def timeless(results):
    return sorted(({k: v for k, v in r.items() if not k.endswith("seconds")} for r in results), key=lambda r: r["name"])


class Prove(unittest.TestCase):
    def test_probe_tactics_alone(self):
        r = prove("--probe-tactics", "omega,rfl,decide,simp", "--max-nodes", "1")
        by = {x["name"]: x for x in r["results"]}
        self.assertEqual(sorted(by), ["reach_1", "reach_2", "reach_4", "reach_7", "reach_9"])
        self.assertTrue(by["reach_2"]["proved"] and by["reach_1"]["proved"])
        self.assertEqual(by["reach_2"]["proof"], "theorem reach_2 : reach 2 := by\n  omega")
        for name in ("reach_4", "reach_7", "reach_9"):
            self.assertFalse(by[name]["proved"])
            self.assertEqual(by[name]["stopped_by"], "nodes")
            self.assertEqual(by[name]["nodes_expanded"], 0, "the model was never asked")
        self.assertEqual(r["summary"]["proved"], 2)

    def test_tinystories_policy_runs_to_its_limits(self):
        r = prove("--max-nodes", "12", "--num-candidates", "4", "--max-tokens", "8", "--seed", "3")
        by = {x["name"]: x for x in r["results"]}
        for name in ("reach_4", "reach_7", "reach_9"):
            self.assertFalse(by[name]["proved"], "English is not a tactic")
            self.assertEqual(by[name]["stopped_by"], "exhausted")
            self.assertGreater(by[name]["tactics_tried"], 0)
        self.assertGreater(r["summary"]["policy_seconds"], 0)

    def test_deterministic_for_a_seed_whatever_the_jobs(self):
        args = ("--max-nodes", "30", "--num-candidates", "4", "--max-tokens", "6", "--probe-tactics", "omega", "--seed", "1")
        a = prove(*args, env_any_text=True)
        b = prove(*args, "--jobs", "3", "--lean-workers", "3", env_any_text=True)
        c = prove(*args[:-1], "2", env_any_text=True)
        self.assertEqual(timeless(a["results"]), timeless(b["results"]), "--jobs 3 batches candidates across theorems: same search")
        self.assertEqual(sorted(map(json.dumps, a["trajectory"])), sorted(map(json.dumps, b["trajectory"])))
        self.assertNotEqual(timeless(a["results"]), timeless(c["results"]), "another seed, another search")
        self.assertGreater(sum(x["nodes_expanded"] for x in a["results"]), 3, "the model's text drove the search")
        # Trajectories: exactly the proof path is labelled positive.
        for res in a["results"]:
            states = [t for t in a["trajectory"] if t["theorem"] == res["name"]]
            positives = [t for t in states if t["label"] == 1]
            self.assertEqual(len(positives), len(res["tactics"]) if res["proved"] else 0, res["name"])
            self.assertTrue(all(t["label"] in (None, 1) for t in states))

    def test_remote_policy_gives_the_same_search(self):
        server = Server(WICK, "-m", ts())
        try:
            args = ("--max-nodes", "20", "--num-candidates", "4", "--max-tokens", "6", "--probe-tactics", "omega", "--seed", "5",
                    "--template", "plain")
            local = prove(*args, env_any_text=True)
            remote = prove(*args, "--policy-url", server.url, env_any_text=True)
            self.assertEqual(timeless(local["results"]), timeless(remote["results"]))
            self.assertEqual(sorted(map(json.dumps, local["trajectory"])), sorted(map(json.dumps, remote["trajectory"])))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_chat_template_prompts_and_repl_cwd(self):
        chat = os.path.join(TESTDATA, "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
        args = ("--max-nodes", "10", "--num-candidates", "2", "--max-tokens", "6", "--probe-tactics", "omega", "--seed", "2")
        plain = prove(*args, env_any_text=True)
        chatted = prove(*args, "--chat-template", chat, "--repl-cwd", HERE, repl="python3 fake_repl.py", env_any_text=True)
        self.assertEqual(len(chatted["results"]), 5)
        self.assertNotEqual(timeless(plain["results"]), timeless(chatted["results"]), "another prompt, other tactics")
        self.assertGreater(chatted["summary"]["expansions"], 0)
        bad = prove(*args, "--chat-template", "model", check=False)
        self.assertEqual(bad["rc"], 2)
        self.assertIn("no chat template", bad["stderr"])

    def test_shards_concatenate_to_the_whole_run(self):
        args = ("--max-nodes", "12", "--num-candidates", "2", "--max-tokens", "6", "--probe-tactics", "omega", "--seed", "9")
        whole = prove(*args, env_any_text=True)
        parts = prove(*args, "--shard", "0/2", env_any_text=True)["results"] + prove(*args, "--shard", "1/2", env_any_text=True)["results"]
        self.assertEqual(timeless(parts), timeless(whole["results"]))
        self.assertEqual(prove("--shard", "2/2", check=False)["rc"], 2)

    def test_settings_file_and_flags(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write("[search]\nmax_nodes = 2\nnum_candidates = 2\nprobe_tactics = []\nmax_tokens = 4\n")
        try:
            r = prove("--config", f.name)
            self.assertTrue(all(x["nodes"] <= 2 for x in r["results"]))
            self.assertFalse(any(x["proved"] for x in r["results"]), "no probe tactics, English tactics")
            r = prove("--config", f.name, "--max-nodes", "1", "--probe-tactics", "omega")
            self.assertEqual(sorted(x["name"] for x in r["results"] if x["proved"]), ["reach_1", "reach_2"], "flags override the file")
            with open(f.name, "w") as g:
                g.write("[search]\nmax_nodez = 2\n")
            bad = prove("--config", f.name, check=False)
            self.assertEqual(bad["rc"], 2)
            self.assertIn("unknown key 'max_nodez'", bad["stderr"])
        finally:
            os.unlink(f.name)

    def test_faults_cost_one_tactic_each(self):
        r = prove("--probe-tactics", "hang,crash,omega", "--max-nodes", "1", "--tactic-timeout", "1", "--lean-workers", "3")
        by = {x["name"]: x for x in r["results"]}
        self.assertTrue(by["reach_2"]["proved"], "omega still ran beside the hung and the crashed REPL")
        self.assertGreaterEqual(r["summary"]["repl"]["timeouts"], 1)
        self.assertGreaterEqual(r["summary"]["repl"]["crashes"], 1)
        with tempfile.NamedTemporaryFile("w", suffix=".lean", delete=False) as f:
            f.write("import Mathlib\n\ntheorem bad : nonsense := by sorry\n\ntheorem good : reach 1 := by sorry\n")
        try:
            cmd = [WICK, "prove", "-m", ts(), "--theorems", f.name, "--repl", FAKE, "--json", "--probe-tactics", "omega", "--max-nodes", "1"]
            p = subprocess.run(cmd + ["--out", f.name + ".jsonl"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            res = {json.loads(x)["name"]: json.loads(x) for x in open(f.name + ".jsonl")}
            self.assertEqual(res["bad"]["stopped_by"], "error")
            self.assertIn("does not compile", res["bad"]["error"])
            self.assertTrue(res["good"]["proved"])
        finally:
            os.unlink(f.name)
            if os.path.exists(f.name + ".jsonl"):
                os.unlink(f.name + ".jsonl")

    def test_energy_cli_matches_the_pytorch_reference(self):
        tmp = tempfile.mkdtemp(prefix="wick-head-")
        subprocess.run([MAKE_HEAD, "-o", tmp, "--input-dim", "128", "--hidden", "32,8", "--activation", "gelu", "--layer-norm",
                        "--embedding-dtype", "float32", "--seed", "4"], check=True)
        states = ["⊢ reach 7", "x : ℕ\n⊢ x + 0 = x", "Once upon a time"]
        out = subprocess.run([WICK, "energy", "-m", ts(), "--head", tmp, "--json", *states], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = json.loads(out.stdout)
        self.assertEqual(got["warning"], "")
        emb = json.loads(subprocess.run([WICK, "embed", "-m", ts(), "--json", *states], capture_output=True, text=True, check=True).stdout)
        with open(os.path.join(tmp, "emb.json"), "w") as f:
            json.dump(emb["embeddings"], f)
        ref = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "reference", "energy_head_reference.py"), tmp,
                              os.path.join(tmp, "emb.json")], capture_output=True, text=True)
        if ref.returncode != 0:
            if os.environ.get("WICK_MISSING_STATUS") == "1":
                self.fail("the PyTorch reference did not run (CI: python3-torch must be installed): " + ref.stderr[-300:])
            self.skipTest("the PyTorch reference did not run: " + ref.stderr[-300:])
        for a, b in zip(got["energies"], json.loads(ref.stdout)):
            self.assertAlmostEqual(a, b, delta=2e-5 * max(1.0, abs(b)))


def main():
    global WICK, MAKE_HEAD, TESTDATA
    args = sys.argv[1:]
    TESTDATA = args[args.index("--testdata") + 1]
    WICK, MAKE_HEAD = args[0], args[1]
    if not os.path.isdir(ts()):
        print("*** SKIPPED: TEST DATA MISSING (%s) ***" % ts())
        return int(os.environ.get("WICK_MISSING_STATUS", "77"))
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestLoader().loadTestsFromModule(sys.modules[__name__]))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
