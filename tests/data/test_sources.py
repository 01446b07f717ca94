"""Where data files come from: folders in order, the cache, a real HTTP download."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import pytest

import equilens.data.sources as sources
from equilens.data import locate
from equilens.errors import DataError

TRAIN = "rmd17_ethanol_train_01.npz"
TEST = "rmd17_ethanol_test_01.npz"


class _Server:
    """A real HTTP server on 127.0.0.1 serving one folder; counts GET requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                log.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Clean environment: no data folder, a fresh cache path, no proxies."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY", sources.DATA_DIR_ENV):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv(sources.CACHE_DIR_ENV, str(cache))
    monkeypatch.setenv(sources.DATA_URL_ENV, "http://127.0.0.1:9")  # nothing listens there
    return cache


@pytest.fixture
def served(tmp_path, rmd17_dir):
    """A folder with copies of the two ethanol files, served over HTTP."""
    folder = tmp_path / "served"
    folder.mkdir()
    for name in (TRAIN, TEST):
        shutil.copyfile(rmd17_dir / name, folder / name)
    server = _Server(folder)
    yield folder, server
    server.close()


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_download_verify_cache(env, served, monkeypatch, rmd17_dir):
    folder, server = served
    monkeypatch.setenv(sources.DATA_URL_ENV, server.url)
    assert not env.exists()
    path = locate(TRAIN)
    assert path == env / TRAIN
    assert path.read_bytes() == (rmd17_dir / TRAIN).read_bytes()
    assert server.requests == [f"/{TRAIN}"]
    assert sorted(p.name for p in env.iterdir()) == [TRAIN]  # no .part left behind
    # Second call: from the cache, no request.
    assert locate(TRAIN) == path
    assert server.requests == [f"/{TRAIN}"]
    # A trailing slash in the base URL is fine.
    monkeypatch.setenv(sources.DATA_URL_ENV, server.url + "/")
    assert locate(TEST) == env / TEST
    assert server.requests == [f"/{TRAIN}", f"/{TEST}"]


def test_download_wrong_bytes_keeps_nothing(env, served, monkeypatch):
    folder, server = served
    _corrupt(folder / TRAIN)
    monkeypatch.setenv(sources.DATA_URL_ENV, server.url)
    with pytest.raises(DataError, match=r"SHA-256 .* expected .*nothing was kept") as info:
        locate(TRAIN)
    assert "\n" not in str(info.value)
    assert server.requests == [f"/{TRAIN}"]
    assert list(env.iterdir()) == []  # neither the file nor a hidden .part file


def test_download_missing_on_server(env, served, monkeypatch):
    folder, server = served
    (folder / TEST).unlink()
    monkeypatch.setenv(sources.DATA_URL_ENV, server.url)
    with pytest.raises(DataError, match=r"could not download .*--data-dir"):
        locate(TEST)
    assert list(env.iterdir()) == []


def test_unreachable_url(env, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(sources.DATA_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1:\d+/"
                       + TRAIN.replace(".", r"\.")) as info:
        locate(TRAIN)
    message = str(info.value)
    assert "\n" not in message
    assert "--data-dir" in message and sources.DATA_DIR_ENV in message
    assert not env.exists() or list(env.iterdir()) == []


def test_unknown_file_is_not_downloaded(env, tmp_path):
    with pytest.raises(DataError, match=r"my_data\.npz not found in .*; pass --data-dir DIR"):
        locate("my_data.npz", tmp_path)
    assert not env.exists()
    # Without download, a published file missing everywhere is an error too.
    with pytest.raises(DataError, match=r"not found"):
        locate(TRAIN, download=False)


def test_order_of_sources(env, tmp_path, monkeypatch, rmd17_dir):
    flag, envdir = tmp_path / "flag", tmp_path / "envdir"
    for folder in (flag, envdir, env):
        folder.mkdir()
        shutil.copyfile(rmd17_dir / TEST, folder / TEST)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(envdir))
    assert sources.candidate_dirs(flag) == [flag, envdir, env]
    assert locate(TEST, flag) == flag / TEST
    assert locate(TEST, str(flag)) == flag / TEST
    assert locate(TEST) == envdir / TEST
    monkeypatch.delenv(sources.DATA_DIR_ENV)
    assert locate(TEST) == env / TEST
    # A folder without the file is skipped.
    (flag / TEST).unlink()
    assert locate(TEST, flag) == env / TEST


def test_corrupt_file_in_data_dir_rejected(env, tmp_path, rmd17_dir):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copyfile(rmd17_dir / TRAIN, folder / TRAIN)
    _corrupt(folder / TRAIN)
    with pytest.raises(DataError, match=r"SHA-256 .* does not match the published"):
        locate(TRAIN, folder)
    # Even with a good copy in the cache: the first source holding the file decides.
    env.mkdir()
    shutil.copyfile(rmd17_dir / TRAIN, env / TRAIN)
    with pytest.raises(DataError, match="SHA-256"):
        locate(TRAIN, folder)
    assert (folder / TRAIN).is_file()  # the user's file is not deleted


def test_verify_real_files(rmd17_dir):
    for name in (TRAIN, TEST):
        assert sources.verify(rmd17_dir / name) == sources.known_checksums()[name]
    assert sources.known_checksums()[TRAIN] == (
        "096946747b8d9dcfa042b44f8debbd3da387dfe1586b659e3be789cc4927316a")


def test_cache_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv(sources.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_dir() == tmp_path / "xdg" / "equilens" / "rmd17"
    monkeypatch.setenv(sources.CACHE_DIR_ENV, str(tmp_path / "c"))
    assert sources.cache_dir() == tmp_path / "c"
