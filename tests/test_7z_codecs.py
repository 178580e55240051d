"""The 7z coder table: archives written by the 7-Zip program, decoded member by member.

Each row builds a real archive with the 7-Zip command line (``7zz`` from the ``7zip``
package, else ``7z`` from ``p7zip-full``), checks from 7-Zip's own listing that the archive
really uses the coder, and decodes it with :func:`takedowns.sources.containers.iter_member_heads`:

* ``libarchive`` rows must decode with no 7-Zip program on the path;
* ``7-Zip`` rows (coders libarchive 3.6 does not decode) must be refused without it, with a
  message naming the coder, the archive and the install command, and decode with it.

Every decoded member's bytes are compared with the originals.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from takedowns.errors import CorruptContent
from takedowns.sources import containers
from takedowns.sources.containers import (
    LibarchiveMissing,
    SevenZipError,
    SevenZipRefused,
    install_command,
    iter_member_heads,
    load_libarchive,
)

SEVEN_ZIP = shutil.which("7zz") or shutil.which("7z")
needs_7zip = pytest.mark.skipif(
    SEVEN_ZIP is None,
    reason="neither 7zz nor 7z is installed (Debian: apt-get install 7zip p7zip-full)",
)

LIBARCHIVE, SEVEN = "libarchive", "7-Zip"
#: id, 7-Zip switches, coder names 7-Zip's listing must show, backend that decodes it.
TABLE = [
    ("lzma", ["-m0=LZMA"], {"LZMA"}, LIBARCHIVE),
    ("lzma2", ["-m0=LZMA2"], {"LZMA2"}, LIBARCHIVE),
    ("ppmd", ["-m0=PPMd"], {"PPMD"}, LIBARCHIVE),
    ("bzip2", ["-m0=BZip2"], {"BZip2"}, LIBARCHIVE),
    ("deflate", ["-m0=Deflate"], {"Deflate"}, LIBARCHIVE),
    ("deflate64", ["-m0=Deflate64"], {"Deflate64"}, SEVEN),
    ("copy", ["-m0=Copy"], {"Copy"}, LIBARCHIVE),
    ("bcj-x86", ["-mf=BCJ"], {"BCJ", "LZMA2"}, LIBARCHIVE),
    ("bcj2", ["-mf=BCJ2"], {"BCJ2", "LZMA2", "LZMA"}, LIBARCHIVE),
    ("arm", ["-mf=ARM"], {"ARM", "LZMA2"}, LIBARCHIVE),
    ("armt", ["-mf=ARMT"], {"ARMT", "LZMA2"}, LIBARCHIVE),
    ("arm64", ["-mf=ARM64"], {"ARM64", "LZMA2"}, SEVEN),
    ("arm64-copy", ["-mf=ARM64", "-m0=Copy"], {"ARM64", "Copy"}, SEVEN),
    ("ppc", ["-mf=PPC"], {"PPC", "LZMA2"}, LIBARCHIVE),
    ("sparc", ["-mf=SPARC"], {"SPARC", "LZMA2"}, LIBARCHIVE),
    ("ia64", ["-mf=IA64"], {"IA64", "LZMA2"}, LIBARCHIVE),
    ("riscv", ["-mf=RISCV"], {"RISCV", "LZMA2"}, SEVEN),
    ("delta", ["-mf=Delta:4"], {"Delta", "LZMA2"}, LIBARCHIVE),
    ("solid", ["-m0=LZMA2", "-ms=on"], {"LZMA2"}, LIBARCHIVE),
    ("non-solid", ["-m0=LZMA2", "-ms=off"], {"LZMA2"}, LIBARCHIVE),
    ("solid-blocks", ["-m0=LZMA2", "-ms=2f"], {"LZMA2"}, LIBARCHIVE),
]
#: Coder names of the 7-Zip rows as the refusal names them.
REFUSED_AS = {"deflate64": "Deflate64", "arm64": "ARM64", "arm64-copy": "ARM64", "riscv": "RISC-V"}


def originals() -> dict[str, bytes]:
    """Members that exercise every coder: mail text, random bytes (which hold the patterns
    the branch filters rewrite), a compressible block, a one-byte and an empty member."""
    rng = random.Random(2008)
    mail = b"".join(
        b"Received: from pc%d.example.net ([192.0.2.%d])\r\n  by mx13.futurequest.net\r\n"
        % (i, i % 250)
        for i in range(400)
    )
    block = rng.randbytes(4096)
    return {
        "2008/05/1210000000.1_1.lorien": mail + b"\r\nbody\r\n",
        "2008/05/1210000001.1_2.bin": rng.randbytes(150_000),
        "2008/05/1210000002.1_3.bin": block * 60 + rng.randbytes(10),
        "2008/05/1210000003.1_4.txt": b"x",
        "2008/05/1210000004.1_5.txt": b"",
    }


def build(tmp_path: Path, name: str, switches: list[str], members: dict[str, bytes]) -> Path:
    """An archive of ``members`` and an empty directory, written by the 7-Zip program."""
    assert SEVEN_ZIP is not None
    src = tmp_path / f"{name}.src"
    for member, data in members.items():
        (src / member).parent.mkdir(parents=True, exist_ok=True)
        (src / member).write_bytes(data)
    (src / "2008" / "06").mkdir(parents=True)
    archive = tmp_path / f"{name}.7z"
    done = subprocess.run(
        [SEVEN_ZIP, "a", "-bd", "-y", *switches, str(archive), "2008"],
        cwd=src, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode and "Unsupported" in done.stdout + done.stderr:
        pytest.skip(f"{SEVEN_ZIP} cannot write {switches}: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr
    return archive


def listing(archive: Path, *extra: str) -> dict[str, str]:
    """The archive-level fields of 7-Zip's technical listing (Method, Solid, Blocks...)."""
    out = subprocess.run(
        [SEVEN_ZIP, "l", "-slt", *extra, str(archive)],
        capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
    ).stdout  # fmt: skip
    header = out.split("----------")[0].split("\n--\n")[-1]
    return dict(line.split(" = ", 1) for line in header.splitlines() if " = " in line)


def coders(fields: dict[str, str]) -> set[str]:
    return {token.split(":")[0] for token in fields.get("Method", "").split()}


def decoded(archive: Path) -> dict[str, tuple[bytes, bool]]:
    return {m.name: (m.head, m.is_dir) for m in iter_member_heads(archive, 1 << 30)}


def assert_same(archive: Path, members: dict[str, bytes]) -> None:
    got = decoded(archive)
    assert got.pop("2008/06") == (b"", True)
    dirs = {name for name, (_, is_dir) in got.items() if is_dir}
    assert dirs == {"2008", "2008/05"}
    files = {name: head for name, (head, is_dir) in got.items() if not is_dir}
    assert files.keys() == members.keys()
    for name, data in members.items():
        assert files[name] == data, name


@pytest.fixture
def no_7zip(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no 7-Zip program were installed."""
    monkeypatch.setattr(containers, "SEVEN_ZIP_PROGRAMS", ())


@needs_7zip
@pytest.mark.parametrize(("name", "switches", "names", "backend"), TABLE, ids=[r[0] for r in TABLE])
def test_codec_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name, switches, names, backend
) -> None:
    members = originals()
    archive = build(tmp_path, name, switches, members)
    fields = listing(archive)
    assert names <= coders(fields), fields
    blocks = int(fields["Blocks"])
    if name == "solid":
        assert fields["Solid"] == "+" and blocks == 1
    elif name == "non-solid":
        assert blocks == 4  # one per member with data
    elif name == "solid-blocks":
        assert fields["Solid"] == "+" and 1 < blocks < 4
    with monkeypatch.context() as hidden:
        hidden.setattr(containers, "SEVEN_ZIP_PROGRAMS", ())
        if backend == LIBARCHIVE:
            assert_same(archive, members)  # libarchive alone
        else:
            with pytest.raises(SevenZipRefused) as refused:
                decoded(archive)
            message = str(refused.value)
            assert str(archive) in message and f"coder {REFUSED_AS[name]} " in message
            assert load_libarchive().version in message
            assert message.endswith(f"install it with: {install_command('7-Zip')}")
    assert_same(archive, members)  # 7-Zip on the path: every row decodes


@needs_7zip
def test_empty_members_and_a_directory_only(tmp_path: Path, no_7zip: None) -> None:
    members = {"2008/05/1210000000.1_1.txt": b"", "2008/05/1210000001.1_2.txt": b""}
    archive = build(tmp_path, "empties", [], members)
    assert listing(archive)["Blocks"] == "0"  # no data: no folder, no coder
    heads = list(iter_member_heads(archive, 100))
    assert sorted((m.name, m.size, m.is_dir) for m in heads) == [
        ("2008", 0, True),
        ("2008/05", 0, True),
        ("2008/05/1210000000.1_1.txt", 0, False),
        ("2008/05/1210000001.1_2.txt", 0, False),
        ("2008/06", 0, True),
    ]


@needs_7zip
def test_libarchive_then_7zip_in_one_archive(tmp_path: Path) -> None:
    """An LZMA2 block then a Deflate64 block: libarchive reads the first, 7-Zip the rest,
    and every member comes out once, in order."""
    members = originals()
    archive = build(tmp_path, "mixed", ["-m0=LZMA2"], members)
    later = tmp_path / "later"
    (later / "2008" / "07").mkdir(parents=True)
    extra = {f"2008/07/{1215000000 + i}.1_{i}.txt": random.randbytes(3000) for i in range(3)}
    for member, data in extra.items():
        (later / member).write_bytes(data)
    subprocess.run(
        [SEVEN_ZIP, "a", "-bd", "-y", "-m0=Deflate64", str(archive), "2008"],
        cwd=later, capture_output=True, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert {"LZMA2", "Deflate64"} <= coders(listing(archive))
    names = [m.name for m in iter_member_heads(archive, 0)]
    assert len(names) == len(set(names))
    got = {m.name: m.head for m in iter_member_heads(archive, 1 << 30) if not m.is_dir}
    assert got == {**members, **extra}


@needs_7zip
@pytest.mark.parametrize("hidden_header", [False, True], ids=["content", "content-and-header"])
def test_encrypted_archives_are_refused(tmp_path: Path, hidden_header: bool) -> None:
    switches = ["-pSECRET", *(["-mhe=on"] if hidden_header else [])]
    archive = build(tmp_path, "secret", switches, originals())
    assert "7zAES" in coders(listing(archive, "-pSECRET"))
    with pytest.raises(SevenZipRefused, match=r"secret\.7z: encrypted 7z archive refused"):
        decoded(archive)


@needs_7zip
def test_libarchive_reports_a_bad_crc_naming_the_member(tmp_path: Path, no_7zip: None) -> None:
    """Stored (Copy) data decodes whatever its bytes: only the CRC can catch a flipped one."""
    members = originals()
    archive = build(tmp_path, "stored", ["-m0=Copy"], members)
    data = bytearray(archive.read_bytes())
    target = members["2008/05/1210000001.1_2.bin"]
    at = data.find(target[1000:1064])
    assert at > 0
    data[at] ^= 0x01
    bad = tmp_path / "flipped.7z"
    bad.write_bytes(bytes(data))
    with pytest.raises(SevenZipError) as caught:
        decoded(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: member '2008/05/1210000001.1_2.bin': CRC mismatch")
    assert "7-Zip bad CRC" in message  # libarchive's own report


@needs_7zip
def test_7zip_backend_reports_a_bad_crc(tmp_path: Path) -> None:
    """ARM64 over stored data: a flipped byte of mail text decodes, only the CRC catches it."""
    archive = build(tmp_path, "a64", ["-mf=ARM64", "-m0=Copy"], originals())
    data = bytearray(archive.read_bytes())
    at = data.find(b"by mx13.futurequest.net\r\nReceived: from pc200.")
    assert at > 0
    data[at + 5] ^= 0x01
    bad = tmp_path / "a64-flipped.7z"
    bad.write_bytes(bytes(data))
    with pytest.raises(SevenZipError) as caught:
        decoded(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: CRC mismatch, corrupt 7z data (7-Zip: ")
    assert "CRC Failed : 2008/05/1210000000.1_1.lorien" in message


@needs_7zip
def test_7zip_backend_reports_corrupt_data(tmp_path: Path) -> None:
    members = originals()
    archive = build(tmp_path, "d64", ["-m0=Deflate64"], members)
    data = bytearray(archive.read_bytes())
    for at in range(100, 4000, 97):
        data[at] ^= 0x55
    bad = tmp_path / "d64-corrupt.7z"
    bad.write_bytes(bytes(data))
    with pytest.raises(SevenZipError, match=r"d64-corrupt\.7z: (CRC mismatch|corrupt 7z archive)"):
        decoded(bad)


@needs_7zip
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_archive_names_the_file(tmp_path: Path, keep: float) -> None:
    data = build(tmp_path, "whole", ["-m0=LZMA2"], originals()).read_bytes()
    cut = tmp_path / "cut.7z"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SevenZipError, match=r"cut\.7z: truncated 7z archive: its header ends"):
        decoded(cut)
    with pytest.raises(CorruptContent, match=r"^http://example\.org/cut\.7z: truncated"):
        containers.check_content(cut, "7z", "http://example.org/cut.7z")


@needs_7zip
def test_corrupt_packed_data_names_the_file(tmp_path: Path, no_7zip: None) -> None:
    data = bytearray(build(tmp_path, "whole", ["-m0=LZMA2"], originals()).read_bytes())
    for at in range(64, 3000, 50):
        data[at] ^= 0xFF
    bad = tmp_path / "bad.7z"
    bad.write_bytes(bytes(data))
    with pytest.raises(SevenZipError, match=r"bad\.7z: .*corrupt"):
        decoded(bad)


def test_missing_libarchive_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "_LIBARCHIVE", [])
    monkeypatch.setitem(sys.modules, "libarchive", None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "libarchive.ffi", raising=False)
    with pytest.raises(LibarchiveMissing, match=r"install it with: apt-get install libarchive13$"):
        load_libarchive()
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(LibarchiveMissing, match=r"install it with: brew install libarchive$"):
        load_libarchive()


def test_install_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert install_command("libarchive") == "apt-get install libarchive13"
    assert install_command("7-Zip") == "apt-get install 7zip"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert install_command("libarchive") == "brew install libarchive"
    assert install_command("7-Zip") == "brew install sevenzip"


def test_header_libarchive_refuses_without_7zip(tmp_path: Path, no_7zip: None) -> None:
    """py7zr encodes even an empty archive's header, which libarchive 3.6 calls malformed:
    without the 7-Zip program that is an error naming the file and the install command."""
    py7zr = pytest.importorskip("py7zr")
    with py7zr.SevenZipFile(tmp_path / "py7zr-empty.7z", "w"):
        pass
    with pytest.raises(SevenZipError) as caught:
        decoded(tmp_path / "py7zr-empty.7z")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'py7zr-empty.7z'}: corrupt 7z archive or a header")
    assert message.endswith(f"install it with: {install_command('7-Zip')}")
