#!/usr/bin/env python3
"""Load test of `casework serve` (issue 20): CLIENTS concurrent clients for SECONDS
seconds (and at most MAX requests in all), each fetching a fixed mix of pages in turn:
the overview, filtered overviews, theme pages, an organisation page, CSV tables and
charts. Stops by itself; prints page times (p50, p95, max) and errors, and the server's
peak resident memory when its pid is given. Exits 1 on any error.

    casework generate --cases 1000000 --out /tmp/national && casework ingest /tmp/national
    casework serve --warehouse warehouse --memory-limit 1GiB &
    python3 bench/serve_load.py --url http://127.0.0.1:8080 --pid $! --clients 50 --seconds 60

Only the Python standard library is used.
"""
import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse

PAGES = [
    "/",
    "/?region=London",
    "/?from=2021-01-01&to=2021-12-31",
    "/theme/delay",
    "/theme/unfollowed_alert?region=London",
    "/organisation/G001",
    "/table/theme_prevalence.csv",
    "/table/organisation_profile.csv?region=London",
    "/chart/prevalence.svg",
    "/chart/funnel.png?theme=delay",
]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--url", default="http://127.0.0.1:8080")
    a.add_argument("--clients", type=int, default=50)
    a.add_argument("--seconds", type=float, default=60)
    a.add_argument("--max", type=int, default=100_000, help="requests in all, at most")
    a.add_argument("--pid", type=int, help="the server's pid, for its peak memory")
    a.add_argument("--timeout", type=float, default=300)
    a.add_argument("--warm", action="store_true",
                   help="fetch each page once, one at a time, before the timed run (the "
                        "first request of a scope builds its report); their times are "
                        "reported apart")
    args = a.parse_args()
    u = urllib.parse.urlparse(args.url)
    warm = {}
    if args.warm:
        for page in PAGES:
            start = time.monotonic()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
            c.request("GET", page)
            r = c.getresponse()
            r.read()
            warm[page] = [r.status, round(time.monotonic() - start, 2)]
    times, errors = [], []
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + args.seconds

    def client(k):
        i = k
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= args.max:
                    return
                issued[0] += 1
            page = PAGES[i % len(PAGES)]
            i += 1
            start = time.monotonic()
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
                c.request("GET", page)
                r = c.getresponse()
                r.read()
                c.close()
                ok = r.status == 200
            except Exception as e:  # a refused or dropped connection is an error
                ok, r = False, e
            took = time.monotonic() - start
            with lock:
                times.append((page, took))
                if not ok:
                    errors.append(f"{page}: {getattr(r, 'status', r)}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    all_times = sorted(t for _, t in times)
    q = statistics.quantiles(all_times, n=100) if len(all_times) > 1 else all_times * 99
    out = {
        "clients": args.clients,
        "seconds": round(wall, 1),
        "requests": len(times),
        "errors": len(errors),
        "p50_s": round(q[49], 3),
        "p95_s": round(q[94], 3),
        "max_s": round(all_times[-1], 3) if all_times else None,
        "server_peak_rss_mib": (peak_rss_kib(args.pid) or 0) // 1024 if args.pid else None,
        "first_errors": errors[:5],
        "warm_up": warm,
    }
    print(json.dumps(out, indent=2))
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
