"""Step inputs copied from local files the run knows instead of downloaded, and only when S3
holds the same bytes; uploads skipped only for objects S3 already holds as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_toolkit.artifacts import ArtifactStore, LocalObject, _listing_prefixes, put_missing


class CountingS3:
    """The stand-in's S3 client, counting the objects it downloads."""

    def __init__(self, client) -> None:
        self._client, self.downloaded = client, []

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.downloaded.append(key)
        self._client.download_file(bucket, key, filename)

    def get_object(self, **request):
        self.downloaded.append(request["Key"])
        return self._client.get_object(**request)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


def _file(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


@pytest.mark.parametrize(
    ("keys", "prefixes"),
    [
        (["a/code/x.py", "a/code/lib/y.py", "a/drivers/z.sh"], ["a/code/", "a/drivers/"]),
        (["a/b/x", "a/y"], ["a/"]),
        (["top.txt", "a/x"], ["a/", "top.txt"]),
        (["ab/x", "a/y"], ["a/", "ab/"]),
    ],
)
def test_one_listing_per_folder_that_holds_the_keys(keys, prefixes):
    assert _listing_prefixes(keys) == prefixes


def test_a_known_copy_is_staged_only_while_s3_holds_its_bytes(stand_in, account, tmp_path):
    client = stand_in.client("s3")
    for key, body in {"code/train.py": b"v1", "code/lib/util.py": b"u1"}.items():
        client.put_object(Bucket=account.bucket, Key=key, Body=body)
    known = {
        f"s3://{account.bucket}/code/train.py": LocalObject.of(_file(tmp_path / "c/t", b"v1")),
        f"s3://{account.bucket}/code/lib/util.py": LocalObject.of(_file(tmp_path / "c/u", b"u1")),
    }
    s3 = CountingS3(client)
    store = ArtifactStore(s3, known=known)

    assert store.stage(f"s3://{account.bucket}/code", tmp_path / "first", "code") == 2
    client.put_object(Bucket=account.bucket, Key="code/train.py", Body=b"v2")
    store.stage(f"s3://{account.bucket}/code", tmp_path / "second", "code")

    assert (tmp_path / "first/lib/util.py").read_bytes() == b"u1"
    assert (tmp_path / "first/train.py").read_bytes() == b"v1"
    assert (tmp_path / "second/train.py").read_bytes() == b"v2"
    assert s3.downloaded == ["code/train.py"]


def test_only_what_s3_lacks_or_holds_otherwise_is_uploaded(stand_in, account, tmp_path):
    client = stand_in.client("s3")
    client.put_object(Bucket=account.bucket, Key="code/same.py", Body=b"same")
    client.put_object(Bucket=account.bucket, Key="code/old.py", Body=b"old")
    files = {"code/same.py": b"same", "code/old.py": b"new", "code/sub/absent.py": b"absent"}
    objects = {
        f"s3://{account.bucket}/{key}": LocalObject.of(_file(tmp_path / key, body))
        for key, body in files.items()
    }

    assert put_missing(client, objects) == 2

    for key, body in files.items():
        assert client.get_object(Bucket=account.bucket, Key=key)["Body"].read() == body


def test_a_known_copy_changed_or_gone_since_is_downloaded_instead(stand_in, account, tmp_path):
    client = stand_in.client("s3")
    client.put_object(Bucket=account.bucket, Key="code/a.py", Body=b"a1")
    client.put_object(Bucket=account.bucket, Key="code/b.py", Body=b"b1")
    copies = {
        name: _file(tmp_path / "c" / name, body) for name, body in (("a", b"a1"), ("b", b"b1"))
    }
    known = {f"s3://{account.bucket}/code/{n}.py": LocalObject.of(p) for n, p in copies.items()}
    copies["a"].write_bytes(b"edited")
    copies["b"].unlink()
    s3 = CountingS3(client)

    ArtifactStore(s3, known=known).stage(f"s3://{account.bucket}/code", tmp_path / "in", "code")

    assert (tmp_path / "in/a.py").read_bytes() == b"a1"
    assert (tmp_path / "in/b.py").read_bytes() == b"b1"
    assert sorted(s3.downloaded) == ["code/a.py", "code/b.py"]
