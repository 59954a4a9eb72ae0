#!/usr/bin/env python3
"""Verify a Vigil case file offline.

Written from docs/case-file.md (section 3) and docs/audit-format.md alone, with hashlib and
PyNaCl (pip install pynacl); the signed-note and Merkle functions come from
verify_audit_export.py beside it. It shares no code with Vigil.

  verify_case_file.py FILE --public-key FILE

FILE is the JSON form. Given the HTML page, it verifies the file the page embeds; whether the
page's tables are the rendering of that file is checked by `vigil case verify` only.
Exit status: 0 and "ok: case <id>, N entries, checkpoint size S" on stdout; 1 and
"reason: detail" on stderr at the first failure; 2 for usage errors and unreadable files.
"""
import argparse
import binascii
import json
import os
import sys

import nacl.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_audit_export import b64, leaf_hash, load_keys, open_note, parse_checkpoint, root_from_inclusion  # noqa: E402

FORMAT = "vigil-case-file/1"
SCRIPT_OPEN = b'<script type="application/json" id="vigil-case-file">'


class Failure(Exception):
    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason, self.detail = reason, detail

    def __str__(self):
        return "%s: %s" % (self.reason, self.detail)


def canonical(obj):
    """RFC 8785 for this subset: the same bytes as Vigil's canonical JSON (audit-format.md section 1)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def strict_loads(text):
    def no_duplicates(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise ValueError("duplicate member " + k)
            out[k] = v
        return out

    def refuse(x):
        raise ValueError("not an integer: " + x)

    obj = json.loads(text, object_pairs_hook=no_duplicates, parse_float=refuse, parse_constant=refuse)

    def walk(v):
        if isinstance(v, bool) or v is None or isinstance(v, float):
            raise ValueError("booleans, null and floats are not allowed")
        for x in v.values() if isinstance(v, dict) else v if isinstance(v, list) else []:
            walk(x)
    walk(obj)
    return obj


def check_members(obj, required, optional, where):
    if not isinstance(obj, dict):
        raise Failure("malformed", where + " is not an object")
    keys = set(obj)
    if not set(required) <= keys or not keys <= set(required) | set(optional):
        raise Failure("malformed", "%s: members %s, expected %s (and optionally %s)" % (where, sorted(keys), required, optional))


def sla(case, generated_at):
    closed = case.get("closed_at")
    if "first_response_at" in case:
        first = "met" if case["first_response_at"] <= case["first_response_due"] else "breached"
    elif closed:
        first = "none" if closed <= case["first_response_due"] else "breached"
    else:
        first = "breached" if generated_at > case["first_response_due"] else "pending"
    if closed:
        resolution = "met" if closed <= case["resolution_due"] else "breached"
    else:
        resolution = "breached" if generated_at > case["resolution_due"] else "pending"
    return {"first_response": first, "resolution": resolution}


def verify(data, keys):
    if not data.startswith(b"{"):
        start = data.find(SCRIPT_OPEN)
        end = data.find(b"</script>", start + len(SCRIPT_OPEN)) if start >= 0 else -1
        if end < 0:
            raise Failure("malformed", "neither a JSON case file nor an HTML page that embeds one")
        data = canonical(strict_loads(data[start + len(SCRIPT_OPEN):end].decode("utf-8"))) + b"\n"
    # 1. Form.
    if not data.endswith(b"\n"):
        raise Failure("not_canonical", "the file must end in exactly one newline")
    body = data[:-1]
    try:
        f = strict_loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure("malformed", "not canonical JSON: %s" % e)
    if canonical(f) != body:
        raise Failure("not_canonical", "the JSON is not in RFC 8785 canonical form")
    if not isinstance(f, dict) or f.get("format") != FORMAT:
        raise Failure("malformed", "format is not " + FORMAT)
    check_members(f, ["format", "generated_at", "case", "sla", "timeline", "verifications", "actions", "checkpoint",
                      "entries", "signatures"], [], "file")
    # 2. The file's signature.
    message = canonical({k: v for k, v in f.items() if k != "signatures"})
    good, seen = [], []
    for s in f["signatures"]:
        check_members(s, ["key_name", "key_id", "signature"], [], "signature")
        sig = b64(s["signature"])
        seen.append(s["key_id"])
        for k in keys:
            if k["name"] == s["key_name"] and k["hash"].hex() == s["key_id"]:
                try:
                    k["key"].verify(message, sig)
                except nacl.exceptions.BadSignatureError:
                    raise Failure("bad_signature", "the file's signature by %s (%s) does not verify" % (s["key_name"], s["key_id"]))
                good.append(s["key_id"])
    if not good:
        raise Failure("unknown_key", "the file is signed by no trusted key (key ids %s)" % ",".join(seen))
    # 3. The checkpoint and every entry.
    text, _, bad = open_note(f["checkpoint"], keys)
    if bad:
        raise Failure(bad[0], "the checkpoint's " + bad[1])
    _, size, root = parse_checkpoint(text)
    if not f["entries"]:
        raise Failure("inconsistent", "the file holds no entry")
    entries, last = [], -1
    for e in f["entries"]:
        check_members(e, ["seq", "entry", "inclusion_path"], [], "entry")
        if e["seq"] <= last:
            raise Failure("inconsistent", "entry seq %d is out of order (after seq %d)" % (e["seq"], last))
        last = e["seq"]
        raw = e["entry"].encode("utf-8")
        try:
            entry = strict_loads(raw.decode("utf-8"))
            if canonical(entry) != raw:
                raise ValueError("not canonical")
        except ValueError as err:
            raise Failure("altered_entry", "entry seq %d is not a canonical audit entry: %s" % (e["seq"], err))
        if entry.get("seq") != e["seq"]:
            raise Failure("inconsistent", "entry listed as seq %d carries seq %s" % (e["seq"], entry.get("seq")))
        path = [bytes.fromhex(h) for h in e["inclusion_path"]]
        if root_from_inclusion(e["seq"], size, leaf_hash(raw), path) != root:
            raise Failure("altered_entry", "entry seq %d and its inclusion path do not lead to the root of checkpoint size %d" % (e["seq"], size))
        entries.append(entry)
    case, gen = f["case"], f["generated_at"]
    check_members(case, ["id", "channel", "category", "priority", "status", "triage_rules", "opened_at", "first_response_due",
                         "resolution_due"],
                  ["assignee", "first_response_at", "closed_at", "resolution", "csat_score", "target_hash"], "case")
    # 4. Every entry is about this case.
    for e in entries:
        d = e["details"]
        target = e.get("target", {}).get("id_hash") if e.get("target", {}).get("type") == "case" else None
        if "case_id" in d:
            if d["case_id"] != case["id"]:
                raise Failure("foreign_entry", "entry seq %d is about case %s, not %s" % (e["seq"], d["case_id"], case["id"]))
            if target is not None and target != case.get("target_hash"):
                raise Failure("foreign_entry", "entry seq %d names this case but targets another" % e["seq"])
        elif target is None:
            raise Failure("foreign_entry", "entry seq %d names no case" % e["seq"])
        elif target != case.get("target_hash"):
            raise Failure("foreign_entry", "entry seq %d targets another case" % e["seq"])
        if e["time"] > gen:
            raise Failure("inconsistent", "entry seq %d is later than the file's generated_at" % e["seq"])
    # 5. Timeline, 6. SLA.
    timeline = [{"seq": e["seq"], "time": e["time"], "action": e["action"], "actor": e["actor"], "outcome": e["outcome"],
                 "details": e["details"]} for e in entries]
    for i in range(max(len(timeline), len(f["timeline"]))):
        if i >= len(f["timeline"]) or i >= len(timeline) or canonical(f["timeline"][i]) != canonical(timeline[i]):
            raise Failure("inconsistent", "timeline item %d does not match its entry" % i)
    if f["sla"] != sla(case, gen):
        raise Failure("inconsistent", "the SLA outcome is not the one the case's times give")
    # 7. The case.
    def fail(detail):
        return Failure("inconsistent", detail)

    def last(action, outcome="success"):
        found = [e for e in entries if e["action"] == action and e["outcome"] == outcome]
        return found[-1] if found else None

    opened = [e for e in entries if e["action"] == "case.opened"]
    if len(opened) != 1 or opened[0] is not entries[0]:
        raise fail("the case.opened entry must be the first entry, and the only one")
    o = opened[0]
    if case["opened_at"] != o["time"] or case["channel"] != o["details"].get("channel") or case["category"] != o["details"].get("category"):
        raise fail("opened_at, channel or category differ from the case.opened entry")
    if "triage_rules" in o["details"] and o["details"]["triage_rules"] != ",".join(case["triage_rules"]):
        raise fail("triage_rules differ from the case.opened entry")
    priority = o["details"].get("priority")
    for e in entries:
        if e["action"] == "case.retriaged" and e["outcome"] == "success":
            priority = e["details"].get("to")
    if case["priority"] != priority:
        raise fail("priority is not the one the case.opened and case.retriaged entries give")
    closed = last("case.closed")
    if case["status"] == "closed":
        if not closed or case.get("closed_at") != closed["time"] or case.get("resolution") != closed["details"].get("resolution"):
            raise fail("closed_at or resolution differ from the case.closed entry")
    elif case["status"] not in ("open", "in_progress") or closed or "closed_at" in case or "resolution" in case:
        raise fail("an open case has no close time, resolution or case.closed entry")
    replies = [e for e in entries if e["action"] == "case.note_added" and e["details"].get("kind") == "reply"]
    if case.get("first_response_at") != (replies[0]["time"] if replies else None):
        raise fail("first_response_at is not the time of the first reply")
    feedback = last("case.feedback")
    if case.get("csat_score") != (feedback["details"].get("score") if feedback else None):
        raise fail("csat_score differs from the case.feedback entry")
    assigned = last("case.assigned")
    if case.get("assignee") != (assigned["details"].get("assignee") if assigned else None):
        raise fail("assignee is not the one the last case.assigned entry names")
    # 8. Verifications.
    listed = set()
    for v in f["verifications"]:
        check_members(v, ["id", "check", "status", "agent", "attempts", "started_at"], ["completed_at"], "verification")
        if v["id"] in listed:
            raise fail("verification %s is listed twice" % v["id"])
        listed.add(v["id"])
        es = [e for e in entries if e["details"].get("verification_id") == v["id"]]
        if not es:
            raise fail("verification %s is backed by no entry" % v["id"])
        if any("check" in e["details"] and e["details"]["check"] != v["check"] for e in es) or v["started_at"] != es[0]["time"]:
            raise fail("verification %s: check or started_at differ from its entries" % v["id"])
        passed = [e for e in es if e["action"] == "case.verification_passed"]
        failed = [e for e in es if e["action"] == "case.verification_failed"]
        ok = {"passed": passed and v.get("completed_at") == passed[-1]["time"],
              "failed": not passed and failed and v.get("completed_at") == failed[-1]["time"],
              "pending": not passed and "completed_at" not in v}.get(v["status"])
        if not ok:
            raise fail("verification %s is %s but its entries say otherwise" % (v["id"], v["status"]))
    for e in entries:
        named = e["details"].get("verification_id")
        if e["action"].startswith("case.verification_") and named is not None and named not in listed:
            raise fail("entry seq %d names a verification the file does not list" % e["seq"])
    # 9. Actions.
    listed = set()
    for a in f["actions"]:
        check_members(a, ["id", "action", "status", "requested_by", "requested_at", "checks"],
                      ["decided_by", "decided_at", "executed_at", "hold_until"], "action")
        if a["id"] in listed:
            raise fail("action %s is listed twice" % a["id"])
        listed.add(a["id"])
        es = [e for e in entries if e["details"].get("action_id") == a["id"]]
        if not es or any(e["action"].startswith("case.action_") and e["details"].get("action") != a["action"] for e in es):
            raise fail("action %s is backed by no entry, or its entries name another action" % a["id"])
        requested = [e for e in es if e["action"] == "case.action_requested"]
        if not requested or requested[0]["actor"]["id"] != a["requested_by"] or requested[0]["time"] != a["requested_at"]:
            raise fail("action %s: requested_by or requested_at differ from its case.action_requested entry" % a["id"])
        if any(e["action"] == "case.action_approved" and e["outcome"] == "success" and e["actor"]["id"] == a["requested_by"] for e in es):
            raise fail("action %s was approved by its own requester" % a["id"])
        decisions = [e for e in es if e["action"] in ("case.action_approved", "case.action_rejected", "case.action_cancelled")
                     and e["outcome"] == "success" and e["actor"]["type"] == "agent"]
        d = decisions[-1] if decisions else None
        if a.get("decided_by") != (d["actor"]["id"] if d else None) or a.get("decided_at") != (d["time"] if d else None):
            raise fail("action %s: decided_by or decided_at differ from its approval, rejection or cancellation entry" % a["id"])
        executed = [e for e in es if e["action"] == "case.action_executed"]
        rejected = bool(d) and d["action"] == "case.action_rejected"
        cancelled = any(e["action"] == "case.action_cancelled" for e in es)
        if a.get("executed_at") != (executed[-1]["time"] if executed else None):
            raise fail("action %s: executed_at is not the time of its case.action_executed entry" % a["id"])
        ok = {"executed": executed and not rejected, "rejected": rejected and not executed,
              "cancelled": cancelled and not executed, "pending_approval": not (executed or rejected or cancelled)}.get(a["status"])
        if not ok:
            raise fail("action %s is %s but its entries say otherwise" % (a["id"], a["status"]))
    for e in entries:
        if "action_id" in e["details"] and e["details"]["action_id"] not in listed:
            raise fail("entry seq %d names an action the file does not list" % e["seq"])
    return "ok: case %s, %d entries, checkpoint size %d" % (case["id"], len(entries), size)


def main():
    ap = argparse.ArgumentParser(description="Verify a Vigil case file offline.")
    ap.add_argument("file", help="the case file (JSON, or the HTML page)")
    ap.add_argument("--public-key", required=True, help="file of trusted verifier keys, one per line")
    args = ap.parse_args()
    try:
        keys = load_keys(args.public_key)
        with open(args.file, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError, binascii.Error) as e:
        print("verify: error: %s" % e, file=sys.stderr)
        return 2
    try:
        print(verify(data, keys))
    except Failure as f:
        print("verify: error: %s" % f, file=sys.stderr)
        return 1
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError) as e:
        print("verify: error: malformed: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
