"""The small pieces behind the Java servers: Java version detection, zip unpacking, jar names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from parley.devstack.archives import extract_zip
from parley.devstack.components.opensearch import artifact_name
from parley.devstack.errors import DevStackError
from parley.devstack.jvm import java_major
from parley.devstack.maven import Artifact, throwaway_pom


@pytest.mark.parametrize(
    ("line", "major"),
    [('JAVA_VERSION="17.0.15"', 17), ('JAVA_VERSION="25"', 25), ('JAVA_VERSION="1.8.0_392"', 8)],
)
def test_java_major_reads_the_release_file(tmp_path: Path, line: str, major: int) -> None:
    (tmp_path / "release").write_text(f'IMPLEMENTOR="x"\n{line}\n')
    assert java_major(tmp_path) == major


def test_java_major_without_release_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DevStackError):
        java_major(tmp_path)


def _zip_with(path: Path, entries: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_extract_zip_keeps_execute_bits_and_strips_the_top_folder(tmp_path: Path) -> None:
    archive = _zip_with(
        tmp_path / "dist.zip",
        {"dist-1/bin/run": (b"#!/bin/sh\n", 0o755), "dist-1/lib/a.jar": (b"jar", 0o644)},
    )
    extract_zip(archive, tmp_path / "out", strip_components=1)
    assert (tmp_path / "out" / "bin" / "run").stat().st_mode & 0o111
    assert not (tmp_path / "out" / "lib" / "a.jar").stat().st_mode & 0o111
    assert (tmp_path / "out" / "lib" / "a.jar").read_bytes() == b"jar"


def test_extract_zip_refuses_entries_outside_the_destination(tmp_path: Path) -> None:
    archive = _zip_with(tmp_path / "evil.zip", {"../escaped": (b"x", 0o644)})
    with pytest.raises(DevStackError):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    ("jar", "name"),
    [
        ("opensearch-common-2.19.6.jar", "opensearch-common"),
        ("netty-codec-http2-4.1.135.Final.jar", "netty-codec-http2"),
        ("HdrHistogram-2.2.2.jar", "HdrHistogram"),
        ("log4j-slf4j-impl-2.24.3.jar", "log4j-slf4j-impl"),
    ],
)
def testartifact_name_drops_the_version(jar: str, name: str) -> None:
    assert artifact_name(Path(jar)) == name


def testthrowaway_pom_lists_each_artifact_with_its_type() -> None:
    pom = throwaway_pom([Artifact("g.x", "a", "1.0"), Artifact("g.y", "b", "2.0", type="zip")])
    assert "<groupId>g.x</groupId><artifactId>a</artifactId><version>1.0</version><type>jar</type>" in pom
    assert "<groupId>g.y</groupId><artifactId>b</artifactId><version>2.0</version><type>zip</type>" in pom
