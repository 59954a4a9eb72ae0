#!/usr/bin/env python3
"""Verify a Vigil audit export, or one inclusion proof, offline.

Written from docs/audit-format.md alone, with hashlib and PyNaCl (pip install pynacl):
it shares no code with Vigil.

  verify_audit_export.py DIR --public-key FILE [--allow-unsigned]
  verify_audit_export.py --proof FILE --public-key FILE

FILE holds verifier keys, one per line (<name>+<key hash>+<base64>). Exit status: 0 and
a summary on stdout when everything verifies; 1 and "seq N: reason: detail" on stderr
at the first failure; 2 for usage errors and unreadable key files.
"""
import argparse
import base64
import binascii
import hashlib
import json
import sys

import nacl.exceptions
import nacl.signing


class Failure(Exception):
    def __init__(self, reason, seq, detail):
        super().__init__(detail)
        self.reason, self.seq, self.detail = reason, seq, detail

    def __str__(self):
        return ("" if self.seq is None else "seq %d: " % self.seq) + "%s: %s" % (self.reason, self.detail)


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def b64(text):
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64")
    return raw


# --- keys and signed notes (section 3) ---------------------------------------------------

def parse_key(text):
    name, key_hash, material = text.split("+", 2)
    raw = b64(material)
    if not name or len(raw) != 33 or raw[0] != 1 or len(key_hash) != 8:
        raise ValueError("not an Ed25519 verifier key: " + text)
    if sha256(name.encode() + b"\n" + raw)[:4].hex() != key_hash.lower():
        raise ValueError("key hash does not match: " + text)
    return {"name": name, "hash": bytes.fromhex(key_hash), "key": nacl.signing.VerifyKey(raw[1:])}


def load_keys(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f]
    return [parse_key(l) for l in lines if l and not l.startswith("#")]


def open_note(note, keys):
    """Returns (text, key ids that verified); raises Failure(bad_signature|unknown_key)."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise ValueError("not a signed note")
    text += "\n"
    good, seen = [], []
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("bad signature line")
        name, blob = line[2:].split(" ")
        raw = b64(blob)
        seen.append(raw[:4].hex())
        for k in keys:
            if k["name"] == name and k["hash"] == raw[:4]:
                try:
                    k["key"].verify(text.encode(), raw[4:])
                except nacl.exceptions.BadSignatureError:
                    return text, None, ("bad_signature", "signature by %s (%s) does not verify" % (name, raw[:4].hex()))
                if raw[:4].hex() not in good:
                    good.append(raw[:4].hex())
    if not good:
        return text, None, ("unknown_key", "signed by no trusted key (key ids %s)" % ",".join(seen))
    return text, good, None


def parse_checkpoint(text):
    lines = text[:-1].split("\n")
    size = lines[1]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ValueError("bad tree size")
    root = b64(lines[2])
    if len(root) != 32:
        raise ValueError("bad root hash")
    return lines[0], int(size), root


# --- Merkle tree (section 2) ---------------------------------------------------------------

def subtrees(begin, end):
    """(start, level) of the perfect subtrees covering [begin, end), left to right."""
    out, p = [], begin
    while p < end:
        level = (p & -p).bit_length() - 1 if p else 63
        level = min(level, (end - p).bit_length() - 1)
        out.append((p, level))
        p += 1 << level
    return out


class CompactRange:
    def __init__(self, begin=0):
        self.begin = self.end = begin
        self.hashes = []

    def copy(self):
        c = CompactRange(self.begin)
        c.end, c.hashes = self.end, list(self.hashes)
        return c

    def push(self, h, level=0):
        self.hashes.append(h)
        index, lvl = self.end >> level, level
        self.end += 1 << level
        while index & 1 and (index - 1) << lvl >= self.begin:
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            index, lvl = index >> 1, lvl + 1

    def extend(self, other):
        for h, (_, level) in zip(other.hashes, subtrees(other.begin, other.end)):
            self.push(h, level)

    def root(self):
        if not self.hashes:
            return sha256(b"")
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r


def border(begin, end, hexes):
    if len(hexes) != len(subtrees(begin, end)):
        raise ValueError("border [%d, %d) needs %d hashes" % (begin, end, len(subtrees(begin, end))))
    r = CompactRange(begin)
    r.end, r.hashes = end, [bytes.fromhex(h) for h in hexes]
    return r


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


# --- export verification (section 7) -----------------------------------------------------

def verify_export(directory, keys, allow_unsigned=False):
    try:
        with open(directory + "/manifest.json", encoding="utf-8") as f:
            m = json.load(f)
        if m["format"] != "vigil-audit-export/1":
            raise ValueError("unknown format")
        origin, first, last = m["origin"], m["from_seq"], m["to_seq"]
        tree = border(0, first, m["left_border"])
        right = None
        if "right_border" in m:
            right = border(last + 1, m["right_border"]["tree_size"], m["right_border"]["hashes"])
        with open(directory + "/checkpoints.txt", encoding="utf-8") as f:
            text = f.read()
        blocks = text[:-1].split("\n\n") if text else []
        if len(blocks) % 2:
            raise ValueError("checkpoints.txt: a note without signatures")
        notes = [blocks[i] + "\n\n" + blocks[i + 1] + "\n" for i in range(0, len(blocks), 2)]
        cps = []
        for note in notes:
            body = note.rpartition("\n\n")[0] + "\n"
            o, size, root = parse_checkpoint(body)
            if o != origin or size < first or (cps and size < cps[-1][0]):
                raise ValueError("checkpoint for tree size %d out of place" % size)
            if size > last + 1 and (right is None or right.end != size):
                raise ValueError("no right border for tree size %d" % size)
            cps.append((size, root, note))
        if len(cps) != m["checkpoint_count"]:
            raise ValueError("checkpoint_count")
    except (OSError, ValueError, KeyError, IndexError, TypeError, binascii.Error) as e:
        raise Failure("malformed_export", None, str(e))

    state = {"covered": first, "verified": None, "checked": 0, "keys": [], "claimed": None, "mismatch": None}

    def check(size, root, note):
        new = min(state["covered"], size)
        _, good, bad = open_note(note, keys)
        if bad:
            raise Failure(bad[0], new, "checkpoint for tree size %d: %s" % (size, bad[1]))
        state["keys"] += [k for k in good if k not in state["keys"]]
        if state["verified"] and state["verified"][0] == size:
            if state["verified"][1] != root:
                raise Failure("inconsistent_tree", size - 1, "two checkpoints for tree size %d differ" % size)
            state["checked"] += 1
            return
        computed, claimed = tree.copy(), state["claimed"].copy() if state["claimed"] else None
        if size > tree.end:
            computed.extend(right)
            if claimed:
                claimed.extend(right)
        if computed.root() == root:
            if state["mismatch"] is not None:
                raise Failure("leaf_hash_mismatch", state["mismatch"], "leaf hash differs from a signed entry")
            state["verified"], state["covered"] = (size, root), max(state["covered"], min(size, last + 1))
            state["checked"] += 1
        elif claimed and claimed.root() == root:
            raise Failure("altered_entry", state["mismatch"], "entry differs from the one signed at tree size %d" % size)
        else:
            mismatch = state["mismatch"]
            raise Failure("root_mismatch", new if mismatch is None else mismatch,
                          "checkpoint for tree size %d does not match the entries" % size)

    pending = 0
    while pending < len(cps) and cps[pending][0] == tree.end:
        check(*cps[pending])
        pending += 1

    expected, gap = first, None
    with open(directory + "/entries.jsonl", "rb") as entries, open(directory + "/leaf-hashes.txt", "rb") as leaves:
        for line in entries:
            line = line[:-1] if line.endswith(b"\n") else line
            claim_line = leaves.readline().strip()
            try:
                seq = json.loads(line)["seq"]
                if not isinstance(seq, int):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                seq = None
            if gap is not None:
                if seq == gap[0]:
                    raise Failure("reordered", gap[0], "entry %d appears after entry %d" % gap)
                continue
            if seq is None:
                raise Failure("malformed_entry", expected, "no readable seq")
            if expected > last:
                raise Failure("unexpected_entry", seq, "entry after to_seq %d" % last)
            if seq > expected:
                gap = (expected, seq)
                continue
            if seq < expected:
                if seq < first:
                    raise Failure("unexpected_entry", seq, "entry before from_seq %d" % first)
                raise Failure("duplicate", seq, "entry %d appears again in place of %d" % (seq, expected))
            leaf = leaf_hash(line)
            try:
                claim = bytes.fromhex(claim_line.decode())
            except (ValueError, UnicodeDecodeError):
                claim = b""
            if claim != leaf and state["mismatch"] is None:
                state["mismatch"], state["claimed"] = seq, tree.copy()
            tree.push(leaf)
            if state["claimed"]:
                state["claimed"].push(claim if len(claim) == 32 else b"\x00" * 32)
            expected += 1
            while pending < len(cps) and cps[pending][0] == tree.end:
                check(*cps[pending])
                pending += 1
        extra_leaves = leaves.readline()
    if gap is not None:
        raise Failure("gap", gap[0], "entry %d is missing; the next entry is %d" % gap)
    if expected <= last:
        raise Failure("truncated", expected, "entries end before to_seq %d" % last)
    while pending < len(cps):
        check(*cps[pending])
        pending += 1
    unsigned = last + 1 - state["covered"]
    if unsigned > 0:
        if state["mismatch"] is not None:
            raise Failure("leaf_hash_mismatch", state["mismatch"], "leaf hash differs from an unsigned entry")
        if not allow_unsigned:
            raise Failure("unsigned_entries", state["covered"], "%d entries after the last checkpoint" % unsigned)
    if extra_leaves:
        raise Failure("malformed_export", None, "leaf-hashes.txt has more lines than entries")
    size = state["verified"][0] if state["verified"] else 0
    return "ok: %d entries (seq %d…%d) of %s, %d checkpoints verified up to tree size %d, keys %s%s" % (
        last - first + 1, first, last, origin, state["checked"], size, ",".join(state["keys"]),
        "; %d trailing entries not yet signed" % unsigned if unsigned > 0 else "")


def verify_proof(path, keys):
    """Section 6: one entry, its inclusion path and a signed checkpoint."""
    try:
        with open(path, encoding="utf-8") as f:
            p = json.load(f)
        if p["format"] != "vigil-audit-proof/1":
            raise ValueError("unknown format")
        entry = p["entry"].encode("utf-8")
        seq = json.loads(entry)["seq"]
        path_hashes = [bytes.fromhex(h) for h in p["inclusion_path"]]
        text, good, bad = open_note(p["checkpoint"], keys)
        origin, size, root = parse_checkpoint(text)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as e:
        raise Failure("malformed_export", None, str(e))
    if bad:
        raise Failure(bad[0], seq, bad[1])
    if seq != p["leaf_index"] or p["tree_size"] != size:
        raise Failure("malformed_export", seq, "leaf index or tree size does not match")
    if root_from_inclusion(seq, size, leaf_hash(entry), path_hashes) != root:
        raise Failure("altered_entry", seq, "entry and proof do not lead to the checkpoint root")
    return "ok: entry %d is in %s at tree size %d, keys %s" % (seq, origin, size, ",".join(good))


def main():
    ap = argparse.ArgumentParser(description="Verify a Vigil audit export or inclusion proof offline.")
    ap.add_argument("directory", nargs="?", help="export directory")
    ap.add_argument("--public-key", required=True, help="file of trusted verifier keys, one per line")
    ap.add_argument("--proof", help="verify this inclusion proof file instead of an export")
    ap.add_argument("--allow-unsigned", action="store_true", help="accept entries after the last checkpoint")
    args = ap.parse_args()
    if (args.directory is None) == (args.proof is None):
        ap.error("give an export directory or --proof FILE")
    try:
        keys = load_keys(args.public_key)
    except (OSError, ValueError, binascii.Error) as e:
        print("verify: error: public key file: %s" % e, file=sys.stderr)
        return 2
    try:
        if args.proof:
            print(verify_proof(args.proof, keys))
        else:
            print(verify_export(args.directory, keys, args.allow_unsigned))
    except Failure as f:
        print("verify: error: %s" % f, file=sys.stderr)
        return 1
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as e:
        print("verify: error: malformed_export: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
