"""Writes the stores of this folder with the veritree on PYTHONPATH: they
were made by issue 18's version (the KEYTRANS directory's format 2: files
and a head; some VRF proofs completed, some not), so that
tests/storage/test_compat.py proves later versions open a log, a map and a
KEYTRANS directory that one wrote.
Run: PYTHONPATH=<that version> python make.py OUT"""
import json, os, shutil, sys
import veritree
out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
print(veritree.__file__)
# A tile log: several extends, checkpoints inside partial tiles.
sk, vk = veritree.generate_note_key("example.com/compat")
with veritree.Log.open(os.path.join(out, "log"), origin="example.com/compat", signer=sk, create=True) as log:
    for n in (3, 300, 1, 2000):
        log.extend([b"entry %d" % i for i in range(len(log), len(log) + n)])
    log_expect = {"size": len(log), "root": log.root().hex(), "checkpoint": log.checkpoint(), "verifier": vk}
# A map: updates, a removal, a prune.
keys = [bytes([i % 256, i // 256]) + bytes(30) for i in range(300)]
with veritree.Map.open(os.path.join(out, "map"), create=True) as m:
    m.update(keys[:200], keys[:200])
    m.update(keys[100:300], [bytes(32)] * 200)
    m.remove(keys[:10])
    m.prune(2)
    map_expect = {"version": m.version, "oldest": m.oldest_version, "root": m.root().hex(), "count": len(m)}
# A KEYTRANS directory: a few entries.
sig, vrf = bytes(range(32)), bytes(range(32, 64))
with veritree.KtDirectory.open(os.path.join(out, "kt"), sig, vrf, create=True) as d:
    for t, labels in enumerate([[b"alice", b"bob"], [b"alice"], [b"carol", b"bob", b"dave"]]):
        for l in labels:
            d.stage(l, b"value of " + l + b" at %d" % t)
        d.publish(1_700_000_000_000 + 1000 * t)
        if t == 1:
            d.fill_proofs(2)  # the first entry's: the rest stay Gamma only
    kt_expect = {"size": d.size, "config": d.config.hex(),
                 "values": {l.decode(): d.value(l).hex() for l in (b"alice", b"bob", b"carol", b"dave")},
                 "versions": {l.decode(): d.greatest_version(l) for l in (b"alice", b"bob", b"carol", b"dave")}}
for root, _, files in os.walk(out):
    for f in files:
        if f == "lock":
            os.unlink(os.path.join(root, f))
json.dump({"log": log_expect, "map": map_expect, "kt": kt_expect}, open(os.path.join(out, "expected.json"), "w"), indent=1)
