"""The README's first-screen commands are the ones CI runs (.ci/run), character for character."""

import re

from conftest import REPO


def ci_command(name: str) -> str:
    match = re.search(rf"^{name}='(.+)'$", (REPO / ".ci" / "run").read_text(), re.MULTILINE)
    assert match, f"{name}=... not found in .ci/run"
    return match.group(1)


def test_readme_shows_the_install_and_test_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    install, test = ci_command("INSTALL"), ci_command("TEST")
    assert f"{install} && {test}" in first_screen
    assert re.search(re.escape(install) + r" && .*\.venv/bin/python train\.py model=dropout", first_screen)


def test_readme_links_exist():
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|conf|src|scripts|tests)/[^)#\s]+)\)", readme):
        assert (REPO / target).exists(), f"README links to missing {target}"


def test_readme_stays_short_and_points_into_docs():
    """The README is the front page (at most 150 lines); the manual lives in docs/, one page per part."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "README.md is over 150 lines: move the detail into docs/"
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages and pages <= linked, f"docs pages the README does not link to: {sorted(pages - linked)}"
    assert "docs/results/results.md" in readme  # the full results tables, next to the compact ones


def test_the_install_says_what_the_torch_pin_pulls_and_how_to_get_the_cpu_build():
    """`torch==2.13.0` from PyPI on Linux is the CUDA build (gigabytes): the README must not call the pin "the CPU
    wheel" (true only where a local CPU wheel is found first, as on this project's machines), and must give
    Linux machines without a GPU PyTorch's CPU index, on the first screen, beside the install line."""
    readme = (REPO / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "the CPU wheel" not in first_screen and "the CPU wheel" not in (REPO / "constraints.txt").read_text()
    assert "CUDA" in first_screen and "Linux" in first_screen and "macOS" in first_screen and "Windows" in first_screen
    cpu = re.search(r"pip install torch==([\d.]+) --index-url https://download\.pytorch\.org/whl/cpu", first_screen)
    pin = re.search(r"^torch==([\d.]+)$", (REPO / "constraints.txt").read_text(), re.MULTILINE)
    assert cpu and pin and cpu.group(1) == pin.group(1), "the CPU variant must install the pinned version"
