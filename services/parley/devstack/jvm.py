"""The machine's Java, which runs the dev stack's Java servers (Kafka, OpenSearch)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from parley.devstack import versions
from parley.devstack.errors import DevStackError, MissingToolError
from parley.devstack.system import ensure_debian_packages

# Debian's JRE is the fallback when the machine has no Java at all.
_DEBIAN_JRE = f"openjdk-{versions.JAVA_MIN_MAJOR}-jre-headless"
_DEBIAN_JAVA = f"/usr/lib/jvm/java-{versions.JAVA_MIN_MAJOR}-openjdk-amd64/bin/java"


def java_home(log_file: Path, minimum: int = versions.JAVA_MIN_MAJOR) -> Path:
    """JAVA_HOME when set, else the home of the `java` on PATH (installing Debian's JRE if none)."""
    if "JAVA_HOME" in os.environ:
        home = Path(os.environ["JAVA_HOME"])
    else:
        java = shutil.which("java")
        if java is None:
            ensure_debian_packages({_DEBIAN_JRE: _DEBIAN_JAVA}, log_file)
            java = shutil.which("java") or _DEBIAN_JAVA
        # /usr/bin/java is a chain of symlinks into <home>/bin/java.
        home = Path(os.path.realpath(java)).parents[1]
    if not (home / "bin" / "java").exists():
        raise MissingToolError("java", f"{home} has no bin/java; set JAVA_HOME to a JDK or JRE")
    major = java_major(home)
    if major < minimum:
        raise DevStackError(
            f"Java {major} at {home} is too old: the dev stack's Java servers need {minimum}+; "
            f"set JAVA_HOME to a newer one."
        )
    return home


def java_major(home: Path) -> int:
    """The feature release of the JDK/JRE at home, from its `release` file (17 for 17.0.15)."""
    try:
        release = (home / "release").read_text()
    except OSError as exc:
        raise DevStackError(f"cannot tell the Java version of {home}: no readable release file") from exc
    found = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release, re.MULTILINE)
    if found is None:
        raise DevStackError(f"cannot tell the Java version of {home} from its release file")
    major = int(found.group(1))
    # Java 8 and older call themselves 1.x.
    return int(found.group(2) or 0) if major == 1 else major
