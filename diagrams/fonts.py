"""Makes sure the CJK font the renderer names is really installed and selected.

graphviz never fails for a missing font: fontconfig substitutes another one and every Chinese
glyph in a PNG or PDF becomes an empty box (workflow/DESIGN.md, graphviz and Chinese). Asking
fontconfig directly turns
that silent failure into an error that says what to install.
"""

from __future__ import annotations

import shutil
import subprocess

CJK_FONT = "Noto Sans CJK SC"
_INSTALL_HINT = "install the Debian packages fonts-noto-cjk and fontconfig"


class FontCheckError(RuntimeError):
    """The CJK font is not available; diagrams with Chinese text would print empty boxes."""


def cjk_font_check(font: str = CJK_FONT) -> str:
    """The family fontconfig selects for ``font``; raises FontCheckError unless it is a
    Noto Sans CJK family."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        raise FontCheckError(f"fc-match not found, cannot check the font {font!r}: "
                             f"{_INSTALL_HINT}")
    result = subprocess.run(
        [fc_match, "--format=%{family}", font],
        capture_output=True, text=True, check=False, timeout=30,
    )
    # fontconfig lists every family name of the match, comma-separated; the first is canonical
    family = result.stdout.split(",")[0].strip()
    if result.returncode != 0 or not family.startswith("Noto Sans CJK"):
        found = family or result.stderr.strip() or "nothing"
        raise FontCheckError(f"fontconfig selects {found!r} for {font!r}, not Noto Sans CJK: "
                             f"Chinese text would print as empty boxes; {_INSTALL_HINT}")
    return family
