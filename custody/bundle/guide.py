"""VERIFY.md: a trust chain a stranger can follow with stock tools, generated into every bundle.

The ```sh blocks are run, exactly as printed, by tests/test_court.py (C locale, no custody on
PATH, the zip renamed); keep every check a command that exits non-zero and prints FAILED.

Over ~350 lines by design: nearly all of it is the text of that one document (the Markdown template
and the short stock-Python helper its steps paste), kept whole so it reads in the order a stranger
follows it and each block stays exactly what the tests run; the code is one function.
"""

from __future__ import annotations

_JCS = r'''
import base64, hashlib, json, sys
WORK = "@WORK@"
def number(v):
    if v == 0: return "0"
    sign, v = ("-", -v) if v < 0 else ("", v)
    mant, _, exp = repr(v).partition("e"); whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0"); power = int(exp or 0) - len(frac)
    stripped = digits.rstrip("0"); power += len(digits) - len(stripped); digits = stripped
    k = len(digits); n = k + power
    if k <= n <= 21: return sign + digits + "0" * (n - k)
    if 0 < n <= 21: return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0: return sign + "0." + "0" * -n + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
def jcs(v):
    """RFC 8785 canonical JSON bytes."""
    return text(v).encode("utf-8")
def text(v):
    if v is None or v is True or v is False: return json.dumps(v)
    if isinstance(v, int) and abs(v) > 2**53 - 1: fail("integer %d has no canonical JSON form" % v)
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return number(v)
    if isinstance(v, str): return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list): return "[" + ",".join(text(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + text(v[k]) for k in keys) + "}"
def pem(raw):
    der = bytes.fromhex("302a300506032b6570032100") + raw
    return "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"
def raw_of_pem(p):
    der = base64.b64decode("".join(l for l in p.strip().split("\n") if not l.startswith("-----")))
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100"), "not an Ed25519 key"
    return der[12:]
def fail(why):
    sys.exit("FAILED: " + why)
def events():
    t = open("custody/events.jsonl", encoding="utf-8", newline="").read()
    if t and not t.endswith("\n"): fail("events.jsonl does not end with a line feed")
    return [json.loads(line) for line in t.split("\n")[:-1]]
def checkpoint():
    lines = open(WORK + "/checkpoint.body", encoding="utf-8", newline="").read().split("\n")
    return int(lines[1]), base64.b64decode(lines[2])
'''


def verify_md(bundle_id: str) -> str:
    """Instructions for checking bundle ``bundle_id`` with stock tools only (Markdown)."""
    work = f"../{bundle_id}.check"
    return _TEMPLATE.replace("@JCS@", _JCS.strip("\n")).replace("@WORK@", work).replace("@BUNDLE@", bundle_id)


_TEMPLATE = r"""# Verifying bundle @BUNDLE@ with stock tools

This bundle is a BagIt bag (RFC 8493) with the custody log evidence of its items. Nothing here needs
custody: you need a POSIX shell, coreutils, `python3` (standard library only), `openssl` 3.x, and `age`
for an encrypted bundle. Run the blocks below in order, in one terminal; each check prints `OK: ...`
or `FAILED: ...` and a failed check returns a non-zero status (stop there: the bundle is not proven).
The byte formats are specified in `custody/FORMATS.md`. `custody/verify_bundle.py` does all of this
in one program (step 10).

## 0. What you must obtain independently of this bundle

Everything below is proven relative to the archive's signing key. A key shipped inside the bundle
proves nothing by itself: obtain the archive's **verifier key** from the archive through a channel you
trust (its publication, a signed letter, an earlier court record). It is one line such as
`archive.example+1a2b3c4d+AQ...`. Save it as the only line of a file named `archive.vkey` in the
folder that holds the bundle file, and open a terminal in that folder. (If you hold a checkpoint the
archive published instead, see step 10.)

These instructions and `custody/verify_bundle.py` travel inside the bundle, so whoever could alter the
bundle could alter them too: read each command before you run it (they only read the bag and write
into the folder `@WORK@` beside it), or take them from a copy of custody you obtained yourself
(`custody/bundle/guide.py` and `custody/bundle/standalone/verify_bundle.py` in its source).

## 1. Decrypt (only for an encrypted bundle `NAME.zip.age`)

    age -d -i YOUR-IDENTITY.txt -o @BUNDLE@.zip NAME.zip.age

## 2. Unpack

The zip may have any file name; this finds the one holding bundle @BUNDLE@ and unpacks it (Python's
unzip works in any locale; `unzip` fails on non-ASCII names in a C locale).

```sh
python3 - <<'EOF'
import glob, posixpath, sys, zipfile
for name in sorted(glob.glob("*.zip")):
    with zipfile.ZipFile(name) as z:
        names = [posixpath.normpath(n) for n in z.namelist()]
        if len(set(names)) != len(names): sys.exit("FAILED: %s names an entry twice" % name)
        if z.namelist() and all(n.startswith("@BUNDLE@/") for n in z.namelist()):
            z.extractall(".")
            print("OK: unpacked", name)
            break
else:
    sys.exit("FAILED: no zip file here holds only the folder @BUNDLE@")
EOF
cd @BUNDLE@
mkdir -p @WORK@/keys @WORK@/sigs
cat > @WORK@/jcs.py <<'EOF'
@JCS@
EOF
```

The last command writes `@WORK@/jcs.py`: RFC 8785 canonical JSON and key helpers that the
next steps use (read it: 40 lines). Working files go to `@WORK@`, beside the bag.

## 3. The archive's identity and the checkpoint signature

`custody/vkey.txt` must be the key you obtained, and the log's first event (`archive.init`, checked in
step 5) must state the same key. Then the signed note `custody/checkpoint.txt` (C2SP signed note holding
a tlog checkpoint: origin, tree size, base64 Merkle root) is checked with it.

```sh
test "$(cat custody/vkey.txt)" = "$(cat ../archive.vkey)" && echo "OK: custody/vkey.txt is the key you obtained" || { echo "FAILED: custody/vkey.txt is not the archive key you obtained"; false; }
python3 - <<'EOF'
import sys; sys.path.insert(0, "@WORK@"); from jcs import *
vkey = open("custody/vkey.txt", encoding="utf-8").read().strip()
name, keyhash, key = vkey.split("+", 2)
raw = base64.b64decode(key)[1:]
if hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4].hex() != keyhash: fail("vkey key hash")
open(WORK + "/archive.pub.pem", "w").write(pem(raw))
note = open("custody/checkpoint.txt", encoding="utf-8", newline="").read()
split = note.rfind("\n\n")
body, lines = note[:split + 1], note[split + 2:].rstrip("\n").split("\n")
blobs = [base64.b64decode(l.split(" ")[2]) for l in lines if l.startswith("\u2014 " + name + " ")]
blobs = [b for b in blobs if b[:4].hex() == keyhash]
if not blobs or body.split("\n")[0] != name: fail("the checkpoint carries no signature by " + name)
open(WORK + "/checkpoint.body", "w", encoding="utf-8", newline="").write(body)
open(WORK + "/checkpoint.sig", "wb").write(blobs[0][4:])
print("checkpoint: origin %s, tree size %s, root %s" % tuple(body.split("\n")[:3]))
EOF
openssl pkeyutl -verify -pubin -inkey @WORK@/archive.pub.pem -rawin -in @WORK@/checkpoint.body -sigfile @WORK@/checkpoint.sig
```

## 4. Every event is in the signed log (inclusion proofs) and the chain is intact

Each line of `custody/events.jsonl` is one log event. Its Merkle leaf hash is
SHA-256(0x00 || RFC 8785 canonical JSON of the event WITH its `sig`); its leaf index is its `seq`;
`custody/proofs.json` gives its RFC 9162 inclusion proof to the checkpoint. `prev` of event n is the
SHA-256 of the canonical event n-1 (with `sig`); event 0 has 64 zeros.

```sh
python3 - <<'EOF'
import sys; sys.path.insert(0, "@WORK@"); from jcs import *
size, root = checkpoint()
proofs = json.load(open("custody/proofs.json"))["inclusion"]
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()
last = None
for e in events():
    seq = e["seq"]
    fn, sn, r = seq, size - 1, hashlib.sha256(b"\x00" + jcs(e)).digest()
    for p in map(bytes.fromhex, proofs.get(str(seq), [])):
        if sn == 0: break
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1: fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if not (seq < size and sn == 0 and r == root): fail("event %d is not in the signed log" % seq)
    if last is not None and seq <= last["seq"]: fail("events are not in increasing seq order")
    if seq == 0 and e["prev"] != "0" * 64: fail("event 0 does not start the chain")
    if last is not None and last["seq"] == seq - 1 and e["prev"] != hashlib.sha256(jcs(last)).hexdigest():
        fail("event %d does not chain to event %d" % (seq, seq - 1))
    last = e
print("OK: all events are in the log of size", size, "and adjacent events chain")
EOF
```

## 5. Who may sign what: registrations, roles, and every event and record signature

Keys count only when an `actor.add` event in this file registers them: event 0 (`archive.init`) and
event 1 (the first admin registering their own key) start the log; every later `actor.add` must be
signed by an admin registered before it; a key signs validly only after its registration, and only
actions its role allows. An admin's `actor.role` changes a key's role, `actor.revoke` and `actor.rotate`
end a key (it may sign nothing after them; a rotation registers the new key, which must prove
possession; `compromised_since` also voids the key's events from that seq), all by their position in
the log. The checkpoint must be co-signed (`custody.actor/<key id>` line) by a key valid at its last
event. Event 0 must state the archive key of step 3. Each event's signature covers
its canonical JSON WITHOUT `sig`; each item record's signature covers its canonical JSON and must be by
the key that logged the item's `ingest`, whose `record_sha256` binds the record.

```sh
python3 - <<'EOF'
import re, sys, datetime; sys.path.insert(0, "@WORK@"); from jcs import *
GRANTS = {"admin": {"ingest", "annotate", "export", "import", "view", "access", "verify", "manage-actors", "administer"},
          "archivist": {"ingest", "annotate", "export", "import", "view", "access"},
          "analyst": {"view", "annotate", "access"}, "reviewer": {"view", "verify", "access"}}
NEEDS = {"actor.add": "manage-actors", "archive.upgrade": "administer", "configure": "administer", "ingest": "ingest",
         "acquire": "ingest", "derive": "ingest", "export.request": "export", "export.approve": "export",
         "export.reject": "export", "annotate": "annotate", "export": "export", "export.failed": "export",
         "import": "import", "view": "view", "access": "access", "verify": "verify", "report": "view",
         "actor.revoke": "manage-actors", "actor.rotate": "manage-actors", "actor.role": "manage-actors",
         "case.add": "ingest", "correct": "ingest", "replicate": "administer"}
evs = events()
by = {e["seq"]: e for e in evs}
if 0 not in by or 1 not in by: fail("events 0 and 1 (archive.init, first admin) are not carried")
init, first = by[0], by[1]
vkey = open("custody/vkey.txt", encoding="utf-8").read().strip()
if init["action"] != "archive.init" or init["payload"].get("vkey") != vkey: fail("event 0 does not state this archive key")
if raw_of_pem(init["payload"]["archive_public_key"]) != base64.b64decode(vkey.split("+", 2)[2])[1:]: fail("event 0 keys differ")
keys, latest, jobs, ended, signed = {}, None, [], {}, {}
for e in evs:
    seq, actor, action, p = e["seq"], e["actor"], e["action"], e["payload"]
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z", e["time"]):
        fail("event %d: time is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ" % seq)
    when = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    if latest and when < latest - datetime.timedelta(minutes=5): fail("event %d goes back in time" % seq)
    latest = max(latest or when, when)
    new = None
    if action == "actor.add":
        raw = raw_of_pem(p["public_key"])
        if p["key_id"] != hashlib.sha256(raw).hexdigest() or p["key_id"] in keys: fail("event %d: bad key" % seq)
        if p["role"] not in GRANTS or not isinstance(p["name"], str): fail("event %d: unknown role or no name" % seq)
        new = (p["key_id"], raw, p["role"], p["name"])
    if seq == 0: ok = action == "archive.init" and actor == first["actor"]
    elif seq == 1: ok = new is not None and new[0] == actor == init["actor"] and new[2] == "admin"
    elif action == "archive.init": ok = False
    elif actor not in keys: fail("event %d is signed by a key no admin registered before it" % seq)
    elif actor in ended: fail("event %d is signed by a key revoked or retired at event %d" % (seq, ended[actor]))
    else: ok = action == "refuse" or NEEDS.get(action, "unknown action") in GRANTS.get(keys[actor][2], ())
    if not ok: fail("event %d: %s is not allowed to this signer here" % (seq, action))
    signed.setdefault(actor, []).append(seq)
    if new: keys[new[0]] = new
    if action in ("actor.role", "actor.revoke", "actor.rotate"):
        kid = p["old_key_id"] if action == "actor.rotate" else p["key_id"]
        if kid not in keys or kid in ended or keys[kid][3] != p["name"]: fail("event %d: %s of no valid key" % (seq, action))
        if action == "actor.role":
            if p["role"] not in GRANTS: fail("event %d: unknown role" % seq)
            keys[kid] = keys[kid][:2] + (p["role"], keys[kid][3])
        elif action == "actor.revoke":
            since = p.get("compromised_since")
            if since is not None and any(s >= since for s in signed.get(kid, [])): fail("event %d voids events of a compromised key" % seq)
            ended[kid] = seq
        else:
            raw = raw_of_pem(p["public_key"])
            if p["key_id"] != hashlib.sha256(raw).hexdigest() or p["key_id"] in keys: fail("event %d: bad new key" % seq)
            st = jcs({"statement": "custody.actor.rotate", "name": p["name"], "old_key_id": kid, "key_id": p["key_id"]})
            jobs.append(("possession-%d" % seq, p["key_id"], st, base64.b64decode(p["possession"])))
            if "endorsement" in p: jobs.append(("endorsement-%d" % seq, kid, st, base64.b64decode(p["endorsement"])))
            ended[kid] = seq
            keys[p["key_id"]] = (p["key_id"], raw, keys[kid][2], p["name"])
note = open("custody/checkpoint.txt", encoding="utf-8", newline="").read()
body, lines = note[: note.rfind("\n\n") + 1], note[note.rfind("\n\n") + 2 : -1].split("\n")
last = int(body.split("\n")[1]) - 1
cos = [(l.split(" ")[1][len("custody.actor/"):], base64.b64decode(l.split(" ")[2])) for l in lines if l.split(" ")[1].startswith("custody.actor/")]
for kid, blob in cos:
    if kid not in keys: fail("the checkpoint is co-signed by a key no carried event registered")
    if kid in ended and ended[kid] < last: fail("the checkpoint is co-signed by a key revoked or retired at event %d" % ended[kid])
    if blob[:4] != hashlib.sha256(("custody.actor/" + kid).encode() + b"\n\x01" + keys[kid][1]).digest()[:4]: fail("bad cosignature")
    jobs.append(("cosignature-%s" % kid[:16], kid, body.encode(), blob[4:]))
if not cos and any(s < last for s in ended.values()): fail("the checkpoint is not co-signed, yet a key ended before it")
for e in evs:
    unsigned = {k: v for k, v in e.items() if k != "sig"}
    jobs.append(("event-%d" % e["seq"], e["actor"], jcs(unsigned), base64.b64decode(e["sig"])))
items = json.load(open("custody/items.json", encoding="utf-8"))
jcs(items)  # fails on a value with no canonical form (an integer beyond 2**53), even outside a signed record
for n, entry in enumerate(items):
    rec = entry["record"]
    ingest = [e for e in evs if e["item"] == rec["item_id"] and e["action"] == "ingest"]
    if not ingest or ingest[0]["payload"]["record_sha256"] != hashlib.sha256(jcs(rec)).hexdigest():
        fail("no ingest event binds the record of " + rec["item_id"])
    if entry["signer"] != ingest[0]["actor"]: fail("record of %s is not signed by its ingester" % rec["item_id"])
    if rec.get("ingested_by") != ingest[0]["actor"]: fail("record of %s names another ingester" % rec["item_id"])
    stated = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}Z", str(rec.get("ingested_at")))
    if not stated or abs(datetime.datetime.strptime(rec["ingested_at"], "%Y-%m-%dT%H:%M:%S.%fZ") - datetime.datetime.strptime(
            ingest[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")) > datetime.timedelta(minutes=5):
        fail("record of %s states another ingest time than its ingest event" % rec["item_id"])
    jobs.append(("record-%d" % n, entry["signer"], jcs(rec), base64.b64decode(entry["signature"])))
with open(WORK + "/signatures.txt", "w") as out:
    for name, kid, data, sig in jobs:
        open("%s/sigs/%s.data" % (WORK, name), "wb").write(data)
        open("%s/sigs/%s.sig" % (WORK, name), "wb").write(sig)
        out.write("%s/keys/%s.pem %s/sigs/%s.data %s/sigs/%s.sig\n" % (WORK, kid, WORK, name, WORK, name))
for kid, raw, role, name in keys.values():
    open("%s/keys/%s.pem" % (WORK, kid), "w").write(pem(raw))
    print("registered: %s (%s) key %s" % (name, role, kid))
print("OK: every signer was registered by an admin and acted within its role; %d signatures to check" % len(jobs))
EOF
bad=0
while read -r key data sig; do openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in "$data" -sigfile "$sig" >/dev/null || { echo "FAILED: signature $sig"; bad=1; }; done < @WORK@/signatures.txt
test $bad = 0 && echo "OK: every event and record signature verifies" || { echo "FAILED: a signature does not verify"; false; }
```

## 6. The seal key is the key of the actor who logged this export

```sh
python3 - <<'EOF'
import sys; sys.path.insert(0, "@WORK@"); from jcs import *
export = [e for e in events() if e["action"] == "export" and e["payload"].get("bundle_id") == "@BUNDLE@"]
if not export: fail("no logged export event names bundle @BUNDLE@")
seal = hashlib.sha256(raw_of_pem(open("custody/seal.pub.pem").read())).hexdigest()
if seal != export[0]["actor"]: fail("the seal key %s is not the exporter %s" % (seal, export[0]["actor"]))
manifest = hashlib.sha256(open("manifest-sha256.txt", "rb").read()).hexdigest()
if export[0]["payload"].get("manifest_sha256") != manifest: fail("manifest-sha256.txt is not the one logged")
carried = [entry["record"]["item_id"] for entry in json.load(open("custody/items.json", encoding="utf-8"))]
if sorted(carried) != sorted(set(export[0]["payload"].get("items") or [])): fail("items.json is not the items logged")
print("OK: sealed by %s, who logged export event %d (registration checked in step 5)" % (seal, export[0]["seq"]))
EOF
```

## 7. The seal, then every file

The exporter signed `tagmanifest-sha256.txt`, which lists the SHA-256 of every tag file; the payload
manifests list every payload file. BagIt writes `%` in a path as `%25`: `sed` undoes that for
`sha256sum`. (The Library of Congress `bagit.py --validate .` checks the same manifests from here.)

```sh
openssl pkeyutl -verify -pubin -inkey custody/seal.pub.pem -rawin -in tagmanifest-sha256.txt -sigfile custody/seal.sig
sha256sum -c --quiet tagmanifest-sha256.txt && echo "OK: tag files" || { echo "FAILED: tag files"; false; }
sed 's/%25/%/g' manifest-sha256.txt | sha256sum -c --quiet - && echo "OK: payload SHA-256" || { echo "FAILED: payload"; false; }
sed 's/%25/%/g' manifest-sha512.txt | sha512sum -c --quiet - && echo "OK: payload SHA-512" || { echo "FAILED: payload"; false; }
python3 - <<'EOF'
import os, sys; sys.path.insert(0, "@WORK@"); from jcs import *
def listed(name):
    return {l.split("  ", 1)[1].replace("%25", "%") for l in open(name, encoding="utf-8", newline="").read().split("\n")[:-1]}
files = {os.path.relpath(os.path.join(d, f)) for d, _, fs in os.walk(".") for f in fs}
payload = listed("manifest-sha256.txt")
if listed("manifest-sha512.txt") != payload: fail("manifest-sha512.txt does not list exactly the payload files")
extra = {f for f in files if f.startswith("data/")} ^ payload
extra |= files - payload - listed("tagmanifest-sha256.txt") - {"tagmanifest-sha256.txt", "custody/seal.sig",
    "custody/seal.pub.pem", "custody/seal.tsr", "custody/seal.tsa-certs.pem"}
if extra: fail("files not covered by the seal: %s" % sorted(extra))
sums = dict(reversed(l.split("  ", 1)) for l in open("manifest-sha256.txt", encoding="utf-8", newline="").read().split("\n")[:-1])
claimed, paths = set(), {}
for entry in json.load(open("custody/items.json", encoding="utf-8")):
    rec = entry["record"]
    name = rec["original_name"]
    if not name or name in (".", "..") or any(c in name for c in "/\\") or any(ord(c) < 32 for c in name) or len(name.encode()) > 200:
        name = rec["item_id"]
    path = entry["path"] if "path" in entry else "data/%s/%s" % (rec["item_id"], name)
    base = path[len("data/%s/" % rec["item_id"]):]
    mine = path.startswith("data/%s/" % rec["item_id"]) and base not in ("", ".", "..") and "/" not in base
    if not mine or sums.get(path.replace("%", "%25")) != rec["sha256"] or path in claimed:
        fail("%s is not the file of the signed record %s" % (path, rec["item_id"]))
    claimed.add(path)
    paths[rec["item_id"]] = path
    print("OK: %s is %s as signed (%s bytes)" % (rec["item_id"], path, rec["size"]))
if payload != claimed: fail("payload files no signed record vouches for: %s" % sorted(payload - claimed))
json.dump(paths, open(WORK + "/payload.json", "w", encoding="utf-8"))
EOF
```

## 7a. The BLAKE3 digest each record signs

Each signed record states two digests of its file: `sha256`, checked against the file in step 7 with
`sha256sum` (and the bag's SHA-512 with `sha512sum`), and `blake3`. No stock tool computes BLAKE3 (not
coreutils, not `openssl`, not Python's `hashlib`), so this step needs a program: it runs the function
`blake3_file` of `custody/verify_bundle.py` (its section "BLAKE3", about 200 lines of standard-library
Python written from the BLAKE3 specification). Read that section, or compare its output with `b3sum FILE`
if you have the BLAKE3 authors' `b3sum`. Pure Python hashes about 5-10 MB per second: a large file takes
minutes, and its progress is shown. (`-B` keeps Python from caching the loaded file as bytecode in
`custody/__pycache__`: the bag must stay exactly as sealed for step 10.)

```sh
python3 -I -B - <<'EOF'
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("verify_bundle", "custody/verify_bundle.py")
b3 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(b3)
paths = json.load(open("@WORK@/payload.json", encoding="utf-8"))
for entry in json.load(open("custody/items.json", encoding="utf-8")):
    item, path = entry["record"]["item_id"], paths[entry["record"]["item_id"]]
    if b3.blake3_file(path) != entry["record"]["blake3"]:
        sys.exit("FAILED: %s: the BLAKE3 of %s is not the one its signed record states" % (item, path))
    print("OK: %s has the BLAKE3 its record signs (%s)" % (item, entry["record"]["blake3"]))
EOF
```

## 7b. Withheld and disclosed values

Records sign their source path and provenance as salted digests (FORMATS.md, "Withheld fields");
`custody/disclosures.json` holds the values this bundle reveals. Each must hash to a digest its record
or an acquire or correct (provenance correction) event signed for the same field, and none may be a field the export says it withholds.

```sh
python3 - <<'EOF'
import os, sys; sys.path.insert(0, "@WORK@"); from jcs import *
if not os.path.exists("custody/disclosures.json"): print("no disclosures.json: the records carry every value"); sys.exit(0)
committed = {}
holders = [(e["record"]["item_id"], e["record"]) for e in json.load(open("custody/items.json", encoding="utf-8"))]
holders += [("event %d" % e["seq"], e["payload"].get("acquisition") or {}) for e in events() if e["action"] == "acquire"]
holders += [("event %d" % e["seq"], e["payload"]) for e in events() if e["action"] == "correct"]
for where, h in holders:
    for field, digest in ((h.get("withholdable") or {}).get("digests") or {}).items(): committed[digest] = (field, where)
export = [e for e in events() if e["action"] == "export" and e["payload"].get("bundle_id") == "@BUNDLE@"]
withheld = set(export[0]["payload"].get("withheld") or []) if export else set()
for digest, t in json.load(open("custody/disclosures.json", encoding="utf-8")).items():
    salt, field, value = json.loads(t)
    if jcs([salt, field, value]).decode() != t or len(salt) < 22: fail("disclosure %s is not canonical or its salt is short" % digest)
    if hashlib.sha256(t.encode()).hexdigest() != digest or committed.get(digest, ("",))[0] != field: fail("%s of %s is not the value signed" % (field, digest))
    if field in withheld: fail("the export withholds %s but the bundle discloses it" % field)
print("OK: every disclosed value matches its signed digest; withheld: %s" % (", ".join(sorted(withheld)) or "none"))
EOF
```

## 8. Trusted timestamps (RFC 3161), when present

`custody/seal.tsr` is a token over `custody/seal.sig`; `custody/checkpoint.tsr` one over
`custody/checkpoint.txt`. Obtain the TSA's root certificate from the TSA itself (not from this
bundle) and save it as `tsa-root.pem` beside the bundle file. `-attime` checks the TSA certificate
at the attested time, so a token stays verifiable after that certificate expires.

```sh
for t in seal checkpoint; do
  case $t in seal) data=custody/seal.sig ;; *) data=custody/checkpoint.txt ;; esac
  if [ ! -f custody/$t.tsr ]; then echo "no $t timestamp: the bundle proves who, not when"; continue; fi
  openssl ts -reply -in custody/$t.tsr -text | grep -E "^(Time stamp|TSA):"
  if [ ! -f ../tsa-root.pem ]; then echo "skipped: save the TSA root as ../tsa-root.pem to check custody/$t.tsr"; continue; fi
  when=$(openssl ts -reply -in custody/$t.tsr -text | python3 -c 'import sys, re, datetime; t = re.search(r"Time stamp: (\w+ +\d+ [\d:]+)(\.\d+)? (\d+)", sys.stdin.read()); print(int(datetime.datetime.strptime(t[1] + " " + t[3], "%b %d %H:%M:%S %Y").replace(tzinfo=datetime.timezone.utc).timestamp()))')
  openssl ts -verify -data $data -in custody/$t.tsr -CAfile ../tsa-root.pem -untrusted custody/$t.tsa-certs.pem -attime "$when"
done
```

## 9. What this proves

Steps 3-7b passed: the archive whose key you obtained logged every event listed here, in this order,
each signed by a key an admin registered and allowed; the items are the bytes their signed records
describe; the bundle was sealed by the actor who logged its export. Steps 3-4 cannot see events
after the checkpoint or a log forked from the one you know: compare the checkpoint with one the
archive published (step 10).

## 10. The same in one program

    python3 -I custody/verify_bundle.py . --vkey ../archive.vkey

or with a checkpoint the archive published (saved as `../published-checkpoint.txt`):

    python3 -I custody/verify_bundle.py . --against-checkpoint ../published-checkpoint.txt

Add `--tsa-ca ../tsa-root.pem` to check the timestamps. `custody verify-bundle FILE --vkey FILE`
does the same with custody installed.
"""
