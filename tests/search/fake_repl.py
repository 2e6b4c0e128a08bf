#!/usr/bin/env python3
"""A stand-in for the Lean 4 REPL (leanprover-community/repl) over a toy, deterministic theorem
domain, speaking its protocol exactly: one JSON request per line then a blank line; replies
pretty-printed JSON then a blank line; command mode (env, messages, sorries), tactic mode
(proofState, goals, messages, sorries, proofStatus), thrown errors as {"message": "Lean error:..."}.

The domain: `theorem NAME : reach N := by sorry` has the goal "⊢ reach N". Tactics act on the
first goal:
  sub K     (K = 1..9)  reach n -> reach n-K          (error when K > n)
  half                  reach n -> two goals reach n/2 (n even, n > 0)
  rfl, trivial          closes reach 0
  decide                closes reach 1
  omega                 closes reach n for n <= 2
  skip                  leaves the goal as it is
  simp, norm_num        "simp made no progress"
  linarith              "linarith failed"
  sorry                 closes the goal with a sorry
Scripted faults:
  hang      never answers (the client must time out and kill it)
  crash     the process exits
  patched   an error logged and patched with sorry: goals [] with proofStatus "Incomplete: contains sorry"
  fake_done goals [] with proofStatus "Incomplete: open goals remain" and no error
  leak      allocates 1 GiB (under an address-space limit the process dies)
  unknown tactics: a thrown error.
A whole proof (`theorem NAME : reach N := by` then one tactic per line) is checked as a command:
no messages when it closes every goal, an "unsolved goals" error otherwise, a "declaration uses
'sorry'" warning when a sorry was used.

Environment: FAKE_REPL_NO_STATUS=1 omits proofStatus (older REPLs); FAKE_REPL_ANY_TEXT=1 makes
any other text a step too (reach n -> reach n - (len(text) % 3 + 1), an error below 0), so a
language model's free text grows a real search tree; FAKE_REPL_IMPORT_SECONDS
delays the header; FAKE_REPL_LOG=FILE appends every request (for tests counting restarts).
"""
import json
import os
import re
import sys
import time

STATUS = os.environ.get("FAKE_REPL_NO_STATUS") != "1"
ANY_TEXT = os.environ.get("FAKE_REPL_ANY_TEXT") == "1"
LOG = os.environ.get("FAKE_REPL_LOG")
states = {}  # proofState -> list of goal values
next_state = 0
next_env = 0


def goal(n):
    return "⊢ reach %d" % n


def new_state(goals):
    global next_state
    states[next_state] = goals
    next_state += 1
    return next_state - 1


def msg(severity, data, line=1, column=0):
    return {"severity": severity, "pos": {"line": line, "column": column}, "endPos": {"line": line, "column": column + 1}, "data": data}


def step(goals, tactic):
    """(new goals, used_sorry) or raises ValueError(message) for a failing tactic."""
    if not goals:
        raise ValueError("no goals to be proved")
    n, rest = goals[0], goals[1:]
    m = re.fullmatch(r"sub ([1-9])", tactic)
    if m:
        k = int(m.group(1))
        if k > n:
            raise ValueError("cannot subtract %d from %d" % (k, n))
        return [n - k] + rest, False
    if tactic == "half":
        if n == 0 or n % 2:
            raise ValueError("half: %d is not a positive even number" % n)
        return [n // 2, n // 2] + rest, False
    if tactic in ("rfl", "trivial"):
        if n != 0:
            raise ValueError("The rfl tactic failed on reach %d" % n)
        return rest, False
    if tactic == "decide":
        if n != 1:
            raise ValueError("decide failed to prove reach %d" % n)
        return rest, False
    if tactic == "omega":
        if n > 2:
            raise ValueError("omega could not prove the goal")
        return rest, False
    if tactic == "skip":
        return goals, False
    if tactic in ("simp", "norm_num", "simp_all"):
        raise ValueError("simp made no progress")
    if tactic == "linarith":
        raise ValueError("linarith failed")
    if tactic == "sorry":
        return rest, True
    if ANY_TEXT and tactic not in ("hang", "crash", "patched", "fake_done", "leak"):
        k = len(tactic) % 3 + 1
        if k > n:
            raise ValueError("cannot step %d from %d" % (k, n))
        return [n - k] + rest, False
    raise KeyError(tactic)


def reply(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=1) + "\n\n")
    sys.stdout.flush()


def command(req):
    global next_env
    cmd = req["cmd"]
    if "env" not in req:  # the header: imports
        time.sleep(float(os.environ.get("FAKE_REPL_IMPORT_SECONDS", "0")))
        if "import Nonexistent" in cmd:
            next_env += 1
            return {"messages": [msg("error", "unknown package 'Nonexistent'")], "env": next_env - 1}
        next_env += 1
        return {"env": next_env - 1}
    env = next_env
    next_env += 1
    m = re.search(r"(?:theorem|lemma)\s+\S+.*?:\s*reach\s+(\d+)\s*:=\s*by\b(.*)$", cmd, re.S)
    if not m:
        return {"messages": [msg("error", "unexpected token; expected term")], "env": env}
    n, body = int(m.group(1)), m.group(2)
    lines = [line.strip() for line in body.strip().split("\n") if line.strip()]
    if lines == ["sorry"]:
        s = new_state([n])
        return {"sorries": [{"proofState": s, "pos": {"line": 1, "column": len(cmd) - 5}, "endPos": {"line": 1, "column": len(cmd)},
                             "goal": goal(n)}],
                "messages": [msg("warning", "declaration uses 'sorry'", 1, 8)], "env": env}
    goals, used_sorry = [n], False
    for i, tac in enumerate(lines):
        if tac in ("hang", "crash", "patched", "fake_done"):
            return {"messages": [msg("error", "unknown tactic", 2 + i)], "env": env}
        try:
            goals, s = step(goals, tac)
            used_sorry = used_sorry or s
        except (ValueError, KeyError) as e:
            return {"messages": [msg("error", str(e), 2 + i)], "env": env}
    if goals:
        return {"messages": [msg("error", "unsolved goals\n" + "\n".join(goal(g) for g in goals), 1)], "env": env}
    if used_sorry:
        return {"messages": [msg("warning", "declaration uses 'sorry'", 1, 8)], "env": env}
    return {"env": env}


def tactic(req):
    ps, tac = req["proofState"], req["tactic"]
    if ps not in states:
        return {"message": "Lean error:\nunknown proof state %d" % ps}
    goals = states[ps]
    if tac == "hang":
        time.sleep(10 ** 6)
    if tac == "crash":
        sys.stdout.flush()
        os._exit(3)
    if tac == "leak":
        hog = bytearray(1 << 30)  # MemoryError under RLIMIT_AS: the process exits
        hog[-1] = 1
    if tac == "patched":
        out = {"proofState": new_state([]), "messages": [msg("error", "Unknown identifier `my_fake_premise`", 0)], "goals": []}
        if STATUS:
            out["proofStatus"] = "Incomplete: contains sorry"
        return out
    if tac == "fake_done":
        out = {"proofState": new_state([]), "goals": []}
        if STATUS:
            out["proofStatus"] = "Incomplete: open goals remain"
        return out
    try:
        new_goals, used_sorry = step(goals, tac)
    except KeyError:
        return {"message": "Lean error:\n<input>:1:0: unknown tactic"}
    except ValueError as e:
        return {"message": "Lean error:\n" + str(e)}
    out = {"proofState": new_state(new_goals), "goals": [goal(g) for g in new_goals]}
    if used_sorry:
        out["sorries"] = [{"proofState": new_state(goals[:1]), "goal": goal(goals[0])}]
    if STATUS:
        out["proofStatus"] = ("Incomplete: contains sorry" if used_sorry else
                              "Completed" if not new_goals else "Incomplete: open goals remain")
    return out


def main():
    buf = []
    for line in sys.stdin:
        if line.strip():
            buf.append(line)
            continue
        if not buf:
            continue
        text = "".join(buf)
        buf = []
        if LOG:
            with open(LOG, "a") as f:
                f.write("%d %s\n" % (os.getpid(), text.strip()))
        req = json.loads(text)
        reply(command(req) if "cmd" in req else tactic(req))


if __name__ == "__main__":
    main()
