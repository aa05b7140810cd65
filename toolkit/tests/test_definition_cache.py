"""The definition cache: reused only while nothing the pipeline was built from changed, and a
reused definition finds its step code in S3 again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops_toolkit.runner.definition_cache import DefinitionCache, cache_key, cached_build
from mlops_toolkit.runner.pipeline_source import BuiltPipeline

INPUTS = {"role_arn": "arn:aws:iam::123456789012:role/r", "region": "us-east-1"}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "src" / "cachedpipe"
    (root / "steps").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "pipeline.py").write_text("def get_pipeline(): ...\n")
    (root / "steps" / "train.py").write_text("print('v1')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield root
    for name in ("cachedpipe", "cachedpipe.pipeline"):
        sys.modules.pop(name, None)


def test_the_key_follows_the_package_files_and_the_build_inputs(package):
    reference = "cachedpipe.pipeline:get_pipeline"
    first = cache_key(reference, INPUTS)

    assert cache_key(reference, INPUTS) == first
    assert cache_key(reference, {**INPUTS, "git_commit": "abc"}) != first
    (package / "steps" / "train.py").write_text("print('v2')\n")
    assert cache_key(reference, INPUTS) != first
    assert cache_key("no_such_package.pipeline:get", INPUTS) is None


def test_a_module_already_imported_is_never_looked_up(package, monkeypatch):
    # Its code may differ from its files (patched in memory): the files cannot vouch for it.
    import cachedpipe.pipeline

    monkeypatch.setattr(cachedpipe.pipeline, "get_pipeline", lambda: "patched")

    assert cache_key("cachedpipe.pipeline:get_pipeline", INPUTS) is None


def test_a_hit_skips_the_build_and_puts_the_uploaded_code_back(
    package, tmp_path, stand_in, account
):
    session = stand_in.session()
    s3 = session.client("s3")
    builds = []

    def build():
        builds.append(1)
        # As the SDK does: its clients come from the session while the pipeline is built.
        session.client("s3").put_object(
            Bucket=account.bucket, Key="code/train.py", Body=b"print('v1')\n"
        )
        return BuiltPipeline("pipe", {"Steps": [{"Name": "Train"}]})

    cache = DefinitionCache(tmp_path / "cache")
    reference = "cachedpipe.pipeline:get_pipeline"

    built = cached_build(cache, reference, INPUTS, session, build)
    assert (built.name, built.definition) == ("pipe", {"Steps": [{"Name": "Train"}]})
    s3.delete_object(Bucket=account.bucket, Key="code/train.py")
    hit = cached_build(cache, reference, INPUTS, session, build)
    assert (hit.name, hit.definition) == (built.name, built.definition)

    assert len(builds) == 1
    body = s3.get_object(Bucket=account.bucket, Key="code/train.py")["Body"].read()
    assert body == b"print('v1')\n"
    (package / "steps" / "train.py").write_text("print('v2')\n")
    cached_build(cache, reference, INPUTS, session, build)
    assert len(builds) == 2


def test_a_build_whose_uploads_were_not_seen_is_not_cached(package, tmp_path, stand_in, account):
    session = stand_in.session()
    own_client = stand_in.session().client("s3")
    builds = []

    def build():
        builds.append(1)
        own_client.put_object(Bucket=account.bucket, Key="code/train.py", Body=b"x")
        return BuiltPipeline("pipe", {"Steps": []})

    cache = DefinitionCache(tmp_path / "cache")
    for _ in range(2):
        cached_build(cache, "cachedpipe.pipeline:get_pipeline", INPUTS, session, build)

    assert len(builds) == 2


def test_a_hit_uploads_only_what_s3_lacks_and_knows_a_local_copy_of_each_upload(
    package, tmp_path, stand_in, account
):
    session = stand_in.session()
    s3 = session.client("s3")
    code = {"code/train.py": b"print('train')\n", "code/lib/util.py": b"x = 1\n"}

    def build():
        for key, body in code.items():
            session.client("s3").put_object(Bucket=account.bucket, Key=key, Body=body)
        return BuiltPipeline("pipe", {"Steps": []})

    cache = DefinitionCache(tmp_path / "cache")
    reference = "cachedpipe.pipeline:get_pipeline"
    puts: list[str] = []
    # Before the first build: the toolkit keeps one client per session, made then.
    session.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"])
    )
    first = cached_build(cache, reference, INPUTS, session, build)
    s3.put_object(Bucket=account.bucket, Key="code/lib/util.py", Body=b"changed since\n")
    puts.clear()

    hit = cached_build(cache, reference, INPUTS, session, build)

    assert puts == ["code/lib/util.py"]
    body = s3.get_object(Bucket=account.bucket, Key="code/lib/util.py")["Body"].read()
    assert body == code["code/lib/util.py"]
    for built in (first, hit):
        copies = {uri: local.path.read_bytes() for uri, local in built.uploads.items()}
        assert copies == {f"s3://{account.bucket}/{key}": body for key, body in code.items()}
