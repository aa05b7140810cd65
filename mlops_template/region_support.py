"""Build ``region_support.json``: for every AWS region, what the generated project uses that is
missing there.

What the project uses is read from its own output, never listed by hand: the template is rendered
once per framework, every CloudFormation template in the two repositories gives the resource
types, every boto3 client the code creates (and every resource type's service) gives the
services, and building the pipeline definition while recording the SageMaker SDK's
``image_uris.retrieve`` calls gives the images. Each region is then checked against the
libraries the project pins: cfn-lint's per-region resource type lists, the SDK's image tables and
botocore's endpoint data.

This module needs the development environment (cookiecutter, cfn-lint, the SageMaker SDK, moto).
The pre-generation hook only reads the JSON it writes (``mlops_template.regions``), so the hook
runs with the standard library alone. Refresh the file after upgrading any of those libraries or
changing what the template generates::

    python -m mlops_template.region_support          # rewrite mlops_template/region_support.json
    python -m mlops_template.region_support --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from mlops_template.frameworks import FRAMEWORKS, select_framework
from mlops_template.regions import DATA_FILE, MISSING_KINDS

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
# The toolkit's bootstrap creates the project's AWS side from the deploy repo's data: the services
# it calls are the project's too, though its code is not generated.
BOOTSTRAP_PACKAGE = TEMPLATE_ROOT / "toolkit" / "src" / "mlops_toolkit" / "bootstrap"
# The region the reference retrieval runs in: images are named after its URIs.
REFERENCE_REGION = "us-east-1"
CFN_SUFFIXES = (".yml", ".yaml", ".json", ".template")
# Unit tests talk to moto, never to AWS; everything else in the repositories runs against AWS.
TEST_FOLDERS = frozenset({"tests"})
LIBRARIES = ("botocore", "cfn-lint", "sagemaker", "sagemaker-core")

# Runs in the generated model-build repository: builds the pipeline definition offline (moto)
# and reports every image_uris.retrieve call with its arguments, plus the images the definition
# ended up with, so the caller can prove no image bypassed retrieve.
_RECORDER = r"""
import inspect, json, sys
from sagemaker.core import image_uris

real_retrieve = image_uris.retrieve
signature = inspect.signature(real_retrieve)
calls = []

def recording_retrieve(*args, **kwargs):
    bound = signature.bind(*args, **kwargs)
    uri = real_retrieve(*args, **kwargs)
    calls.append({"arguments": dict(bound.arguments), "uri": uri})
    return uri

image_uris.retrieve = recording_retrieve
from modelbuild.cli import get_pipeline_definition

code = get_pipeline_definition.main(["--offline", "--region", sys.argv[1], "--output", sys.argv[2]])
if code:
    sys.exit(code)
json.dump(calls, sys.stdout)
"""
# Keys of pipeline step arguments whose values are container image URIs.
_IMAGE_KEYS = frozenset({"ImageUri", "TrainingImage", "Image"})


class RegionDataError(Exception):
    """The generated project uses something the region data cannot account for."""


@dataclass(frozen=True)
class ImageLookup:
    """One ``image_uris.retrieve`` call the pipeline makes, region aside."""

    arguments: tuple[tuple[str, object], ...]
    label: str

    def available_in(self, region: str) -> bool:
        from sagemaker.core import image_uris

        try:
            image_uris.retrieve(**dict(self.arguments), region=region)
        except ValueError:
            return False
        return True


@dataclass
class Needs:
    """What one framework's generated project uses."""

    resource_types: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    images: dict[str, ImageLookup] = field(default_factory=dict)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "resource_types": sorted(self.resource_types),
            "services": sorted(self.services),
            "images": sorted(self.images),
        }


def build_region_data(work_dir: Path) -> dict[str, object]:
    """The whole data file's content, from renders under ``work_dir``."""
    needs = {framework: framework_needs(framework, work_dir) for framework in FRAMEWORKS}
    every = Needs()
    for need in needs.values():
        every.resource_types |= need.resource_types
        every.services |= need.services
        every.images |= need.images
    return {
        "built_from": library_versions(),
        "frameworks": {framework: need.as_json() for framework, need in needs.items()},
        "regions": {
            region: missing_in(region, every, region_types)
            for region, region_types in sorted(cfn_lint_region_types(known_regions()).items())
        },
    }


def framework_needs(framework: str, work_dir: Path) -> Needs:
    project = render(framework, work_dir / framework)
    repos = sorted(path for path in project.iterdir() if path.is_dir())
    resource_types = {kind for repo in repos for kind in template_resource_types(repo)}
    services = {botocore_service(kind) for kind in resource_types}
    services |= {name for repo in repos for name in client_services(repo)}
    services |= set(client_services(BOOTSTRAP_PACKAGE))
    unknown = services - botocore_services()
    if unknown:
        raise RegionDataError(
            f"the {framework} project uses services botocore does not know: {sorted(unknown)}"
        )
    model_build = next(repo for repo in repos if repo.name.endswith("-modelbuild"))
    images = {lookup.label: lookup for lookup in pipeline_image_lookups(model_build)}
    return Needs(resource_types, services, images)


def render(framework: str, output_dir: Path) -> Path:
    """The project as cookiecutter generates it for ``framework`` (default answers otherwise).

    Hooks are skipped: the only part of the post-generation step that shapes the output is the
    framework trimming, applied here, and the pre-generation check reads the file being built.
    """
    from cookiecutter.main import cookiecutter

    config = output_dir / "cookiecutter-config.yaml"
    output_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"replay_dir: {json.dumps(str(output_dir / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(output_dir / 'cookiecutters'))}\n",
        encoding="utf-8",
    )
    project = Path(
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            extra_context={"framework": framework},
            output_dir=str(output_dir),
            config_file=str(config),
            accept_hooks=False,
        )
    )
    for repo in project.glob("*-modelbuild"):
        select_framework(repo, framework)
    return project


def template_resource_types(repo: Path) -> Iterator[str]:
    """The resource types of every CloudFormation template in ``repo``."""
    from cfnlint.decode import decode

    for path in sorted(repo.rglob("*")):
        if path.suffix not in CFN_SUFFIXES or not path.is_file() or ".git" in path.parts:
            continue
        template, errors = decode(str(path))
        if errors or not isinstance(template, dict):
            continue
        resources = template.get("Resources")
        if not isinstance(resources, dict):
            continue
        for resource in resources.values():
            if isinstance(resource, dict) and isinstance(resource.get("Type"), str):
                yield str(resource["Type"])


def client_services(repo: Path) -> Iterator[str]:
    """Services named by ``*.client("<service>")`` calls outside the unit tests."""
    for path in sorted(repo.rglob("*.py")):
        if TEST_FOLDERS.intersection(path.relative_to(repo).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            name = _client_call_service(node)
            if name is not None:
                yield name


def _client_call_service(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    if node.func.attr != "client":
        return None
    candidates = list(node.args[:1])
    candidates += [keyword.value for keyword in node.keywords if keyword.arg == "service_name"]
    for candidate in candidates:
        if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
            return candidate.value
    return None


def botocore_service(resource_type: str) -> str:
    """The botocore service behind ``AWS::<Service>::<Resource>`` (same name, any case, with
    or without hyphens: ApplicationAutoScaling → application-autoscaling)."""
    segment = resource_type.split("::")[1].lower()
    matches = [name for name in botocore_services() if name.replace("-", "") == segment]
    if len(matches) != 1:
        raise RegionDataError(
            f"cannot tell which botocore service provides {resource_type} (candidates: "
            f"{matches or 'none'}); extend mlops_template.region_support.botocore_service"
        )
    return matches[0]


def pipeline_image_lookups(model_build: Path) -> list[ImageLookup]:
    """Every image the pipeline retrieves, found by building its definition offline."""
    definition = model_build / "pipeline-definition.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = str(model_build / "src")
    result = subprocess.run(
        [sys.executable, "-c", _RECORDER, REFERENCE_REGION, str(definition)],
        cwd=model_build,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RegionDataError(f"building the pipeline definition failed:\n{result.stderr}")
    calls = json.loads(result.stdout)
    retrieved = {call["uri"] for call in calls}
    used = set(_image_uris(json.loads(definition.read_text("utf-8"))))
    if not used <= retrieved:
        raise RegionDataError(
            f"the pipeline uses images not looked up with image_uris.retrieve: {used - retrieved}"
        )
    return [_lookup(call["arguments"], call["uri"]) for call in calls if call["uri"] in used]


def _image_uris(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _IMAGE_KEYS and isinstance(item, str):
                yield item
            else:
                yield from _image_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from _image_uris(item)


def _lookup(arguments: dict[str, object], uri: str) -> ImageLookup:
    """The call with its region removed, named by its repository and tag ("sagemaker-xgboost:
    3.2-0"), which are the same in every region."""
    kept = {key: value for key, value in arguments.items() if key != "region"}
    return ImageLookup(tuple(sorted(kept.items())), uri.split("/", 1)[1])


def known_regions() -> list[str]:
    """Every region of every partition in botocore's endpoint data."""
    partitions = _endpoints()["partitions"]
    return sorted(region for partition in partitions for region in partition["regions"])


def cfn_lint_region_types(regions: Iterable[str]) -> dict[str, frozenset[str] | None]:
    """Each region's CloudFormation resource types per cfn-lint's bundled schemas; None for a
    region cfn-lint has no list for (cfn-lint itself would quietly use us-east-1's)."""
    providers = _cfn_lint_schemas() / "providers"
    listed = {path.stem for path in providers.glob("*.json")} - {"sam"}
    result: dict[str, frozenset[str] | None] = {}
    for region in sorted(set(regions) | listed):
        path = providers / f"{region}.json"
        result[region] = frozenset(json.loads(path.read_text("utf-8"))) if path.is_file() else None
    return result


def missing_in(region: str, needs: Needs, region_types: frozenset[str] | None) -> dict:
    """``region``'s partition and what it lacks of ``needs``, one sorted list per kind."""
    if region_types is None:
        missing_types = sorted(needs.resource_types)
    else:
        missing_types = sorted(needs.resource_types - region_types)
    lacking = {
        "resource_types": missing_types,
        "services": sorted(name for name in needs.services if not service_in(name, region)),
        "images": sorted(
            label for label, lookup in needs.images.items() if not lookup.available_in(region)
        ),
    }
    missing: dict[str, object] = {"partition": _session().get_partition_for_region(region)}
    missing |= {kind: lacking[kind] for kind in MISSING_KINDS}
    if region_types is None:
        missing["no_cfn_lint_data"] = True
    return missing


def service_in(service: str, region: str) -> bool:
    """Whether botocore has an endpoint for ``service`` serving ``region``: a regional one, or
    the global endpoint of a service that has one per partition (IAM)."""
    session = _session()
    partition = session.get_partition_for_region(region)
    if region in session.get_available_regions(service, partition_name=partition):
        return True
    prefix = session.get_service_model(service).endpoint_prefix
    for entry in _endpoints()["partitions"]:
        if entry["partition"] == partition:
            service_data = entry["services"].get(prefix, {})
            return service_data.get("isRegionalized") is False and bool(
                service_data.get("partitionEndpoint")
            )
    return False


def library_versions() -> dict[str, str]:
    versions = {name: metadata.version(name) for name in LIBRARIES}
    version_file = _cfn_lint_schemas() / "version.json"
    versions["cfn-lint schemas"] = json.loads(version_file.read_text("utf-8"))["schema_date"]
    return versions


def _cfn_lint_schemas() -> Path:
    # The schemas bundled with the pinned cfn-lint, never a downloaded cache: the data must be
    # reproducible from the pinned version alone.
    import cfnlint

    return Path(cfnlint.__file__).parent / "data" / "schemas"


@functools.cache
def _session():
    import botocore.session

    return botocore.session.Session()


@functools.cache
def botocore_services() -> frozenset[str]:
    return frozenset(_session().get_available_services())


def _endpoints() -> dict:
    return _session().get_component("data_loader").load_data("endpoints")


def render_data(data: dict[str, object]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_template.region_support", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-region-support-") as work_dir:
        text = render_data(build_region_data(Path(work_dir)))
    if not args.check:
        DATA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {DATA_FILE}")
        return 0
    current = DATA_FILE.read_text("utf-8") if DATA_FILE.is_file() else ""
    if current == text:
        print(f"{DATA_FILE} is up to date")
        return 0
    print(
        f"{DATA_FILE} is out of date: run python -m mlops_template.region_support", file=sys.stderr
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
