"""Drives the job's web page in headless Chromium (Debian's chromium + chromium-driver, PyPI selenium)
and checks what a user would look at: the job graph, the checkpoint history growing, a SIGKILL and
restart showing up, and the two buttons writing savepoints that `sluice checkpoints` lists (the second
one stops the job).

Run by integration/DashboardBrowserTests.swift, which owns the job: this script asks it to kill and
restart the job by creating HANDSHAKE/kill and waits for HANDSHAKE/restarted. Exits 0 when every
check passed, 1 with the failed check (and a screenshot next to --screenshot) otherwise.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


class CheckFailed(Exception):
    pass


def wait_for(what, condition, timeout):
    """Polls `condition` until it returns a truthy value; raises CheckFailed saying `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the page may be mid-redraw; try again
            last_error = error
        time.sleep(0.25)
    raise CheckFailed(f"timed out after {timeout}s waiting for: {what}" + (f" (last error: {last_error})" if last_error else ""))


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def start_browser(width, height, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                     f"--window-size={width},{height}", f"--user-data-dir={profile}",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
        options.add_argument(argument)
    service = Service(executable_path=os.environ.get("SLUICE_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    return driver


def check(driver, args):
    base = args.url
    driver.get(base)
    wait_for("the page to poll the job twice", lambda: int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-polls") or 0) >= 2, 20)
    if text(driver, "#job-name") != "click-count":
        raise CheckFailed(f"the page names the job {text(driver, '#job-name')!r}, not 'click-count'")
    wait_for("phase 'running'", lambda: text(driver, "#phase").lower() == "running", 20)

    # The graph shows every operator of the job's real graph, and every edge with its partitioning.
    with urllib.request.urlopen(base + "api/dashboard", timeout=5) as response:
        graph = json.load(response)["graph"]
    expected = [v["name"] for v in graph["vertices"]]
    if len(expected) < 3:
        raise CheckFailed(f"the job graph has too few operators: {expected}")
    shown = [g.get_attribute("data-name") for g in driver.find_elements(By.CSS_SELECTOR, "#graph g.vertex")]
    if sorted(shown) != sorted(expected):
        raise CheckFailed(f"the graph shows {shown}, the job has {expected}")
    graph_text = driver.find_element(By.ID, "graph").text
    for name in expected:
        if name[:23] not in graph_text:
            raise CheckFailed(f"operator {name!r} is not written in the graph (its text: {graph_text!r})")
    labels = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#graph text.edge-label")]
    if len(labels) != len(graph["edges"]) or not any(label.startswith("HASH") for label in labels):
        raise CheckFailed(f"edge labels {labels} do not match the edges {graph['edges']} (the keyBy edge is hash-partitioned)")
    print(f"ok: the graph shows {len(expected)} operators {expected} and edges {labels}", flush=True)

    # Per-operator rates, lag and sink transactions fill in.
    def source_rate():
        row = driver.find_element(By.CSS_SELECTOR, f"#operator-rows tr[data-name='{expected[0]}']")
        out = row.find_elements(By.TAG_NAME, "td")[3].text.replace(",", "")
        return out not in ("…", "") and float(out) > 0
    wait_for("the source's records out per second to be above zero", source_rate, 30)
    wait_for("lag per partition in the legend", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#lag-legend span")) >= 1, 20)
    wait_for("committed sink transactions", lambda: int(text(driver, "#sink-committed").replace(",", "")) > 0, 30)
    print("ok: operator rates, lag and committed transactions are shown", flush=True)

    # The checkpoint history grows.
    def checkpoint_ids():
        return [int(tr.get_attribute("data-id")) for tr in driver.find_elements(By.CSS_SELECTOR, "#checkpoint-rows tr[data-kind='checkpoint']")]
    first = wait_for("a completed checkpoint in the history", lambda: max(checkpoint_ids(), default=0), 30)
    grown = wait_for("the checkpoint history to grow", lambda: (ids := checkpoint_ids()) and max(ids) > first and len(ids) >= 2 and ids, 30)
    bars = driver.find_elements(By.CSS_SELECTOR, "#checkpoint-chart rect")
    if len(bars) < 2:
        raise CheckFailed(f"the checkpoint chart has {len(bars)} bars for {len(grown)} checkpoints")
    print(f"ok: the checkpoint history grew from #{first} to #{max(grown)} ({len(grown)} rows, {len(bars)} bars)", flush=True)

    # SIGKILL and restart: the page sees a new process that restored a checkpoint.
    uptime_before = int(driver.find_element(By.ID, "uptime").get_attribute("data-ms"))
    open(os.path.join(args.handshake, "kill"), "w").close()
    wait_for("the test to restart the job", lambda: os.path.exists(os.path.join(args.handshake, "restarted")), 60)
    wait_for("the page to count the process restart", lambda: int(text(driver, "#seen-restarts")) >= 1, 30)
    restored = wait_for("the page to show the checkpoint the new process restored",
                        lambda: driver.find_element(By.ID, "restored").get_attribute("data-id"), 20)
    uptime_after = int(driver.find_element(By.ID, "uptime").get_attribute("data-ms"))
    if int(restored) < 1 or uptime_after >= uptime_before + 60_000:
        raise CheckFailed(f"after the restart: restored {restored!r}, uptime {uptime_after} ms (before: {uptime_before} ms)")
    wait_for("phase 'running' after the restart", lambda: text(driver, "#phase").lower() == "running", 30)
    wait_for("a checkpoint of the new process", lambda: max(checkpoint_ids(), default=0) > int(restored), 30)
    print(f"ok: the restart shows: restored checkpoint {restored}, uptime {uptime_before} ms -> {uptime_after} ms", flush=True)

    # The savepoint button writes a savepoint that `sluice checkpoints` lists.
    driver.find_element(By.ID, "savepoint-btn").click()
    path = wait_for("the savepoint's path under the buttons",
                    lambda: driver.find_element(By.ID, "action-result").get_attribute("data-path"), 60)
    shown_result = text(driver, "#action-result")
    if path not in shown_result:
        raise CheckFailed(f"the page shows {shown_result!r}, not the savepoint path {path!r}")
    listing = subprocess.run([args.sluice, "checkpoints", args.checkpoint_dir], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0 or os.path.basename(path) not in listing.stdout:
        raise CheckFailed(f"`sluice checkpoints` does not list {path}:\n{listing.stdout}{listing.stderr}")
    wait_for("the savepoint in the checkpoint history", lambda: driver.find_elements(By.CSS_SELECTOR, "#checkpoint-rows tr[data-kind='savepoint']"), 20)
    print(f"ok: the savepoint button wrote {path}, and `sluice checkpoints` lists it", flush=True)

    time.sleep(3)  # a few more samples for the charts
    save_screenshot(driver, args.screenshot)
    print(f"ok: screenshot at {args.screenshot}", flush=True)

    # "Stop with savepoint" asks first, then stops the job with a savepoint the catalogue lists.
    driver.find_element(By.ID, "stop-btn").click()
    wait_for("the confirmation dialog", lambda: driver.switch_to.alert, 10).accept()
    stopped = wait_for("the stop savepoint's path under the buttons",
                       lambda: (p := driver.find_element(By.ID, "action-result").get_attribute("data-path")) != path and p, 60)
    listing = subprocess.run([args.sluice, "checkpoints", args.checkpoint_dir], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0 or os.path.basename(stopped) not in listing.stdout:
        raise CheckFailed(f"`sluice checkpoints` does not list the stop savepoint {stopped}:\n{listing.stdout}{listing.stderr}")
    print(f"ok: stop with savepoint wrote {stopped}, and `sluice checkpoints` lists it", flush=True)


def save_screenshot(driver, path):
    """The whole page: the viewport is made as tall as the document, then captured."""
    width, height = driver.execute_script("return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": int(width), "height": int(height), "deviceScaleFactor": 1, "mobile": False})
    time.sleep(1.2)  # one more poll redraws at the new size
    driver.save_screenshot(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:PORT/")
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--sluice", required=True, help="the sluice executable")
    parser.add_argument("--handshake", required=True, help="folder for the kill/restarted files")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=int, default=100, help="seconds before giving up as a whole")
    args = parser.parse_args()

    def give_up(signum, frame):
        raise CheckFailed(f"the browser check did not end within {args.timeout}s (or was told to stop)")
    signal.signal(signal.SIGALRM, give_up)
    signal.signal(signal.SIGTERM, give_up)
    signal.alarm(args.timeout)
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    try:
        driver = start_browser(1400, 1000, profile)
    except Exception as error:
        shutil.rmtree(profile, ignore_errors=True)
        print(f"FAILED: headless Chromium did not start ({error}); scripts/setup.sh installs chromium and chromium-driver", flush=True)
        return 1
    try:
        check(driver, args)
        print("browser check passed", flush=True)
        return 0
    except Exception as error:
        print(f"FAILED: {error}", flush=True)
        try:
            failure = os.path.splitext(args.screenshot)[0] + "-failure.png"
            driver.save_screenshot(failure)
            print(f"screenshot of the failure: {failure}", flush=True)
            for entry in driver.get_log("browser"):
                print(f"browser console: {entry}", flush=True)
        except Exception:
            pass
        return 1
    finally:
        signal.alarm(0)
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
