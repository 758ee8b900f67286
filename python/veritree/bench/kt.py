"""The KEYTRANS (`veritree.KtDirectory` / `KtClient`) section of `veritree bench`.

Publishing is bound by the VRF (one ECVRF proof per new label version), so
its rate is set against the VRF limit measured in the same run: proofs per
second on one core, times the cores.
"""

from __future__ import annotations

import time

import veritree
from veritree.bench.common import Row, vrf_limit

T0 = 1_700_000_000_000
RMW = 60_000
#: Labels per log entry while building the directory.
BUILD_BATCH = 100_000


def _directory() -> veritree.KtDirectory:
    return veritree.KtDirectory(b"\x01" * 32, b"\x02" * 32, reasonable_monitoring_window=RMW,
                                max_behind=10**12)


def kt_directory(size: int, batches: list[int], searches: int) -> list[Row]:
    """Builds a directory of `size` labels, then times publishing batches of
    updates (half new labels, half new versions) and serving and verifying."""
    limit = vrf_limit()
    section = f"KEYTRANS directory, {size:,} labels"
    d = _directory()
    clock = T0
    t = time.perf_counter()
    for start in range(0, size, BUILD_BATCH):
        for i in range(start, min(size, start + BUILD_BATCH)):
            d.stage(b"user%d" % i, b"device keys %d" % i)
        d.publish(clock)
        clock += 1000
    build = time.perf_counter() - t
    rows = [Row(section, f"build {size:,} labels ({BUILD_BATCH:,} per entry)", size / build, "labels/s",
                size / build / limit, "VRF limit")]
    fresh = size
    for b in batches:
        for i in range(b // 2):
            d.stage(b"user%d" % fresh, b"new account")
            fresh += 1
        for i in range(b - b // 2):
            d.stage(b"user%d" % ((i * 7919) % size), b"rotated keys")
        t = time.perf_counter()
        d.publish(clock)
        dt = time.perf_counter() - t
        clock += 1000
        rows.append(Row(section, f"publish {b:,} updates in one entry", b / dt, "updates/s", b / dt / limit,
                        "VRF limit", {"seconds": dt, "vrf_share": b / limit / dt}))
    rows += _serving(d, section, size, searches, clock)
    rows += _monitoring(d, section, size, clock)
    rows += _updating(d, section, size, clock + 10_000)  # labels user<size>... were made by the batches
    return rows


def _serving(d: veritree.KtDirectory, section: str, size: int, count: int, now: int) -> list[Row]:
    labels = [b"user%d" % ((i * 104_729) % size) for i in range(count)]
    config = d.config
    # First contact: a client with no view asks for the greatest version.
    requests = [veritree.KtClient(config).search_request(label) for label in labels]
    t = time.perf_counter()
    responses = [d.search(r) for r in requests]
    serve = time.perf_counter() - t
    t = time.perf_counter()
    for r, s in zip(requests, responses):
        veritree.KtClient(config).verify_search(r, s, now_ms=now)
    verify = time.perf_counter() - t
    first_bytes = sum(map(len, responses)) / count
    # A returning client: same head, so the proof covers only the search.
    client = veritree.KtClient(config)
    r0 = client.search_request(labels[0])
    client.verify_search(r0, d.search(r0), now_ms=now)
    saved = client.save()
    requests = [client.search_request(label) for label in labels]
    responses = [d.search(r) for r in requests]
    t = time.perf_counter()
    for r, s in zip(requests, responses):
        veritree.KtClient.restore(saved).verify_search(r, s, now_ms=now)
    verify_returning = time.perf_counter() - t
    returning_bytes = sum(map(len, responses)) / count
    rows = [
        Row(section, "search responses (greatest version, first contact)", count / serve, "responses/s",
            None, "", {"bytes": first_bytes}),
        Row(section, "client verifications (first contact)", count / verify, "verifications/s"),
        Row(section, "client verifications (returning client, same head)", count / verify_returning,
            "verifications/s", None, "", {"bytes": returning_bytes}),
        Row(section, "search response size, first contact", first_bytes, "bytes"),
        Row(section, "search response size, returning client", returning_bytes, "bytes"),
    ]
    return rows


def _monitoring(d: veritree.KtDirectory, section: str, size: int, clock: int, count: int = 200) -> list[Row]:
    """Clients look up labels just updated (so they must monitor them); the
    log then grows by three entries of 1,000 updates; each client monitors."""
    labels = [b"user%d" % (i * 7919 % size) for i in range(count)]
    for label in labels:
        d.stage(label, b"rotated again")
    d.publish(clock)
    clients = []
    for label in labels:
        c = veritree.KtClient(d.config)
        r = c.search_request(label)
        if c.verify_search(r, d.search(r), now_ms=clock).monitored:
            clients.append((c, label))
    for k in range(1, 4):
        for i in range(1000):
            d.stage(b"late%d-%d" % (k, i), b"new account")
        d.publish(clock + 1000 * k)
    now = clock + 3000
    requests = [(c, c.monitor_request(label)) for c, label in clients]
    t = time.perf_counter()
    responses = [d.monitor(m) for _, m in requests]
    serve = time.perf_counter() - t
    t = time.perf_counter()
    for (c, m), response in zip(requests, responses):
        c.verify_monitor(m, response, now_ms=now)
    verify = time.perf_counter() - t
    n = max(1, len(responses))
    size_bytes = sum(map(len, responses)) / n
    return [
        Row(section, f"contact monitor responses ({len(responses)} labels, 3 entries later)", n / serve,
            "responses/s", None, "", {"bytes": size_bytes}),
        Row(section, "contact monitor verifications", n / verify, "verifications/s"),
        Row(section, "contact monitor response size", size_bytes, "bytes"),
    ]


def _updating(d: veritree.KtDirectory, section: str, fresh: int, clock: int, count: int = 200) -> list[Row]:
    """Owners send UpdateRequests with a new value: `count` register a new
    label, `count` add a second version to a label made by the batches
    (labels `user<fresh>` on, never rotated). The log publishes them in one
    entry (with 1,000 other updates), then answers each owner's request again
    with the UpdateResponse it verifies."""
    seen = veritree.KtClient(d.config)
    dreq = seen.distinguished_request()
    start = seen.verify_distinguished(dreq, d.distinguished(dreq), now_ms=clock)[-1][0]
    cases = {"registration (first version)": [b"owner%d" % i for i in range(count)],
             "second version": [b"user%d" % (fresh + i) for i in range(count)]}
    owners: dict[str, list[tuple[veritree.KtClient, bytes]]] = {}
    for case, labels in cases.items():
        owners[case] = []
        for label in labels:
            c = veritree.KtClient.restore(seen.save())
            r = c.owner_init_request(label, start)
            c.verify_owner_init(r, d.owner_init(r), now_ms=clock)
            _catch_up(d, c, label, clock)
            r = c.update_request(label, [b"owner's new keys"])
            assert d.update(r) is None, "staged for the next entry"
            owners[case].append((c, r))
    for i in range(1000):
        d.stage(b"other%d" % i, b"new account")
    d.publish(clock)
    rows = []
    for case, pairs in owners.items():
        t = time.perf_counter()
        responses = [d.update(r) for _, r in pairs]
        serve = time.perf_counter() - t
        t = time.perf_counter()
        for (c, r), response in zip(pairs, responses):
            assert response is not None
            c.verify_update(r, response, now_ms=clock)
        verify = time.perf_counter() - t
        size_bytes = sum(len(r or b"") for r in responses) / count
        rows += [
            Row(section, f"owner update, {case}: responses", count / serve, "responses/s", None, "",
                {"bytes": size_bytes}),
            Row(section, f"owner update, {case}: verifications", count / verify, "verifications/s"),
            Row(section, f"owner update, {case}: response size", size_bytes, "bytes"),
        ]
    return rows


def _catch_up(d: veritree.KtDirectory, owner: veritree.KtClient, label: bytes, now: int) -> None:
    """Brings an owner to the label's greatest version: versions made after
    its start entry are learnt through UpdateResponses, one entry at a time."""
    while True:
        request = owner.update_request(label)
        try:
            response = d.update(request)
        except ValueError:
            return  # nothing newer
        assert response is not None, "no values: answered at once"
        owner.verify_update(request, response, now_ms=now)
