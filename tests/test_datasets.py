"""KU-HAR download: against a local HTTP server serving archives built here, never the internet."""

from __future__ import annotations

import functools
import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gaitdir.datasets import KUHAR_TRIMMED_URL, download_kuhar
from gaitdir.errors import DatasetError
from gaitdir.recordings import read_kuhar_dataset

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "recordings" / "kuhar"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) of an HTTP server on 127.0.0.1 with an ephemeral port."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def layout_zip(prefix: str = "KU-HAR/2.Trimmed_interpolated_data/") -> bytes:
    """A zip in the trimmed layout: the fixture's walking folders plus a class gaitdir must skip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(FIXTURE.rglob("*.csv")):
            bundle.write(path, prefix + path.relative_to(FIXTURE).as_posix())
        bundle.writestr(prefix + "1.Stand/1001_A_1.csv", "0,0,0,0,0,0,0,0\n10,0,0,0,10,0,0,0\n")
        bundle.writestr("README.txt", "KU-HAR\n")
    return buffer.getvalue()


def test_default_url_is_the_public_trimmed_archive() -> None:
    assert KUHAR_TRIMMED_URL.startswith("https://data.mendeley.com/public-files/datasets/45f952y38r/")
    assert "49c6120b-59fd-466c-97da-35d53a4be595" in KUHAR_TRIMMED_URL


def test_download_keeps_only_the_walking_folders(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    data = layout_zip()
    (folder / "kuhar.zip").write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    dest = tmp_path / "data"
    root = download_kuhar(
        dest, url=f"{base}/kuhar.zip", progress=lambda done, total: calls.append((done, total))
    )
    assert root == dest / "KU-HAR"
    assert sorted(p.name for p in root.iterdir()) == ["11.Walk", "12.Walk-backwards"]
    assert sorted(p.name for p in dest.iterdir()) == ["KU-HAR"]  # archive and temp files gone
    assert calls[0] == (0, len(data)) and calls[-1] == (len(data), len(data))
    recordings = read_kuhar_dataset(root)
    assert [str(r.labels[0]) for r in recordings] == ["forward", "forward", "backward"]
    # Downloading again replaces the folder cleanly.
    assert download_kuhar(dest, url=f"{base}/kuhar.zip") == root
    assert len(read_kuhar_dataset(root)) == 3


def test_archive_nested_in_an_archive(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.writestr("2.Trimmed_interpolated_data.zip", layout_zip(prefix="Trimmed/"))
    (folder / "outer.zip").write_bytes(outer.getvalue())
    root = download_kuhar(tmp_path / "d", url=f"{base}/outer.zip")
    assert len(read_kuhar_dataset(root)) == 3


def test_not_a_zip(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    (folder / "page.zip").write_bytes(b"<html>Sign in to download</html>")
    with pytest.raises(DatasetError, match="not a valid zip"):
        download_kuhar(tmp_path / "d", url=f"{base}/page.zip")
    assert list((tmp_path / "d").iterdir()) == []


def test_crc_failure(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("11.Walk/1001_L_1.csv", "0,1,2,3,0,1,2,3\n" * 50)
        bundle.writestr("12.Walk-backwards/1001_M_1.csv", "0,1,2,3,0,1,2,3\n" * 50)
    data = bytearray(buffer.getvalue())
    data[data.index(b"0,1,2,3") + 3] ^= 0x01  # flip one bit of the stored data
    (folder / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="CRC check failed"):
        download_kuhar(tmp_path / "d", url=f"{base}/bad.zip")
    assert list((tmp_path / "d").iterdir()) == []


def test_wrong_layout(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("11.Walk/1001_L_1.csv", "0,1,2,3,0,1,2,3\n")
    (folder / "half.zip").write_bytes(buffer.getvalue())
    with pytest.raises(DatasetError, match=r"12\.Walk-backwards"):
        download_kuhar(tmp_path / "d", url=f"{base}/half.zip")


def test_path_traversal_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("11.Walk/1001_L_1.csv", "0,1,2,3,0,1,2,3\n")
        bundle.writestr("12.Walk-backwards/1001_M_1.csv", "0,1,2,3,0,1,2,3\n")
        bundle.writestr("11.Walk/../../../escaped.csv", "x\n")
    (folder / "evil.zip").write_bytes(buffer.getvalue())
    with pytest.raises(DatasetError, match="leaves the extraction folder"):
        download_kuhar(tmp_path / "d", url=f"{base}/evil.zip")
    assert not list(tmp_path.rglob("escaped.csv"))


def test_http_error(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_kuhar(tmp_path / "d", url=f"{base}/missing.zip")


def test_unreachable_says_offline_and_gives_the_url(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the port is closed now: connecting is refused at once
    url = f"http://127.0.0.1:{port}/kuhar.zip"
    with pytest.raises(DatasetError) as info:
        download_kuhar(tmp_path / "d", url=url, timeout_s=5)
    assert "offline" in str(info.value) and url in str(info.value)
    assert list((tmp_path / "d").iterdir()) == []
