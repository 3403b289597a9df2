"""Fetch the real Last.fm 1K dataset: download (resumable), verify, extract, optionally upload to S3.

The archive (`lastfm-dataset-1K.tar.gz`, ~640 MB) is downloaded to `<name>.part` with HTTP Range
resume and renamed only once complete; each wanted TSV is streamed out of the archive (never held
in memory) into `<name>.part` while its MD5 is computed, and renamed to its final name only when
the MD5 matches. So a final name always holds a complete, verified file. A verified TSV gets a
`<name>.md5` sidecar in `md5sum` format, which lets the job recognise the real file without
hashing 2.4 GB again.

Every failure is a FetchError subclass whose message is one line meant for the operator.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tarfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

OFFICIAL_URL = "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-1K.tar.gz"
ARCHIVE_NAME = "lastfm-dataset-1K.tar.gz"
PLAYS_FILE = "userid-timestamp-artid-artname-traid-traname.tsv"
PROFILES_FILE = "userid-profile.tsv"
EXPECTED_MD5 = {
    PLAYS_FILE: "64747b21563e3d2aa95751e0ddc46b68",
    PROFILES_FILE: "c53608b6b445db201098c1489ea497df",
}
CHUNK = 1 << 20
SIDECAR_SUFFIX = ".md5"
PARTIAL_SUFFIX = ".part"


class FetchError(Exception):
    """A fetch that cannot go on; `str()` is one line for the operator."""


class NetworkError(FetchError):
    pass


class ChecksumError(FetchError):
    pass


class TruncatedArchiveError(FetchError):
    pass


class DiskFullError(FetchError):
    pass


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm  # the job itself never needs tqdm; only operator tools do

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled)


@contextmanager
def _disk_errors(path: Path):
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"no space left on the device writing {path}: free some space and run again") from None
        raise


def _require_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFullError(f"{needed:,} bytes needed in {folder} but only {free:,} free: "
                            "free some space and run again")


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + PARTIAL_SUFFIX)


def download(url: str, target: Path, progress: bool = True, timeout: float = 30) -> Path:
    """Download `url` to `target`, resuming from `target.part` when an earlier try was cut.

    The file appears under `target` only when all Content-Length bytes arrived. A server that
    ignores Range (answers 200) makes the download start over.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    offset = partial.stat().st_size if partial.exists() else 0
    request = Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urlopen(request, timeout=timeout)
    except HTTPError as error:
        if error.code == 416 and offset:  # nothing left past what we hold: the .part is whole
            os.replace(partial, target)
            return target
        raise NetworkError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except (URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise NetworkError(f"cannot reach {url} ({reason}): check the network or pass --url for a mirror") from None
    with response:
        if offset and response.status != 206:
            offset = 0  # the server sent the whole file: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        if total is not None:
            _require_free_space(target.parent, total - offset)
        received = offset
        with _disk_errors(partial), open(partial, "ab" if offset else "wb") as out, \
                _progress(total, target.name, progress) as bar:
            bar.update(offset)
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, ValueError) as error:
                if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise NetworkError(
                    f"download of {url} interrupted after {received:,} bytes ({error}): run again to resume"
                ) from None
    if total is not None and received != total:
        raise NetworkError(f"download of {url} stopped at {received:,} of {total:,} bytes: run again to resume")
    os.replace(partial, target)
    return target


def write_sidecar(path: Path, md5: str) -> Path:
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    sidecar.write_text(f"{md5}  {path.name}\n", encoding="utf-8")
    return sidecar


def extract(archive: Path, folder: Path, expected_md5: dict[str, str], progress: bool = True) -> dict[str, Path]:
    """Stream the files named in `expected_md5` (by base name) out of the tar.gz `archive`.

    Each is verified against its MD5 before it gets its final name in `folder`. Raises
    ChecksumError naming the file and both checksums, TruncatedArchiveError for a cut or
    damaged archive or a missing file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    try:
        with tarfile.open(archive, mode="r|gz") as tar:  # stream mode: one pass, no seeking
            for member in tar:
                name = PurePosixPath(member.name).name
                if name in expected_md5 and member.isfile():
                    found[name] = _extract_member(tar, member, folder / name, expected_md5[name], progress)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise TruncatedArchiveError(f"{archive} is truncated or damaged ({error}): delete it and fetch again") from None
    missing = sorted(set(expected_md5) - set(found))
    if missing:
        raise TruncatedArchiveError(f"{archive} holds no {', '.join(missing)}: delete it and fetch again")
    return found


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, expected: str, progress: bool) -> Path:
    partial = partial_path(target)
    digest = hashlib.md5()
    try:
        source = tar.extractfile(member)
        with _disk_errors(partial), open(partial, "wb") as out, _progress(member.size, target.name, progress) as bar:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if partial.stat().st_size != member.size:
            raise TruncatedArchiveError(f"{target.name} ends after {partial.stat().st_size:,} of {member.size:,} bytes")
        md5 = digest.hexdigest()
        if md5 != expected:
            raise ChecksumError(f"checksum mismatch for {target.name}: MD5 {md5}, expected {expected}; "
                                f"the archive is corrupt: delete it and fetch again")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    write_sidecar(target, md5)
    return target


def verified(path: Path, expected: str) -> bool:
    """True when `path` exists with a sidecar, newer than it, that records `expected`."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not (path.exists() and sidecar.exists()) or sidecar.stat().st_mtime < path.stat().st_mtime:
        return False
    return sidecar.read_text(encoding="utf-8").split()[:1] == [expected]


def fetch(url: str, folder: Path, expected_md5: dict[str, str] = EXPECTED_MD5, keep_archive: bool = False,
          progress: bool = True, timeout: float = 30) -> dict[str, Path]:
    """Make sure `folder` holds every file of `expected_md5`, verified; download only if needed."""
    targets = {name: folder / name for name in expected_md5}
    if all(verified(path, expected_md5[name]) for name, path in targets.items()):
        return targets
    archive_name = PurePosixPath(urlparse(url).path).name or ARCHIVE_NAME
    archive = download(url, folder / archive_name, progress=progress, timeout=timeout)
    files = extract(archive, folder, expected_md5, progress=progress)
    if not keep_archive:
        archive.unlink()
    return files


def upload(files: list[Path], s3_uri: str, part_size: int = 64 << 20, progress: bool = True) -> list[str]:
    """Put `files` under `s3://bucket/prefix/` with boto3's managed (multipart) transfer.

    Credentials and the endpoint come from the usual AWS settings (environment, profile,
    instance role; `AWS_ENDPOINT_URL` for an S3-compatible store).
    """
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise FetchError(f"--upload wants s3://bucket/prefix, got {s3_uri}")
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
    client = boto3.client("s3")
    uploaded = []
    for path in files:
        key = f"{prefix}/{path.name}" if prefix else path.name
        try:
            with _progress(path.stat().st_size, f"s3://{bucket}/{key}", progress) as bar:
                client.upload_file(str(path), bucket, key, Config=transfer, Callback=bar.update)
        except (BotoCoreError, ClientError, boto3.exceptions.S3UploadFailedError) as error:
            raise FetchError(f"upload of {path} to s3://{bucket}/{key} failed: {error}") from None
        uploaded.append(f"s3://{bucket}/{key}")
    return uploaded
