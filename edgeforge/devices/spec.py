"""Parse device strings: `local`, `ssh://user@host[:port]` and `adb://SERIAL`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from edgeforge.errors import InputError

DEVICE_FORMS = "'local', 'ssh://user@host[:port]' or 'adb://SERIAL'"


@dataclass(frozen=True)
class LocalDevice:
    """This machine."""

    def __str__(self) -> str:
        return "local"


@dataclass(frozen=True)
class SshDevice:
    """A machine reached with OpenSSH; port 22 unless given."""

    user: str
    host: str
    port: int = 22

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"


@dataclass(frozen=True)
class AdbDevice:
    """An Android device reached with adb, named by its serial (`adb devices` lists serials)."""

    serial: str

    def __str__(self) -> str:
        return f"adb://{self.serial}"


Device = LocalDevice | SshDevice | AdbDevice


def parse_device(text: str) -> Device:
    """Parse a device string; raise InputError naming the expected forms when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"device string is empty; expected {DEVICE_FORMS}")
    text = text.strip()
    if text == "local":
        return LocalDevice()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InputError(f"invalid device {text!r}: expected {DEVICE_FORMS}")
    if scheme == "adb":
        if not rest or "/" in rest or any(ch.isspace() for ch in rest):
            raise InputError(
                f"invalid device {text!r}: adb needs a serial without spaces or '/', "
                "such as adb://emulator-5554; run 'adb devices' to list serials"
            )
        return AdbDevice(rest)
    if scheme == "ssh":
        return _parse_ssh(text)
    raise InputError(f"invalid device {text!r}: unknown scheme {scheme!r}; expected {DEVICE_FORMS}")


def _parse_ssh(text: str) -> SshDevice:
    parts = urlsplit(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"invalid device {text!r}: expected ssh://user@host[:port] with nothing after the port")
    if not parts.username:
        raise InputError(f"invalid device {text!r}: the user is missing; expected ssh://user@host[:port]")
    if parts.password is not None:
        raise InputError(
            f"invalid device {text!r}: passwords are not accepted in the device string; "
            "use a key file (identity file) instead"
        )
    if not parts.hostname:
        raise InputError(f"invalid device {text!r}: the host is missing; expected ssh://user@host[:port]")
    try:
        port = parts.port
    except ValueError as err:
        raise InputError(f"invalid device {text!r}: the port must be an integer from 1 to 65535") from err
    if port == 0:
        raise InputError(f"invalid device {text!r}: the port must be an integer from 1 to 65535")
    for value, what in ((parts.username, "user"), (parts.hostname, "host")):
        if value.startswith("-") or any(ch.isspace() or ch in "'\"`;$&|<>\\" for ch in value):
            raise InputError(f"invalid device {text!r}: the {what} {value!r} contains characters ssh does not accept")
    return SshDevice(parts.username, parts.hostname, port or 22)
