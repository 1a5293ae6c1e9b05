"""Check that the addon's requirements, and what they need in turn, are met
in the running Python environment.

``pip check`` looks at every installed distribution: where Odoo itself was
installed with pip, its ``setup.py`` metadata names Debian packages and the
check fails for reasons that have nothing to do with this addon. This walks
only our requirements files and the dependency tree below them.

Usage: python check_requirements.py requirements.txt [more.txt ...]
Exit status 0 when everything is met, 1 otherwise (one line per problem).
"""

import sys
from importlib import metadata

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - pip always vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def read_requirements(path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                yield Requirement(line)


def problems(requirements):
    """Yield a message for each requirement (or dependency of one) not met."""
    seen = set()
    todo = [(requirement, "requirements") for requirement in requirements]
    while todo:
        requirement, wanted_by = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            yield f"{requirement} (wanted by {wanted_by}) is not installed"
            continue
        version = dist.version
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            yield f"{requirement} (wanted by {wanted_by}): {requirement.name} {version} is installed"
            continue
        for line in dist.requires or []:
            dependency = Requirement(line)
            environments = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if dependency.marker and not any(dependency.marker.evaluate(env) for env in environments):
                continue
            todo.append((dependency, f"{dist.metadata['Name']} {version}"))


def main(paths):
    requirements = [requirement for path in paths for requirement in read_requirements(path)]
    requirements = [r for r in requirements if not r.marker or r.marker.evaluate()]
    found = sorted(set(problems(requirements)))
    for line in found:
        print(line)
    if found:
        return 1
    print(f"{len(requirements)} requirements met, with their dependencies")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["requirements.txt"]))
