"""Fetching the dataset against a local HTTP server (Range support) and moto's S3 on loopback."""

import hashlib
import importlib.util
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from lastfm.platforms import dataset
from lastfm.platforms.dataset import ChecksumError, DiskFullError, NetworkError, TruncatedArchiveError, fetch, upload

PLAYS = dataset.PLAYS_FILE
PROFILES = dataset.PROFILES_FILE


def _content(seed: int, size: int) -> bytes:
    # hash-chained bytes: incompressible, so the archive is about `size` long and a cut lands mid-member
    blocks, block = [], seed.to_bytes(8, "big")
    for _ in range(-(-size // 32)):
        block = hashlib.sha256(block).digest()
        blocks.append(block)
    return b"".join(blocks)[:size]


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"lastfm-dataset-1K/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


FILES = {"README.txt": b"readme\n", PROFILES: _content(1, 20_000), PLAYS: _content(2, 400_000)}
EXPECTED = {PLAYS: hashlib.md5(FILES[PLAYS]).hexdigest(), PROFILES: hashlib.md5(FILES[PROFILES]).hexdigest()}
ARCHIVE = _tar_gz(FILES)


class ArchiveServer:
    """Serves `body` at /lastfm-dataset-1K.tar.gz with Range support; can cut the first reply."""

    def __init__(self, body: bytes, cut_first_after: int | None = None):
        self.body, self.cut_first_after, self.requests = body, cut_first_after, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(server.body) - start))
                self.end_headers()
                payload = server.body[start:]
                if server.cut_first_after is not None and len(server.requests) == 1:
                    payload = payload[: server.cut_first_after]  # then hang up: a cut connection
                self.wfile.write(payload)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{dataset.ARCHIVE_NAME}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes, cut_first_after: int | None = None) -> ArchiveServer:
        servers.append(ArchiveServer(body, cut_first_after))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_fetch_downloads_verifies_and_extracts(serve, tmp_path):
    server = serve(ARCHIVE)
    files = fetch(server.url, tmp_path, EXPECTED, progress=False)
    assert {name: path.read_bytes() for name, path in files.items()} == {PLAYS: FILES[PLAYS], PROFILES: FILES[PROFILES]}
    assert (tmp_path / f"{PLAYS}.md5").read_text() == f"{EXPECTED[PLAYS]}  {PLAYS}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([PLAYS, PROFILES, f"{PLAYS}.md5", f"{PROFILES}.md5"])
    # a second fetch finds the verified files and does not download again
    fetch(server.url, tmp_path, EXPECTED, progress=False)
    assert server.requests == [None]


def test_interrupted_download_resumes_with_range(serve, tmp_path):
    cut = 150_000
    server = serve(ARCHIVE, cut_first_after=cut)
    with pytest.raises(NetworkError, match="run again to resume"):
        fetch(server.url, tmp_path, EXPECTED, progress=False)
    assert not (tmp_path / dataset.ARCHIVE_NAME).exists() and not (tmp_path / PLAYS).exists()
    assert (tmp_path / f"{dataset.ARCHIVE_NAME}.part").stat().st_size == cut

    files = fetch(server.url, tmp_path, EXPECTED, keep_archive=True, progress=False)
    assert server.requests == [None, f"bytes={cut}-"]
    assert (tmp_path / dataset.ARCHIVE_NAME).read_bytes() == ARCHIVE
    assert files[PLAYS].read_bytes() == FILES[PLAYS]
    assert _leftovers(tmp_path) == []


def test_corrupted_archive_is_rejected_naming_the_checksum(serve, tmp_path):
    tampered = dict(FILES, **{PLAYS: FILES[PLAYS][:-1] + b"X"})
    server = serve(_tar_gz(tampered))
    with pytest.raises(ChecksumError) as error:
        fetch(server.url, tmp_path, EXPECTED, progress=False)
    message = str(error.value)
    assert PLAYS in message and EXPECTED[PLAYS] in message and hashlib.md5(tampered[PLAYS]).hexdigest() in message
    assert "\n" not in message
    assert not (tmp_path / PLAYS).exists() and _leftovers(tmp_path) == []


def test_truncated_archive_is_rejected_and_leaves_no_half_file(serve, tmp_path):
    server = serve(ARCHIVE[: len(ARCHIVE) * 2 // 3])  # the server itself only has a cut copy
    with pytest.raises(TruncatedArchiveError, match="truncated or damaged"):
        fetch(server.url, tmp_path, EXPECTED, progress=False)
    assert not (tmp_path / PLAYS).exists() and _leftovers(tmp_path) == []


def test_no_network_is_one_clear_line(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NetworkError, match=rf"cannot reach http://127.0.0.1:{port}/"):
        fetch(f"http://127.0.0.1:{port}/{dataset.ARCHIVE_NAME}", tmp_path, EXPECTED, progress=False, timeout=5)


def test_full_disk_is_refused_before_writing(serve, tmp_path, monkeypatch):
    server = serve(ARCHIVE)
    monkeypatch.setattr(dataset.shutil, "disk_usage", lambda _: type("Usage", (), {"free": 1000})())
    with pytest.raises(DiskFullError, match=f"{len(ARCHIVE):,} bytes needed"):
        fetch(server.url, tmp_path, EXPECTED, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_one_line_and_exits_1(serve, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("fetch_dataset",
                                                  Path(__file__).parents[1] / "scripts/fetch_dataset.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    server = serve(_tar_gz(dict(FILES, **{PROFILES: b"other"})))
    code = script.main(["--url", server.url, "--dest", str(tmp_path), "--no-progress",
                        "--expect", f"{PLAYS}={EXPECTED[PLAYS]}", "--expect", f"{PROFILES}={EXPECTED[PROFILES]}"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: checksum mismatch for userid-profile.tsv")


@pytest.fixture
def s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    client.create_bucket(Bucket="lastfm")
    yield client
    server.stop()


def test_upload_is_multipart_to_s3(s3, tmp_path):
    big = tmp_path / PLAYS
    big.write_bytes(_content(3, 11 * 1024 * 1024))  # three 5 MiB parts (S3's smallest part size)
    small = tmp_path / PROFILES
    small.write_bytes(b"one line\n")
    uris = upload([big, small], "s3://lastfm/raw/1k", part_size=5 * 1024 * 1024, progress=False)
    assert uris == [f"s3://lastfm/raw/1k/{PLAYS}", f"s3://lastfm/raw/1k/{PROFILES}"]
    head = s3.head_object(Bucket="lastfm", Key=f"raw/1k/{PLAYS}")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object's ETag counts its parts
    assert s3.get_object(Bucket="lastfm", Key=f"raw/1k/{PLAYS}")["Body"].read() == big.read_bytes()
    assert s3.get_object(Bucket="lastfm", Key=f"raw/1k/{PROFILES}")["Body"].read() == b"one line\n"


def test_upload_to_a_missing_bucket_is_one_line(s3, tmp_path):
    path = tmp_path / PROFILES
    path.write_bytes(b"x")
    with pytest.raises(dataset.FetchError, match="upload of .* to s3://nobucket/userid-profile.tsv failed"):
        upload([path], "s3://nobucket", progress=False)
