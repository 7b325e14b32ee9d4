"""The book (``python -m minivae book``) opened in a real browser: pages load, equations typeset, nothing external.

One build of two lessons (quick mode) is served on 127.0.0.1 and opened in
headless Chromium (Debian's ``chromium``), driven through the DevTools
protocol over a pipe (``--remote-debugging-pipe``: JSON messages ended by a
NUL byte, commands on the browser's fd 3, answers and events on its fd 4).
Skips with its reason where Chromium or the docs extra is missing.
"""
import base64
import fcntl
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import minivae.book
from minivae.book import STATE, build_book, claim_book_folder, is_book
from minivae.book.site import missing_tools
from minivae.cli import main
from minivae.errors import ConfigError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--hide-scrollbars", "--window-size=1200,1400")
PAGES = ("index.html", "lessons/01_latent_variable_models.html", "lessons/02_kl_divergence.html")
#: what a page reports: MathJax's typeset elements, TeX left in the text (outside code), every image's state
INSPECT = r"""(() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.parentElement.closest('pre, code, script, style, .MathJax_Preview') ? NodeFilter.FILTER_REJECT
                                                                             : NodeFilter.FILTER_ACCEPT});
  let text = ''; while (walker.nextNode()) text += walker.currentNode.nodeValue;
  const tex = ['$$', '\\(', '\\[', '\\begin{', '\\frac', '\\mid'].filter(t => text.includes(t));
  return JSON.stringify({math: document.querySelectorAll('.MathJax, .MathJax_Display').length, tex: tex,
    title: document.title,
    images: [...document.images].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}))});
})()"""
#: MathJax's hidden MathML for screen readers asks for TeX fonts its package does not ship (the math shown is STIX-Web)
MISSING_FONTS = "/_static/mathjax/fonts/HTML-CSS/TeX/otf/"
#: resolves when MathJax 2 has typeset the page (at once on a page without mathematics)
TYPESET = """new Promise(done => { const t0 = Date.now(); (function wait() {
  if (!document.querySelector('script[src*="MathJax.js"]')) return done('no math');
  if (window.MathJax && MathJax.isReady) return MathJax.Hub.Queue(() => done('typeset'));
  if (Date.now() - t0 > 20000) return done('MathJax never started'); setTimeout(wait, 50); })(); })"""


def high_fd(fd):
    """``fd`` moved to a number above 9, so the browser's 3 and 4 never clash with it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """Headless Chromium over the DevTools pipe: ``send`` a command, collect events as they come."""

    def __init__(self, profile):
        to_browser, self._commands = map(high_fd, os.pipe())
        self._answers, from_browser = map(high_fd, os.pipe())
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.proc = subprocess.Popen(["bash", "-c", script, CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                                      "--remote-debugging-pipe", "about:blank"], pass_fds=(to_browser, from_browser),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser), os.close(from_browser)
        self._buffer, self._id, self.events = b"", 0, []
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _read(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, session=None, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def page(self, method, **params):
        return self.send(method, session=self.session, **params)

    def evaluate(self, expression):
        return self.page("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                         timeout=30000)["result"]["value"]

    def open(self, url):
        """Navigate to ``url`` and wait for its load event and MathJax's typesetting; returns INSPECT's report."""
        self.page("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, f"{url} never finished loading"
            self.page("Runtime.evaluate", expression="1")          # reads the events that came meanwhile
            time.sleep(0.05)
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        report = json.loads(self.evaluate(INSPECT))
        report["mathjax"] = self.evaluate(TYPESET)
        report.update(json.loads(self.evaluate(INSPECT)))
        return report

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._commands), os.close(self._answers)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    if missing_tools():
        pytest.skip(f"the docs extra is not installed ({', '.join(missing_tools())}): pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("book") / "site"
    t0 = time.perf_counter()
    summary = build_book(out, lessons=["01", "02"])
    summary["test_build_s"] = time.perf_counter() - t0
    return out, summary


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(book):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(book[0])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_book_holds_the_lessons_the_guides_and_the_api_reference(book):
    out, summary = book
    assert summary["lessons"] == ["01_latent_variable_models", "02_kl_divergence"] and summary["mode"] == "quick"
    for page in PAGES + ("lessons/README.html", "minivae/INSTRUCTORS.html", "minivae/cli/README.html",
                        "api/index.html", "api/models.html", "_static/mathjax/MathJax.js"):
        assert (out / page).is_file(), page
    assert "minivae.models.vae.VAE" in (out / "api" / "models.html").read_text(encoding="utf-8")   # autodoc ran
    lesson = (out / PAGES[1]).read_text(encoding="utf-8")
    assert "<img" in lesson and "Lesson 2" in (out / PAGES[2]).read_text(encoding="utf-8")   # executed: figures
    assert is_book(out) and "index.html" in summary["entries"] and STATE not in summary["entries"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_the_book_in_a_browser_typesets_loads_every_image_and_asks_only_its_own_server(served, tmp_path):
    browser = Browser(tmp_path / "profile")
    try:
        browser.page("Page.enable"), browser.page("Network.enable"), browser.page("Runtime.enable")
        reports = {page: browser.open(f"{served}/{page}") for page in PAGES}
        shot = base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"])
    finally:
        browser.close()
    for page, r in reports.items():
        assert r["title"] and all(i["ok"] for i in r["images"]), (page, [i for i in r["images"] if not i["ok"]])
        assert not r["tex"], f"{page}: raw TeX left in the text: {r['tex']}"
    for page in PAGES[1:]:
        assert reports[page]["mathjax"] == "typeset" and reports[page]["math"] > 10, (page, reports[page])
        assert reports[page]["images"], f"{page}: no figure"
    urls = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert any("MathJax" in u for u in urls)
    outside = [u for u in urls if not u.startswith((served + "/", "data:", "blob:", "about:blank"))]
    assert not outside, f"requests to other hosts: {outside}"
    failed = [e["params"]["response"]["url"] for e in browser.events if e.get("method") == "Network.responseReceived"
              and e["params"]["response"]["status"] >= 400]
    assert not [u for u in failed if not u.endswith("/favicon.ico") and MISSING_FONTS not in u], failed
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "lesson-02.png").write_bytes(shot)
    if os.environ.get("MINIVAE_SCREENSHOT_DIR"):
        folder = Path(os.environ["MINIVAE_SCREENSHOT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "book-lesson-02.png").write_bytes(shot)


def test_a_folder_that_is_not_a_book_is_refused_without_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--out .*not empty and not a book.*--overwrite"):
        claim_book_folder(tmp_path)
    claim_book_folder(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"           # --overwrite keeps what the book does not write


def test_a_rebuild_removes_only_what_the_previous_book_made(tmp_path):
    """A book written over a folder with --overwrite: rebuilding it never removes the files that were there."""
    (tmp_path / STATE).mkdir()
    (tmp_path / STATE / "book.json").write_text(json.dumps({"entries": ["old.html", "_static"]}))
    (tmp_path / "_static").mkdir()
    (tmp_path / "old.html").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    claim_book_folder(tmp_path)
    assert sorted(e.name for e in tmp_path.iterdir()) == [STATE, "notes.txt"]


def test_a_previous_book_is_replaced_but_its_executed_lessons_are_kept(tmp_path):
    (tmp_path / STATE / "executed").mkdir(parents=True)
    (tmp_path / STATE / "book.json").write_text("{}")
    (tmp_path / STATE / "executed" / "01.ipynb").write_text("{}")
    (tmp_path / "old.html").write_text("old")
    claim_book_folder(tmp_path)
    assert not (tmp_path / "old.html").exists() and (tmp_path / STATE / "executed" / "01.ipynb").exists()


def test_without_the_docs_extra_the_command_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(minivae.book, "missing_tools", lambda: ["sphinx", "myst-nb"])
    assert main(["book", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "pip install -e '.[docs]'" in err and "sphinx, myst-nb" in err


@pytest.mark.parametrize("flags,match", [(["--lessons", "01,99"], "--lessons: no lesson '99'; the lessons are 01, 02"),
                                         (["--lessons", ","], "--lessons: expected lesson numbers"),
                                         (["--figures", "figures/lessons"], "--figures: only full mode")])
def test_bad_options_are_one_line(monkeypatch, tmp_path, capsys, flags, match):
    monkeypatch.setattr(minivae.book, "missing_tools", lambda: [])
    assert main(["book", "--out", str(tmp_path / "b"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and match in err


def test_ctrl_c_stops_the_book_with_one_line_and_status_130(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("minivae.cli.book.build_book", interrupted)
    assert main(["book", "--out", str(tmp_path / "b")]) == 130
    assert capsys.readouterr().err.strip() == "book: interrupted (Ctrl-C); stopped before it finished"


def test_a_failing_cell_stops_the_build_with_one_line_or_with_keep_going_ends_the_lesson_there(tmp_path):
    """A full run that stops at a check: named (cell and error) by default; shown up to its error with keep_going."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from minivae.book.lessons import STOPPED, executed_lessons
    cells = [nbformat.v4.new_code_cell(src) for src in ("x = 1", "assert x == 2, 'x is not 2'", "y = 3")]
    (tmp_path / "lessons").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "lessons" / "01_fails.ipynb")
    lesson = [tmp_path / "lessons" / "01_fails.ipynb"]
    with pytest.raises(ConfigError, match=r"01_fails.ipynb stopped at cell 1 \(AssertionError: x is not 2\); "
                                          "pass --keep-going"):
        list(executed_lessons(lesson, tmp_path, tmp_path / "kept"))
    (_, kept, where), = executed_lessons(lesson, tmp_path, tmp_path / "kept", keep_going=True)
    nb = nbformat.read(kept, as_version=4)
    assert where == nb.metadata[STOPPED] == "cell 1 (AssertionError: x is not 2)"
    assert nb.cells[1].outputs[0].output_type == "error" and nb.cells[2].outputs == []
