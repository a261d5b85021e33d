"""File types Gmail refuses to send, refused at intake instead of failing later at Google.

The extensions are Gmail's list ("File types blocked in Gmail", support.google.com/mail/answer/
6590): Gmail refuses them as they are, compressed (`.gz`, `.bz2`) and inside archives. We check
the file name's extension (also under a compression suffix, and with the trailing dots and spaces
Windows ignores), the declared content type, the content itself when it is a Windows executable
(whatever its name), and the names inside a zip archive.

The rule holds on every route, not only Gmail's: the route is decided after intake and can change
(`auto`, sending from the default address while Gmail is broken, a retry after re-authorization),
so an email is accepted or refused once, the same whichever way it goes; and the mailboxes it goes
to (Gmail's, Outlook's) refuse these attachments when they arrive anyway.
"""

from __future__ import annotations

import io
import zipfile

BLOCKED_EXTENSIONS = frozenset(
    {
        "ade",
        "adp",
        "apk",
        "appx",
        "appxbundle",
        "bat",
        "cab",
        "chm",
        "cmd",
        "com",
        "cpl",
        "diagcab",
        "diagcfg",
        "diagpkg",
        "dll",
        "dmg",
        "ex",
        "ex_",
        "exe",
        "hta",
        "img",
        "ins",
        "iso",
        "isp",
        "jar",
        "jnlp",
        "js",
        "jse",
        "lib",
        "lnk",
        "mde",
        "mjs",
        "msc",
        "msi",
        "msix",
        "msixbundle",
        "msp",
        "mst",
        "nsh",
        "pif",
        "ps1",
        "scr",
        "sct",
        "shb",
        "sys",
        "vb",
        "vbe",
        "vbs",
        "vhd",
        "vxd",
        "wsc",
        "wsf",
        "wsh",
        "xll",
    }
)
# The content types these files are sent as (generic ones such as application/octet-stream are
# judged by the file name and the content instead).
BLOCKED_CONTENT_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-ms-dos-executable",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-ms-shortcut",
        "application/x-bat",
        "application/hta",
        "application/vnd.ms-htmlhelp",
        "application/java-archive",
        "application/x-java-archive",
        "application/x-jar",
        "application/x-java-jnlp-file",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/javascript",
        "text/ecmascript",
        "text/jscript",
        "text/vbscript",
        "application/x-vbscript",
        "application/vnd.android.package-archive",
        "application/vnd.ms-cab-compressed",
        "application/x-apple-diskimage",
        "application/x-iso9660-image",
        "application/x-internet-signup",
        "application/appx",
        "application/appxbundle",
        "application/msix",
        "application/msixbundle",
        "application/vnd.ms-appx",
    }
)
COMPRESSION_SUFFIXES = frozenset({"gz", "bz2", "z", "xz"})
MAX_ZIP_NAMES = 10_000


def blocked_extension(filename: str) -> str | None:
    """The blocked extension of a file name (`setup.exe`, `setup.exe.gz`, `setup.EXE.`)."""
    parts = filename.rstrip(". ").lower().split(".")[1:]
    if parts and parts[-1] in COMPRESSION_SUFFIXES:
        parts = parts[:-1]
    return parts[-1] if parts and parts[-1] in BLOCKED_EXTENSIONS else None


def blocked_content_type(content_type: str) -> bool:
    return content_type.lower() in BLOCKED_CONTENT_TYPES


def blocked_content(content: bytes) -> str | None:
    """Why the content itself is refused: a Windows executable, or a zip holding a blocked file."""
    if _is_windows_executable(content):
        return "is a Windows executable"
    if content[:4] == b"PK\x03\x04":
        name = _blocked_name_in_zip(content)
        if name is not None:
            return f"is a zip archive holding {name!r}"
    return None


def _is_windows_executable(content: bytes) -> bool:
    if content[:2] != b"MZ" or len(content) < 0x40:
        return False
    offset = int.from_bytes(content[0x3C:0x40], "little")
    return content[offset : offset + 4] == b"PE\x00\x00"


def _blocked_name_in_zip(content: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()[:MAX_ZIP_NAMES]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return None  # not a readable zip: judged by its name and type only
    for name in names:
        if blocked_extension(name.rpartition("/")[2]):
            return name
    return None
