#!/usr/bin/env python3
"""Load test of `casework serve` (issue 20): CLIENTS concurrent clients for SECONDS
seconds (and at most MAX requests in all), each fetching a fixed mix of pages in turn:
the overview, filtered overviews, theme pages, an organisation page, CSV tables and
charts. Stops by itself; prints page times (p50, p95, max) and errors, and the server's
peak resident memory when its pid is given. Exits 1 on any error.

    casework generate --cases 1000000 --out /tmp/national && casework ingest /tmp/national
    casework serve --warehouse warehouse --memory-limit 1GiB &
    python3 bench/serve_load.py --url http://127.0.0.1:8080 --pid $! --clients 50 --seconds 60

With --new-views every request is a view never asked before (issue 34): a random page
type (the overview, a theme page, an organisation page, a comparison, a chart of the
index's measures, a CSV table) with random filters (an organisation, a region, several
regions, a region left out, a period of the grid, random dates), so that no answer comes
from the server's cache. --slow-share P makes a share P of them full reports
(`/report?...`, DataFusion's every measure) to show that index pages do not wait
behind them. --first times the first overview before the load.

    python3 bench/serve_load.py --new-views --clients 20 --seconds 60 --pid $!

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


def fetch(u, path, timeout):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    c.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def choices(u, timeout):
    """The organisations, regions and themes the server offers (from its own pages)."""
    import gzip
    import re
    def page(path):
        body = fetch(u, path, timeout)[1]
        try:
            body = gzip.decompress(body)
        except OSError:
            pass
        return body.decode().replace("&#x2f;", "/")

    text = page("/organisations?q=")
    orgs = sorted(set(re.findall(r'href="/organisation/([^"?]+)', text)))
    text = page("/")
    region_select = re.search(r'<select name="region">(.*?)</select>', text, re.S)
    regions = re.findall(r"<option>([^<]+)</option>", region_select.group(1)) if region_select else []
    themes = sorted(set(re.findall(r'href="/theme/([^"?]+)', text)))
    return orgs, [urllib.parse.quote(r) for r in regions], themes


class Views:
    """Random views, each asked once."""

    def __init__(self, orgs, regions, themes, slow_share, seed=34):
        import random
        self.r = random.Random(seed)
        self.orgs, self.regions, self.themes = orgs, regions, themes
        self.slow_share = slow_share
        self.seen = set()

    def filters(self):
        r = self.r
        parts = []
        kind = r.randrange(5)
        if kind == 0:
            y = r.randrange(2019, 2025)
            parts.append("period=" + r.choice([str(y), f"FY{y}-{(y + 1) % 100:02d}",
                                               f"{y}-Q{r.randrange(1, 5)}", f"{y}-{r.randrange(1, 13):02d}"]))
        elif kind in (1, 2):
            a, b = sorted(r.randrange(0, 6 * 365) for _ in range(2))
            import datetime
            d0 = datetime.date(2019, 1, 1)
            parts.append(f"from={d0 + datetime.timedelta(days=a)}")
            if kind == 2:
                parts.append(f"to={d0 + datetime.timedelta(days=b)}")
        g = r.randrange(6)
        if g == 0 and self.orgs:
            parts.append("organisation=" + r.choice(self.orgs))
        elif g == 1 and self.regions:
            parts.append("region=" + r.choice(self.regions))
        elif g == 2 and len(self.regions) > 1:
            parts += ["region=" + x for x in r.sample(self.regions, 2)]
        elif g == 3 and self.regions:
            parts += ["region=" + r.choice(self.regions), "exclude=region"]
        if r.randrange(4) == 0:
            parts.append("date_field=closed_date")
        return "&".join(parts)

    def next(self):
        r = self.r
        while True:
            q = self.filters()
            if self.slow_share and r.random() < self.slow_share:
                path = "/report?" + q
            else:
                t = r.choice(self.themes) if self.themes else ""
                path = r.choice([
                    "/?" + q,
                    "/?" + q + "&sort=share&desc=1&theme=" + t,
                    f"/theme/{t}?" + q,
                    f"/organisation/{r.choice(self.orgs)}?" + q.replace("organisation=", "x="),
                    f"/compare?organisation={r.choice(self.orgs)}&versus_organisation={r.choice(self.orgs)}&" + q.replace("organisation=", "x="),
                    f"/chart/funnel.svg?theme={t}&" + q,
                    f"/chart/spc.svg?theme={t}&" + q,
                    "/chart/prevalence.svg?" + q,
                    "/table/organisation_profile.csv?" + q,
                    "/table/monthly_series.csv?" + q,
                ])
            if path not in self.seen:
                self.seen.add(path)
                return path


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
    a.add_argument("--new-views", action="store_true",
                   help="every request a view never asked before (issue 34)")
    a.add_argument("--slow-share", type=float, default=0.0,
                   help="with --new-views, the share of requests that are full reports")
    a.add_argument("--seed", type=int, default=None,
                   help="the views' seed (default: from the clock, so that a second run "
                        "against the same server asks new views again)")
    a.add_argument("--first", action="store_true",
                   help="time the first overview (GET /) before the load")
    args = a.parse_args()
    u = urllib.parse.urlparse(args.url)
    first = None
    if args.first:
        start = time.monotonic()
        status, _ = fetch(u, "/", args.timeout)
        first = [status, round(time.monotonic() - start, 3)]
    views, seed = None, None
    if args.new_views:
        seed = args.seed if args.seed is not None else time.time_ns() % (1 << 31)
        views = Views(*choices(u, args.timeout), args.slow_share, seed)
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
            if views is not None:
                with lock:
                    page = views.next()
            else:
                page = PAGES[i % len(PAGES)]
            i += 1
            start = time.monotonic()
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=args.timeout)
                c.request("GET", page)
                r = c.getresponse()
                r.read()
                c.close()
                # A chart the view's data cannot give (an SPC chart of too few
                # months) is answered 404 "not drawn": an answer, not an error.
                ok = r.status == 200 or (r.status == 404 and page.startswith("/chart/"))
            except Exception as e:  # a refused or dropped connection is an error
                ok, r = False, e
            took = time.monotonic() - start
            with lock:
                times.append((page, took, ok))
                if not ok:
                    errors.append(f"{page}: {getattr(r, 'status', r)}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    all_times = sorted(t for _, t, _ in times)

    def kind(page):
        if page.startswith("/report"):
            return "report"
        if page.startswith("/chart/"):
            return "chart"
        if page.startswith("/table/"):
            return "table"
        return page.split("?")[0].split("/")[1] or "overview"

    by_kind = {}
    for page, t, _ in times:
        by_kind.setdefault(kind(page), []).append(t)
    kinds = {}
    for k, ts in sorted(by_kind.items()):
        ts.sort()
        kinds[k] = {"n": len(ts), "p50_s": round(ts[len(ts) // 2], 3),
                    "p95_s": round(ts[min(len(ts) - 1, int(len(ts) * 0.95))], 3),
                    "max_s": round(ts[-1], 3)}
    fast = sorted(t for p, t, _ in times if kind(p) != "report")
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
        "first_overview": first,
        "seed": seed if views is not None else None,
        "by_page": kinds,
        "slowest_not_report_s": round(fast[-1], 3) if fast else None,
        "warm_up": warm,
    }
    print(json.dumps(out, indent=2))
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
