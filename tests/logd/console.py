#!/usr/bin/python3
"""tests/logd/console.t's browser: headless Debian chromium driven by
chromium-driver through python3-selenium.  Logs in with the token,
reads what the page draws and compares it with the database (sqlite3,
read-only; or, with CONSOLE_PG_DIR and PG_DB set, the test's PostgreSQL
server through tests/tools/pg.sh psql), applies a filter, hides a node,
pages and searches the flows table, and saves a screenshot.  Prints one
TAP line per check.

  console.py URL TOKEN DB SCREENSHOT PROFILE_DIR
"""
import os
import re
import sqlite3
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

url, token, dbpath, shot, profile = sys.argv[1:6]
fails = 0


def check(name, cond, detail=""):
    global fails
    print(("ok - " if cond else "not ok - ") + name +
          (f" ({detail})" if detail else ""))
    if not cond:
        fails += 1
    sys.stdout.flush()


class PgDb:
    """The few queries below on PostgreSQL: ? parameters inlined (ints,
    or text quoted), rows read from psql's unaligned output."""

    def __init__(self, pgdir):
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        self.cmd = [os.path.join(top, "tests/tools/pg.sh"), "psql", pgdir,
                    "-F", "\x1f", "-c"]

    @staticmethod
    def lit(v):
        if isinstance(v, int):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    @staticmethod
    def val(t):
        return int(t) if re.fullmatch(r"-?[0-9]+", t) else t

    def execute(self, sql, args=()):
        parts = sql.split("?")
        if len(parts) != len(args) + 1:
            raise ValueError("parameters do not match: " + sql)
        text = parts[0] + "".join(self.lit(a) + p
                                   for a, p in zip(args, parts[1:]))
        out = subprocess.run(self.cmd + [text], check=True,
                             capture_output=True, text=True).stdout
        return [tuple(self.val(c) for c in line.split("\x1f"))
                for line in out.splitlines()]


if os.environ.get("CONSOLE_PG_DIR"):
    db = PgDb(os.environ["CONSOLE_PG_DIR"])
else:
    db = sqlite3.connect(f"file:{dbpath}?mode=ro", uri=True)


def q1(sql, *args):
    return list(db.execute(sql, args))[0][0]


opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
          "--disable-dev-shm-usage", "--ignore-certificate-errors",
          "--disable-background-networking", "--disable-component-update",
          "--disable-sync", "--no-first-run", "--disable-default-apps",
          "--disable-extensions", "--window-size=1500,1300",
          f"--user-data-dir={profile}"):
    opts.add_argument(a)
opts.accept_insecure_certs = True
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
drv.set_page_load_timeout(30)


def loads():
    return int(drv.execute_script("return document.body.dataset.loaded || 0"))


def wait_refresh(before, what, timeout=20):
    """Wait (bounded) until the page finished a refresh after @before."""
    end = time.time() + timeout
    while time.time() < end:
        if loads() > before and not drv.execute_script(
                "return document.body.dataset.busy || "
                "document.getElementById('status').className"):
            return True
        time.sleep(0.1)
    print(f"# no refresh after {what}: status "
          f"{drv.find_element(By.ID, 'status').text!r}")
    return False


def count(sel):
    return drv.execute_script(
        f"return document.querySelectorAll({sel!r}).length")


def total():
    return int(drv.find_element(By.ID, "total").text)


def rows():
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#flows tbody tr'))"
        ".map(r => r.dataset.tracker + '/' + r.dataset.seq)")


try:
    # a wrong token first: no cookie, 401
    drv.get(url + "?token=wrong" + token[5:])
    check("wrong token: no cookie set", not drv.get_cookies())
    check("wrong token: the page is not served",
          "unauthorized" in drv.page_source)

    drv.get(url + "?token=" + token)
    cookies = drv.get_cookies()
    c = cookies[0] if cookies else {}
    check("login redirects to / (no token left in the address bar)",
          drv.current_url.rstrip("/") == url.rstrip("/"), drv.current_url)
    check("login sets an HttpOnly, Secure, SameSite=Strict cookie",
          c.get("httpOnly") is True and c.get("secure") is True and
          c.get("sameSite") == "Strict", str({k: c.get(k) for k in
                                               ("httpOnly", "secure",
                                                "sameSite")}))
    check("the page loads its data", wait_refresh(0, "login"))
    # live refresh off from here on: every refresh is ours
    drv.find_element(By.ID, "live").click()

    # the map against the database (all records are of the last minutes)
    vms = sorted(r[0] for r in db.execute("SELECT DISTINCT vm FROM records"))
    shown = sorted(drv.execute_script(
        "return Array.from(document.querySelectorAll('#map g.cluster'))"
        ".map(g => g.dataset.vm)"))
    check("the map has one box per VM", shown == vms, f"{shown} vs {vms}")
    n_edges = q1("SELECT count(*) FROM (SELECT DISTINCT vm, src_cgroup, "
                 "dst_name, dport, proto FROM records) AS x")
    n_nodes = q1("SELECT count(*) FROM (SELECT DISTINCT vm, src_cgroup "
                 "FROM records) AS x") + q1("SELECT count(DISTINCT dst_name) "
                                       "FROM records")
    e0, n0 = count("#map g.edge"), count("#map g.node")
    check("map edges: one per (workload, name, port, proto) in the DB",
          e0 == n_edges, f"{e0} vs {n_edges}")
    check("map nodes: workloads and names in the DB", n0 == n_nodes,
          f"{n0} vs {n_nodes}")
    info = drv.find_element(By.ID, "map-info").text
    nrec = q1("SELECT count(*) FROM records")
    check("map counts every connection", f"of {nrec} connections" in info,
          info)
    check("flows total matches the DB", total() == nrec,
          f"{total()} vs {nrec}")

    # the hostile record's strings: text, not markup
    check("no markup from records ran",
          drv.execute_script("return window.pwned === undefined"))
    check("no element made from records' strings", drv.execute_script(
        "return document.querySelectorAll('img, #map foreignObject, "
        "#map svg svg, #flows svg, body script:not([src])').length") == 0)
    n = loads()
    s = drv.find_element(By.ID, "search")
    s.send_keys("<i>c\n")
    wait_refresh(n, "hostile search")
    cell = drv.execute_script(
        "const r = document.querySelector('#flows tbody tr');"
        "return r ? r.children[7].textContent : ''")
    check("the hostile comm is shown as text in the table",
          cell == '<i>c</i>&amp; /"><img src=x onerror=window.pwned=1> [666]',
          cell)
    check("  and the hostile node's title on the map", drv.execute_script(
        "return Array.from(document.querySelectorAll('#map g.node text'))"
        ".some(t => t.textContent === '<i>c</i>&amp;')"))
    n = loads()
    s.clear()
    s.send_keys("\n")
    wait_refresh(n, "search cleared")

    # a filter: UDP only (the DNS calls)
    n = loads()
    Select(drv.find_element(By.ID, "f-proto")).select_by_value("udp")
    wait_refresh(n, "proto filter")
    e1, n1 = count("#map g.edge"), count("#map g.node")
    x_edges = q1("SELECT count(*) FROM (SELECT DISTINCT vm, src_cgroup, "
                 "dst_name, dport FROM records WHERE proto = 2) AS x")
    x_nodes = q1("SELECT count(*) FROM (SELECT DISTINCT vm, src_cgroup "
                 "FROM records WHERE proto = 2) AS x") + q1(
        "SELECT count(DISTINCT dst_name) FROM records WHERE proto = 2")
    check("proto=udp: fewer edges, as many as the DB has",
          e1 < e0 and e1 == x_edges, f"{e0} -> {e1}, DB {x_edges}")
    check("proto=udp: nodes as in the DB", n1 == x_nodes,
          f"{n0} -> {n1}, DB {x_nodes}")
    udp = q1("SELECT count(*) FROM records WHERE proto = 2")
    check("proto=udp: flows total as in the DB", total() == udp,
          f"{total()} vs {udp}")
    n = loads()
    Select(drv.find_element(By.ID, "f-proto")).select_by_value("")
    wait_refresh(n, "proto cleared")
    port = drv.find_element(By.ID, "f-port")
    port.send_keys("5432")
    drv.find_element(By.ID, "apply").click()
    wait_refresh(n, "port filter")
    p5432 = q1("SELECT count(*) FROM records WHERE sport = 5432 OR "
               "dport = 5432")
    check("port=5432: flows total as in the DB", total() == p5432,
          f"{total()} vs {p5432}")
    n = loads()
    port.clear()
    drv.find_element(By.ID, "apply").click()
    wait_refresh(n, "clear port")
    check("filters cleared: the whole map again",
          count("#map g.edge") == e0, str(count("#map g.edge")))

    # paging: page 2 differs, totals stay
    p1 = rows()
    n = loads()
    drv.find_element(By.ID, "next").click()
    wait_refresh(n, "next page")
    p2 = rows()
    check("flows page 1 has 50 rows", len(p1) == 50, str(len(p1)))
    check("flows page 2 differs from page 1",
          p2 and not set(p1) & set(p2), f"{len(p2)} rows")
    check("flows total unchanged by paging", total() == nrec)
    n = loads()
    drv.find_element(By.ID, "prev").click()
    wait_refresh(n, "prev page")
    check("prev: page 1 again", rows() == p1)

    # sort by bytes_fwd, descending
    n = loads()
    drv.find_element(By.CSS_SELECTOR, "th[data-sort=bytes_fwd]").click()
    wait_refresh(n, "sort")
    top = drv.execute_script(
        "return document.querySelector('#flows tbody tr').children[10]"
        ".textContent")
    mx = q1("SELECT max(bytes_fwd) FROM records")
    check("sorted by bytes > descending: the largest first",
          int(top) == mx, f"{top} vs {mx}")

    # search
    n = loads()
    s = drv.find_element(By.ID, "search")
    s.send_keys("client3\n")
    wait_refresh(n, "search")
    c3 = q1("SELECT count(*) FROM records WHERE src_comm LIKE '%client3%'")
    check("search 'client3': total as in the DB", total() == c3 and c3 > 0,
          f"{total()} vs {c3}")
    n = loads()
    s.clear()
    s.send_keys("\n")
    wait_refresh(n, "clear search")

    # a node: click filters the table, hide removes it from the map
    node = drv.execute_script(
        "const g = Array.from(document.querySelectorAll('#map g.node.workload'))[0];"
        "return g ? [g.dataset.id, g.querySelector('rect').getAttribute('x')] : null")
    vm, cg = node[0][1:].split("\x01")[:2]
    n = loads()
    drv.execute_script(
        "document.querySelector('#map g.node.workload rect')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    wait_refresh(n, "node click")
    nn = q1("SELECT count(*) FROM records WHERE vm = ? AND src_cgroup = ?",
            vm, cg)
    check("clicking a node filters the flows table to its records",
          total() == nn and nn > 0, f"{vm} {cg}: {total()} vs {nn}")
    n = loads()
    drv.find_element(By.ID, "sel-hide").click()
    wait_refresh(n, "hide")
    ne = q1("SELECT count(*) FROM (SELECT DISTINCT dst_name, dport, proto "
            "FROM records WHERE vm = ? AND src_cgroup = ?) AS x", vm, cg)
    check("hide: one node less, its edges gone",
          count("#map g.node") == n0 - 1 and
          count("#map g.edge") == e0 - ne,
          f"nodes {count('#map g.node')}, edges {count('#map g.edge')}")
    check("the hidden node is no longer drawn", not drv.execute_script(
        "return Array.from(document.querySelectorAll('#map g.node'))"
        ".some(g => g.dataset.id === arguments[0])", node[0]))
    n = loads()
    drv.find_element(By.ID, "unhide").click()
    wait_refresh(n, "unhide")
    check("show all: the node is back", count("#map g.node") == n0)

    # an edge click: the table holds that edge's records
    n = loads()
    drv.execute_script(
        "document.querySelector('#map g.edge path.hit')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    wait_refresh(n, "edge click")
    check("clicking an edge filters the table", 0 < total() < nrec,
          str(total()))
    n = loads()
    drv.find_element(By.ID, "sel-clear").click()
    wait_refresh(n, "clear selection")

    # health: one row per stream, last seq as in the DB
    hs = drv.execute_script(
        "return Array.from(document.querySelectorAll('#health tbody tr'))"
        ".map(r => [r.children[0].textContent, r.children[1].textContent])")
    dbh = [[t, str(s)] for t, s in db.execute(
        "SELECT tracker, last_seq FROM streams ORDER BY tracker, epoch")]
    check("health: trackers and last seq as in the DB", hs == dbh,
          f"{hs} vs {dbh}")

    # the time window: 5 min ending 5 min ago holds nothing
    n = loads()
    Select(drv.find_element(By.ID, "w-preset")).select_by_value("300")
    wait_refresh(n, "5 min")
    check("last 5 min: everything (the records are fresh)",
          total() == nrec, str(total()))
    n = loads()
    drv.execute_script(
        "const s = document.getElementById('w-slide'); s.value = 1;"
        "s.dispatchEvent(new Event('change'))")
    wait_refresh(n, "slider")
    check("slider back one window: an empty map and table",
          count("#map g.node") == 0 and total() == 0,
          f"{count('#map g.node')} nodes, {total()} rows")
    n = loads()
    drv.execute_script(
        "const s = document.getElementById('w-slide'); s.value = 0;"
        "s.dispatchEvent(new Event('change'))")
    wait_refresh(n, "slider back")
    drv.save_screenshot(shot)
    check("screenshot saved", True, shot)
finally:
    drv.quit()
sys.exit(1 if fails else 0)
